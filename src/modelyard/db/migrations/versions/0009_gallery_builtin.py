"""gallery: registered models may be built-in (the prediction platform's business models)

Revision ID: gallery1
Revises: 0002

A built-in model is owned by the system account `modelyard:gallery` and visible to every user
(registry/service.py says how names resolve around it).
"""
import sqlalchemy as sa
from alembic import op

revision = "gallery1"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("registered_model", sa.Column("builtin", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("registered_model") as batch_op:
        batch_op.drop_column("builtin")
