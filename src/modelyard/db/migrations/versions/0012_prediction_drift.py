"""ops: input counts per model version and feature, for drift against the training data (ops/drift.py)

Revision ID: drift1
Revises: alerts1
"""
import sqlalchemy as sa
from alembic import op

revision = "drift1"
down_revision = "alerts1"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "prediction_drift",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("version_id", sa.String(64), nullable=False),
        sa.Column("feature", sa.String(200), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
    )
    op.create_index("ix_prediction_drift_at", "prediction_drift", ["at"])
    op.create_index("ix_prediction_drift_version_id", "prediction_drift", ["version_id"])


def downgrade() -> None:
    op.drop_table("prediction_drift")
