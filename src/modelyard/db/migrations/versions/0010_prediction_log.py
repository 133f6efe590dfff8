"""ops: the prediction log (one compact row per prediction call; ops/predlog.py)

Revision ID: predlog1
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = "predlog1"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "prediction_log",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("model_name", sa.String(200), nullable=False),
        sa.Column("version_id", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("error_code", sa.String(40), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("summary", sa.String(120), nullable=True),
        sa.Column("cached", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_prediction_log_at", "prediction_log", ["at"])
    op.create_index("ix_prediction_log_user_id", "prediction_log", ["user_id"])
    op.create_index("ix_prediction_log_model_name", "prediction_log", ["model_name"])


def downgrade() -> None:
    op.drop_table("prediction_log")
