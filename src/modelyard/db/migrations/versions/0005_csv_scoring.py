"""csv scoring uploads

Revision ID: 0005
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa
import modelyard.db.base

revision = "0005"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scoring_upload",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("dataset_id", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("validation", sa.JSON(), nullable=True),
        sa.Column("validated_version_id", sa.String(length=40), nullable=True),
        sa.Column("labeled_rows", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("created_at", modelyard.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["dataset_id"], ["dataset.id"], name=op.f("fk_scoring_upload_dataset_id_dataset"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["owner_id"], ["user.id"], name=op.f("fk_scoring_upload_owner_id_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scoring_upload")),
    )
    with op.batch_alter_table("scoring_upload", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_scoring_upload_owner_id"), ["owner_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("scoring_upload", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_scoring_upload_owner_id"))
    op.drop_table("scoring_upload")
