"""ops: alerts opened and resolved by the alert rules (ops/alerts.py)

Revision ID: alerts1
Revises: predlog1
"""
import sqlalchemy as sa
from alembic import op

revision = "alerts1"
down_revision = "predlog1"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("rule", sa.String(40), nullable=False),
        sa.Column("model_name", sa.String(200), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("severity", sa.String(20), nullable=False),
        sa.Column("message", sa.String(500), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("open_key", sa.String(260), nullable=True),
        sa.Column("triggered_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=False),
        sa.Column("resolved_at", sa.DateTime(), nullable=True),
        sa.UniqueConstraint("open_key"),
    )
    op.create_index("ix_alert_model_name", "alert", ["model_name"])
    op.create_index("ix_alert_owner_id", "alert", ["owner_id"])
    op.create_index("ix_alert_status", "alert", ["status"])
    op.create_index("ix_alert_triggered_at", "alert", ["triggered_at"])


def downgrade() -> None:
    op.drop_table("alert")
