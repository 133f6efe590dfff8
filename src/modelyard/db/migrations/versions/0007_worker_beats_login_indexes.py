"""worker heartbeats; login history indexes for throttling

Revision ID: ops1
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa
import modelyard.db.base

revision = "ops1"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "worker_beat",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("hostname", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("queue_name", sa.String(length=100), nullable=False),
        sa.Column("threads", sa.Integer(), nullable=False),
        sa.Column("started_at", modelyard.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_beat_at", modelyard.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_worker_beat")),
    )
    with op.batch_alter_table("worker_beat", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_worker_beat_last_beat_at"), ["last_beat_at"], unique=False)
    with op.batch_alter_table("login_event", schema=None) as batch_op:
        batch_op.create_index("ix_login_event_username_at", ["username", "at"], unique=False)
        batch_op.create_index("ix_login_event_address_at", ["address", "at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("login_event", schema=None) as batch_op:
        batch_op.drop_index("ix_login_event_address_at")
        batch_op.drop_index("ix_login_event_username_at")
    with op.batch_alter_table("worker_beat", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_worker_beat_last_beat_at"))
    op.drop_table("worker_beat")
