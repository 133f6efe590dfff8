"""The migrations build exactly the schema the models declare, on every database backend."""
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

import modelyard.models  # noqa: F401
from modelyard.db import Base, Database


def test_migrations_match_the_models(database_url):
    db = Database(database_url)
    db.migrate()
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    db.dispose()
    assert diff == []


def test_migrating_twice_is_harmless(database_url):
    db = Database(database_url)
    db.migrate()
    db.migrate()
    assert {"user", "job", "dataset", "model_version", "alembic_version"} <= set(inspect(db.engine).get_table_names())
    db.dispose()


def test_sqlite_runs_in_wal_mode(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'x.db'}")
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    db.dispose()


def test_dropping_the_one_copy_per_request_rule_keeps_images_qc_results_and_labels(database_url):
    """0006 rebuilds labeling_image on SQLite; the rows that point at its images must survive."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import text
    from sqlalchemy.orm import Session

    from modelyard.db.base import utcnow
    from modelyard.db.engine import MIGRATIONS
    from modelyard.labeling.models import ImageLabel, LabelingImage, LabelingRequest, LabelingTask, QcResult

    db = Database(database_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", db.url.replace("%", "%%"))
    with db.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0004")  # labeling as it was: one copy of an image per request
    image = {"request_id": "lreq_1", "owner_id": 1, "blob_key": "k", "content_type": "image/png", "size": 1,
             "width": 1, "height": 1, "sha256": "ab" * 32, "phash": "0" * 48, "dhash": "0" * 48}
    with Session(db.engine) as session:
        session.execute(text('INSERT INTO "user" (id, username, password_hash, role, is_active, created_at) '
                             "VALUES (1, 'u', 'x', 'user', :yes, :now)"),  # the user table of 0004: no later columns
                        {"yes": True, "now": utcnow()})
        session.add(LabelingRequest(id="lreq_1", owner_id=1, title="t", classes=["a"]))
        session.flush()
        session.add_all([LabelingImage(id="img_1", filename="a.png", **image),
                         LabelingImage(id="img_2", filename="b.png", **{**image, "sha256": "cd" * 32}),
                         LabelingTask(id="task_1", request_id="lreq_1", owner_id=1)])
        session.flush()
        session.add_all([QcResult(image_id="img_2", request_id="lreq_1", source_image_id="img_1", flags=["x"],
                                  evidence=[]),
                         ImageLabel(task_id="task_1", image_id="img_1", labels=["a"], created_at=utcnow())])
        session.commit()
    db.migrate()
    with Session(db.engine) as session:
        assert session.get(QcResult, "img_2").source_image_id == "img_1"
        assert session.get(ImageLabel, ("task_1", "img_1")).labels == ["a"]
        session.add(LabelingImage(id="img_3", filename="copy.png", **image))  # the same bytes again
        session.commit()
        session.delete(session.get(LabelingImage, "img_1"))  # foreign keys still point at labeling_image
        session.commit()
        assert session.get(ImageLabel, ("task_1", "img_1")) is None
        assert session.get(QcResult, "img_2").source_image_id is None
    db.dispose()
