"""labeling: requests, images, QC results, tasks, labels

Revision ID: 0004
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa
import modelyard.db.base

revision = "0004"
down_revision = "0002"
branch_labels = None
depends_on = None

UTC = modelyard.db.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "labeling_request",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("classes", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("qc_job_id", sa.String(length=40), nullable=True),
        sa.Column("updated_at", UTC, nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(["owner_id"], ["user.id"], name=op.f("fk_labeling_request_owner_id_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_labeling_request")),
    )
    with op.batch_alter_table("labeling_request", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_labeling_request_owner_id"), ["owner_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_labeling_request_status"), ["status"], unique=False)

    op.create_table(
        "labeling_image",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("request_id", sa.String(length=40), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("blob_key", sa.String(length=300), nullable=False),
        sa.Column("thumb_key", sa.String(length=300), nullable=True),
        sa.Column("upload_key", sa.String(length=300), nullable=True),
        sa.Column("content_type", sa.String(length=40), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("etag", sa.String(length=100), nullable=True),
        sa.Column("phash", sa.String(length=48), nullable=False),
        sa.Column("dhash", sa.String(length=48), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(["owner_id"], ["user.id"], name=op.f("fk_labeling_image_owner_id_user")),
        sa.ForeignKeyConstraint(["request_id"], ["labeling_request.id"],
                                name=op.f("fk_labeling_image_request_id_labeling_request"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_labeling_image")),
        sa.UniqueConstraint("request_id", "sha256", name=op.f("uq_labeling_image_request_id_sha256")),
    )
    with op.batch_alter_table("labeling_image", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_labeling_image_owner_id"), ["owner_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_labeling_image_request_id"), ["request_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_labeling_image_sha256"), ["sha256"], unique=False)
        batch_op.create_index(batch_op.f("ix_labeling_image_upload_key"), ["upload_key"], unique=False)

    op.create_table(
        "labeling_task",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("request_id", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("assigned_by", sa.Integer(), nullable=True),
        sa.Column("updated_at", UTC, nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(["assigned_by"], ["user.id"], name=op.f("fk_labeling_task_assigned_by_user"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["owner_id"], ["user.id"], name=op.f("fk_labeling_task_owner_id_user")),
        sa.ForeignKeyConstraint(["request_id"], ["labeling_request.id"],
                                name=op.f("fk_labeling_task_request_id_labeling_request"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_labeling_task")),
        sa.UniqueConstraint("request_id", "owner_id", name=op.f("uq_labeling_task_request_id_owner_id")),
    )
    with op.batch_alter_table("labeling_task", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_labeling_task_owner_id"), ["owner_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_labeling_task_request_id"), ["request_id"], unique=False)

    op.create_table(
        "labeling_qc_result",
        sa.Column("image_id", sa.String(length=40), nullable=False),
        sa.Column("request_id", sa.String(length=40), nullable=False),
        sa.Column("job_id", sa.String(length=40), nullable=True),
        sa.Column("duplicate_score", sa.Float(), nullable=False),
        sa.Column("ai_generated_score", sa.Float(), nullable=False),
        sa.Column("source_image_id", sa.String(length=40), nullable=True),
        sa.Column("flags", sa.JSON(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(["image_id"], ["labeling_image.id"],
                                name=op.f("fk_labeling_qc_result_image_id_labeling_image"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["request_id"], ["labeling_request.id"],
                                name=op.f("fk_labeling_qc_result_request_id_labeling_request"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["source_image_id"], ["labeling_image.id"],
                                name=op.f("fk_labeling_qc_result_source_image_id_labeling_image"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("image_id", name=op.f("pk_labeling_qc_result")),
    )
    with op.batch_alter_table("labeling_qc_result", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_labeling_qc_result_request_id"), ["request_id"], unique=False)

    op.create_table(
        "labeling_label",
        sa.Column("task_id", sa.String(length=40), nullable=False),
        sa.Column("image_id", sa.String(length=40), nullable=False),
        sa.Column("labeler_id", sa.Integer(), nullable=True),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(["image_id"], ["labeling_image.id"],
                                name=op.f("fk_labeling_label_image_id_labeling_image"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["labeler_id"], ["user.id"], name=op.f("fk_labeling_label_labeler_id_user"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["task_id"], ["labeling_task.id"],
                                name=op.f("fk_labeling_label_task_id_labeling_task"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("task_id", "image_id", name=op.f("pk_labeling_label")),
    )
    with op.batch_alter_table("labeling_label", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_labeling_label_image_id"), ["image_id"], unique=False)


def downgrade() -> None:
    for table, indexes in (
        ("labeling_label", ["ix_labeling_label_image_id"]),
        ("labeling_qc_result", ["ix_labeling_qc_result_request_id"]),
        ("labeling_task", ["ix_labeling_task_request_id", "ix_labeling_task_owner_id"]),
        ("labeling_image", ["ix_labeling_image_upload_key", "ix_labeling_image_sha256",
                            "ix_labeling_image_request_id", "ix_labeling_image_owner_id"]),
        ("labeling_request", ["ix_labeling_request_status", "ix_labeling_request_owner_id"]),
    ):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for name in indexes:
                batch_op.drop_index(batch_op.f(name))
        op.drop_table(table)
