"""webhooks: the webhook table and its delivery log

Revision ID: webhooks1
Revises: 0009_plans_credits
"""
import sqlalchemy as sa
from alembic import op

import modelyard.db.base

revision = "webhooks1"
down_revision = "0009_plans_credits"
branch_labels = None
depends_on = None


def upgrade() -> None:
    when = modelyard.db.base.UTCDateTime(timezone=True)
    op.create_table(
        "webhook",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("description", sa.String(length=200), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("secret_sealed", sa.Text(), nullable=False),
        sa.Column("secret_hint", sa.String(length=8), nullable=False),
        sa.Column("updated_at", when, nullable=True),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("created_at", when, nullable=False),
        sa.ForeignKeyConstraint(["owner_id"], ["user.id"], name=op.f("fk_webhook_owner_id_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook")),
    )
    op.create_index(op.f("ix_webhook_owner_id"), "webhook", ["owner_id"], unique=False)
    op.create_table(
        "webhook_delivery",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("webhook_id", sa.String(length=40), nullable=False),
        sa.Column("event", sa.String(length=50), nullable=False),
        sa.Column("event_id", sa.String(length=40), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("response_excerpt", sa.String(length=500), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.Column("job_id", sa.String(length=40), nullable=True),
        sa.Column("history", sa.JSON(), nullable=False),
        sa.Column("last_attempt_at", when, nullable=True),
        sa.Column("next_attempt_at", when, nullable=True),
        sa.Column("finished_at", when, nullable=True),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("created_at", when, nullable=False),
        sa.ForeignKeyConstraint(["webhook_id"], ["webhook.id"], name=op.f("fk_webhook_delivery_webhook_id_webhook"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["owner_id"], ["user.id"], name=op.f("fk_webhook_delivery_owner_id_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_delivery")),
    )
    op.create_index(op.f("ix_webhook_delivery_owner_id"), "webhook_delivery", ["owner_id"], unique=False)
    op.create_index("ix_webhook_delivery_webhook_created", "webhook_delivery", ["webhook_id", "created_at"],
                    unique=False)


def downgrade() -> None:
    op.drop_index("ix_webhook_delivery_webhook_created", table_name="webhook_delivery")
    op.drop_index(op.f("ix_webhook_delivery_owner_id"), table_name="webhook_delivery")
    op.drop_table("webhook_delivery")
    op.drop_index(op.f("ix_webhook_owner_id"), table_name="webhook")
    op.drop_table("webhook")
