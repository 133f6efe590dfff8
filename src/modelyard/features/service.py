"""Feature tables: create from an upload, replace (a new version), describe, delete, look up by key,
link model versions. Rows live in the database (see features.models for the key encoding)."""
from __future__ import annotations

import re
from typing import Any, BinaryIO, Mapping

from sqlalchemy import delete, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from modelyard.auth.models import User
from modelyard.db.base import new_id, utcnow
from modelyard.errors import AppError, BadRequest, Conflict, NotFound, Unprocessable
from modelyard.features import readers
from modelyard.features.models import FeatureRow, FeatureTable, FeatureTableVersion
from modelyard.registry.models import ModelVersion
from modelyard.storage.base import BlobStore

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
MAX_KEY_COLUMNS = 8


class FeatureTableNotFound(NotFound):
    code = "FEATURE_TABLE_NOT_FOUND"

    def __init__(self, ref: Any):
        super().__init__("feature table", ref)


class EntityNotFound(AppError):
    status, code, title = 404, "ENTITY_NOT_FOUND", "Entity not found"


def check_table_name(name: str) -> str:
    name = (name or "").strip()
    if not NAME.match(name) or ".." in name:
        raise BadRequest(f"invalid feature table name {name!r}: letters, digits and _ . - only, at most 100 "
                         "characters, no slashes")
    return name


def parse_key_columns(raw: str | list[str] | None) -> list[str]:
    values = raw if isinstance(raw, list) else (raw or "").split(",")
    keys = [k.strip() for item in values for k in item.split(",") if k.strip()]
    if not keys or len(keys) > MAX_KEY_COLUMNS or len(set(keys)) != len(keys):
        raise BadRequest(f"key_columns: name 1 to {MAX_KEY_COLUMNS} distinct entity key columns, comma separated "
                         "(e.g. key_columns=customer_id,purchase_date_id)")
    return keys


def _safe_filename(name: str | None, fmt: str) -> str:
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", (name or "").replace("\\", "/").rsplit("/", 1)[-1]).lstrip("._-")
    return base[:100] or f"features.{fmt}"


def check_covers(session: Session, table: FeatureTable, signature: list[dict[str, Any]]) -> None:
    """A model linked to a table must find each of its inputs among the table's columns."""
    version = session.get(FeatureTableVersion, table.current_version_id) if table.current_version_id else None
    columns = {c["name"] for c in (version.columns if version else [])}
    missing = [f["name"] for f in signature if f["name"] not in columns]
    if missing:
        raise Unprocessable(f"feature table {table.name!r} has no column(s) {', '.join(missing[:20])} that the "
                            "model needs", details={"missing_columns": missing})


class FeatureService:
    def __init__(self, session: Session, blobs: BlobStore, *, max_bytes: int):
        self._session = session
        self._blobs = blobs
        self._max_bytes = max_bytes

    # Reading -----------------------------------------------------------------------------------------

    def get(self, ref: str, *, viewer: User) -> FeatureTable:
        """By id, or by name: the viewer's own first, else the one other visible table of that name."""
        table = self._session.get(FeatureTable, ref)
        if table is not None and viewer.can_see(table):
            return table
        tables = [t for t in self._session.scalars(select(FeatureTable).where(FeatureTable.name == ref)
                                                    .order_by(FeatureTable.created_at)) if viewer.can_see(t)]
        own = [t for t in tables if t.owner_id == viewer.id]
        if own or len(tables) == 1:
            return (own or tables)[0]
        if tables:
            raise Conflict(f"several users have a feature table named {ref!r}; use its id",
                           details={"ids": [t.id for t in tables]})
        raise FeatureTableNotFound(ref)

    def list(self, *, viewer: User) -> list[FeatureTable]:
        query = select(FeatureTable).order_by(FeatureTable.name, FeatureTable.created_at)
        if not viewer.is_admin:
            query = query.where(FeatureTable.owner_id == viewer.id)
        return list(self._session.scalars(query))

    def current(self, table: FeatureTable) -> FeatureTableVersion | None:
        return self._session.get(FeatureTableVersion, table.current_version_id) if table.current_version_id else None

    def linked_versions(self, table: FeatureTable) -> list[ModelVersion]:
        return list(self._session.scalars(select(ModelVersion).where(ModelVersion.feature_table == table.id)
                                          .order_by(ModelVersion.created_at)))

    def lookup(self, table: FeatureTable, keys: Mapping[str, str]) -> dict[str, Any]:
        """The row for these entity key values; wrong or missing key names are a 422, no row a 404."""
        unknown = sorted(set(keys) - set(table.key_columns))
        missing = [k for k in table.key_columns if k not in keys]
        if unknown or missing:
            parts = ([f"unknown key parameter(s) {', '.join(unknown)}"] if unknown else []) + \
                    ([f"missing key parameter(s) {', '.join(missing)}"] if missing else [])
            raise Unprocessable(f"{'; '.join(parts)}; feature table {table.name!r} is keyed by "
                                f"{', '.join(table.key_columns)}",
                                details={"unknown": unknown, "missing": missing, "key_columns": table.key_columns})
        texts = [readers.key_text(keys[k]) or "" for k in table.key_columns]
        row = self._session.get(FeatureRow, (table.current_version_id or "", readers.encode_key(texts)))
        if row is None:
            named = ", ".join(f"{k}={v}" for k, v in zip(table.key_columns, texts))
            raise EntityNotFound(f"no row in feature table {table.name!r} for {named}",
                                 details={k: v for k, v in zip(table.key_columns, texts)})
        return dict(row.values)

    # Changing ----------------------------------------------------------------------------------------

    def create(self, owner: User, *, name: str, key_columns: list[str], filename: str | None, stream: BinaryIO,
               description: str | None = None) -> FeatureTable:
        name = check_table_name(name)
        if self._session.scalar(select(FeatureTable.id).where(FeatureTable.owner_id == owner.id,
                                                              FeatureTable.name == name)):
            raise Conflict(f"you already have a feature table named {name!r}; replace its data with "
                           f"PUT /api/feature-tables/{name}")
        table = FeatureTable(id=new_id("ft"), name=name, owner_id=owner.id, description=description,
                             key_columns=list(key_columns), created_at=utcnow(), updated_at=utcnow())
        self._session.add(table)
        return self._load(table, filename, stream)

    def replace(self, table: FeatureTable, *, filename: str | None, stream: BinaryIO,
                key_columns: list[str] | None = None, description: str | None = None) -> FeatureTable:
        """A new version becomes current once wholly loaded; older versions keep their file, not their rows."""
        if key_columns:
            table.key_columns = list(key_columns)
        if description is not None:
            table.description = description
        return self._load(table, filename, stream)

    def delete(self, table: FeatureTable) -> None:
        """Rows, versions and files go; model versions linked to it answer 409 at /inference."""
        keys = [v.blob_key for v in table.versions]
        version_ids = [v.id for v in table.versions]
        if version_ids:
            self._session.execute(delete(FeatureRow).where(FeatureRow.table_version_id.in_(version_ids)))
        self._session.delete(table)
        self._session.commit()
        for key in keys:
            self._blobs.delete(key)

    def link(self, version: ModelVersion, table: FeatureTable | None) -> ModelVersion:
        if table is not None:
            check_covers(self._session, table, version.signature or [])
        version.feature_table = table.id if table is not None else None
        self._session.commit()
        return version

    def _load(self, table: FeatureTable, filename: str | None, stream: BinaryIO) -> FeatureTable:
        """Store the file, load its rows under a new version, then switch to it; all or nothing."""
        number = (self._session.scalar(select(func.max(FeatureTableVersion.number))
                                       .where(FeatureTableVersion.table_id == table.id)) or 0) + 1
        version = FeatureTableVersion(id=new_id("ftv"), table_id=table.id, owner_id=table.owner_id, number=number,
                                      filename="", file_format="csv", blob_key="", created_at=utcnow())
        first = self._peek(stream)
        version.file_format = readers.file_format(first[0])
        version.filename = _safe_filename(filename, version.file_format)
        version.blob_key = f"features/{table.owner_id}/{table.id}/{version.id}/{version.filename}"
        info = self._blobs.put(version.blob_key, first[1], max_bytes=self._max_bytes)
        try:
            version.size = info.size
            self._session.add(version)
            self._session.flush()
            version.rows, version.columns = self._insert_rows(table, version)
            previous = [v.id for v in table.versions if v.id != version.id]
            if previous:
                self._session.execute(delete(FeatureRow).where(FeatureRow.table_version_id.in_(previous)))
            table.current_version_id, table.updated_at = version.id, utcnow()
            self._session.commit()
        except IntegrityError:
            self._session.rollback()
            self._blobs.delete(version.blob_key)
            raise Conflict(f"feature table {table.name!r} was changed by another request; try again") from None
        except BaseException:
            self._session.rollback()
            self._blobs.delete(version.blob_key)
            raise
        return table

    @staticmethod
    def _peek(stream: BinaryIO) -> tuple[bytes, Any]:
        head = stream.read(8)

        def chunks():
            yield head
            while chunk := stream.read(1 << 20):
                yield chunk

        return head, chunks()

    def _insert_rows(self, table: FeatureTable, version: FeatureTableVersion) -> tuple[int, list[dict[str, str]]]:
        keys, seen, count, columns = table.key_columns, set(), 0, []
        for frame in readers.frames(self._blobs.open(version.blob_key), version.file_format, keys):
            if not columns:
                missing = [k for k in keys if k not in frame.columns]
                if missing:
                    raise Unprocessable(f"the file has no key column(s) {', '.join(missing)}; its columns are "
                                        f"{', '.join(map(str, list(frame.columns)[:20]))}")
                columns = [{"name": str(c), "type": "string" if c in keys else readers.column_type(frame[c])}
                           for c in frame.columns]
            batch = []
            for key, values in readers.keyed_rows(frame, keys, count):
                if key in seen:
                    raise Unprocessable(f"duplicate entity key {key} in the file (row {count + len(batch) + 1} of the data)")
                seen.add(key)
                batch.append({"table_version_id": version.id, "key": key, "values": values})
            if batch:
                self._session.execute(insert(FeatureRow), batch)
            count += len(batch)
        if not count:
            raise Unprocessable("the file has no data rows")
        return count, columns
