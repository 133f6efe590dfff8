"""labeling: a request may hold copies of one image (copies in one upload batch are stored for QC)

Revision ID: 0006_labeling_copies
Revises: 0004

Drops the unique constraint on labeling_image (request_id, sha256). PostgreSQL drops it in place.
SQLite cannot drop a constraint, so the table is rebuilt (Alembic batch mode); dropping the old
table would cascade to the QC results and labels that point at its images (foreign keys are on,
and cannot be switched off inside the migration's transaction), so those rows are kept aside in
temporary tables and put back after the rebuild.
"""
from alembic import op

revision = "0006_labeling_copies"
down_revision = "0004"
branch_labels = None
depends_on = None

CONSTRAINT = "uq_labeling_image_request_id_sha256"
CHILDREN = ("labeling_qc_result", "labeling_label")  # every table with a foreign key to labeling_image


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint(CONSTRAINT, "labeling_image", type_="unique")
        return
    _rebuild_sqlite(lambda batch_op: batch_op.drop_constraint(CONSTRAINT, type_="unique"))


def downgrade() -> None:
    def restore(batch_op):
        batch_op.create_unique_constraint(CONSTRAINT, ["request_id", "sha256"])

    if op.get_bind().dialect.name != "sqlite":
        op.create_unique_constraint(CONSTRAINT, "labeling_image", ["request_id", "sha256"])
        return
    _rebuild_sqlite(restore)


def _rebuild_sqlite(change) -> None:
    for table in CHILDREN:
        op.execute(f"CREATE TEMPORARY TABLE _keep_{table} AS SELECT * FROM {table}")
    with op.batch_alter_table("labeling_image", recreate="always") as batch_op:
        change(batch_op)
    for table in CHILDREN:
        op.execute(f"INSERT OR REPLACE INTO {table} SELECT * FROM _keep_{table}")
        op.execute(f"DROP TABLE _keep_{table}")
