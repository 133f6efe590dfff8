"""plans and credits: user.plan, user.credits and the credit ledger

Revision ID: 0009_plans_credits
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa
import modelyard.db.base

revision = "0009_plans_credits"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.add_column(sa.Column("plan", sa.String(length=20), nullable=False, server_default="basic"))
        batch_op.add_column(sa.Column("credits", sa.Integer(), nullable=False, server_default="0"))
    # accounts made before plans existed start with the default basic plan's credits (config.DEFAULT_PLANS)
    op.execute('UPDATE "user" SET credits = 1000')
    op.create_table(
        "credit_event",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("delta", sa.Integer(), nullable=False),
        sa.Column("balance", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column("detail", sa.String(length=200), nullable=True),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("at", modelyard.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], name=op.f("fk_credit_event_user_id_user"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["actor_id"], ["user.id"], name=op.f("fk_credit_event_actor_id_user"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_event")),
    )
    with op.batch_alter_table("credit_event", schema=None) as batch_op:
        batch_op.create_index("ix_credit_event_user_at", ["user_id", "at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("credit_event", schema=None) as batch_op:
        batch_op.drop_index("ix_credit_event_user_at")
    op.drop_table("credit_event")
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.drop_column("credits")
        batch_op.drop_column("plan")
