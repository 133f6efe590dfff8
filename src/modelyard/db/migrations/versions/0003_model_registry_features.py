"""model registry: feature tables, their versions and indexed rows

Revision ID: 0003
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa
import modelyard.db.base

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

UTC = modelyard.db.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "feature_table",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("key_columns", sa.JSON(), nullable=False),
        sa.Column("current_version_id", sa.String(length=40), nullable=True),
        sa.Column("updated_at", UTC, nullable=True),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(["owner_id"], ["user.id"], name=op.f("fk_feature_table_owner_id_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feature_table")),
        sa.UniqueConstraint("owner_id", "name", name=op.f("uq_feature_table_owner_id_name")),
    )
    with op.batch_alter_table("feature_table", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_feature_table_name"), ["name"], unique=False)
        batch_op.create_index(batch_op.f("ix_feature_table_owner_id"), ["owner_id"], unique=False)

    op.create_table(
        "feature_table_version",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("table_id", sa.String(length=40), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("file_format", sa.String(length=10), nullable=False),
        sa.Column("blob_key", sa.String(length=300), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("columns", sa.JSON(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(["table_id"], ["feature_table.id"],
                                name=op.f("fk_feature_table_version_table_id_feature_table"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["owner_id"], ["user.id"], name=op.f("fk_feature_table_version_owner_id_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feature_table_version")),
        sa.UniqueConstraint("table_id", "number", name=op.f("uq_feature_table_version_table_id_number")),
    )
    with op.batch_alter_table("feature_table_version", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_feature_table_version_owner_id"), ["owner_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_feature_table_version_table_id"), ["table_id"], unique=False)

    # One row per entity; the primary key (table_version_id, key) is the index point lookups use.
    op.create_table(
        "feature_row",
        sa.Column("table_version_id", sa.String(length=40), nullable=False),
        sa.Column("key", sa.String(length=512), nullable=False),
        sa.Column("values", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["table_version_id"], ["feature_table_version.id"],
                                name=op.f("fk_feature_row_table_version_id_feature_table_version"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("table_version_id", "key", name=op.f("pk_feature_row")),
    )


def downgrade() -> None:
    op.drop_table("feature_row")
    with op.batch_alter_table("feature_table_version", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_feature_table_version_table_id"))
        batch_op.drop_index(batch_op.f("ix_feature_table_version_owner_id"))
    op.drop_table("feature_table_version")
    with op.batch_alter_table("feature_table", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_feature_table_owner_id"))
        batch_op.drop_index(batch_op.f("ix_feature_table_name"))
    op.drop_table("feature_table")
