"""serving: the predictor report of each model version; last runs of periodic tasks

Revision ID: 0006
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa
import modelyard.db.base

revision = "0006"
down_revision = "0002"
branch_labels = None
depends_on = None

UTC = modelyard.db.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("model_version", schema=None) as batch_op:
        batch_op.add_column(sa.Column("serving", sa.JSON(), nullable=True))
    op.create_table(
        "periodic_run",
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("started_at", UTC, nullable=True),
        sa.Column("finished_at", UTC, nullable=True),
        sa.Column("status", sa.String(length=20), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("worker", sa.String(length=100), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_periodic_run")),
    )


def downgrade() -> None:
    op.drop_table("periodic_run")
    with op.batch_alter_table("model_version", schema=None) as batch_op:
        batch_op.drop_column("serving")
