"""DataService on a real Runtime (SQLite and PostgreSQL, blobs in a tmp folder)."""
from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest

from modelyard.auth.service import AuthService
from modelyard.data.csvio import SAMPLE_BYTES
from modelyard.data.models import Dataset
from modelyard.data.schemas import DatasetOut, UploadOut
from modelyard.data.service import DataService, clean_filename
from modelyard.errors import InvalidFormat, NotFound, PayloadTooLarge
from modelyard.runtime import Runtime

CSV = b"age,income,region,will_buy\n31,50000,west,1\n45,72000,east,0\n29,38000,west,1\n"
LIMIT = 256 * 1024


@pytest.fixture
def runtime(settings):
    runtime = Runtime(settings)
    runtime.db.migrate()
    yield runtime
    runtime.close()


@pytest.fixture
def session(runtime):
    with runtime.db.session() as session:
        yield session


@pytest.fixture
def users(runtime, session):
    auth = AuthService(session, secret=runtime.settings.resolved_secret_key, token_ttl=3600, limiter=runtime.limiter)
    return {name: auth.create_user(name, f"{name}-password", role=role)
            for name, role in [("alice", "user"), ("bob", "user"), ("root", "admin")]}


@pytest.fixture
def data(runtime, session):
    return DataService(session, runtime.blobs, max_bytes=LIMIT)


def stored_blobs(runtime) -> list[Path]:
    """Every file the local blob store holds (its temp and sidecar folders included)."""
    root = Path(runtime.blobs.root)
    return [p for p in root.rglob("*") if p.is_file() and ".meta" not in p.parts]


def dataset_rows(session) -> int:
    return session.query(Dataset).count()


def test_upload_stores_the_file_and_records_its_profile(runtime, session, users, data):
    dataset = data.upload(users["alice"], "customer_data.csv", io.BytesIO(CSV))
    assert dataset.id.startswith("file_") and dataset.owner_id == users["alice"].id
    assert (dataset.rows, dataset.columns) == (3, 4)
    assert dataset.column_names == ["age", "income", "region", "will_buy"]
    assert dataset.size == len(CSV) and dataset.sha256 == hashlib.sha256(CSV).hexdigest()
    assert (dataset.encoding, dataset.delimiter, dataset.purpose) == ("utf-8", ",", "training")
    assert dataset.blob_key == f"datasets/{users['alice'].id}/{dataset.id}.csv"
    assert runtime.blobs.read_bytes(dataset.blob_key) == CSV
    assert dataset.profile["likely_target"] == "will_buy"
    session.expire_all()
    assert session.get(Dataset, dataset.id).profile["rows"] == 3


def test_upload_body_has_the_contract_fields_and_a_utc_time(session, users, data):
    body = UploadOut.of(data.upload(users["alice"], "customer_data.csv", io.BytesIO(CSV))).model_dump(mode="json")
    contract = ["file_id", "filename", "size", "rows", "columns", "column_names", "upload_time", "validation"]
    assert list(body)[: len(contract)] == contract
    assert body["filename"] == "customer_data.csv" and body["rows"] == 3
    assert body["upload_time"].endswith("Z") and "." not in body["upload_time"]
    assert body["validation"] == {"status": "warning", "warnings": body["profile"]["warnings"]}
    assert any("too few" in w for w in body["validation"]["warnings"])


def test_clean_upload_is_valid(session, users, data):
    rows = b"".join(f"{20 + i},{1000 * (i % 7)},r{i % 3}\n".encode() for i in range(12))
    dataset = data.upload(users["alice"], "ok.csv", io.BytesIO(b"age,income,region\n" + rows))
    assert DatasetOut.of(dataset).validation.model_dump() == {"status": "valid", "warnings": []}


def test_upload_over_the_limit_leaves_no_blob_and_no_row(runtime, session, users, data):
    big = b"a,b\n" + b"1,2\n" * (LIMIT // 4 + 10)
    with pytest.raises(PayloadTooLarge) as refused:
        data.upload(users["alice"], "big.csv", io.BytesIO(big))
    assert refused.value.code == "FILE_TOO_LARGE" and refused.value.status == 413
    assert stored_blobs(runtime) == []
    assert dataset_rows(session) == 0


@pytest.mark.parametrize("content", [b"", b"age,income\n", bytes.fromhex("89504e470d0a1a0a0000000d49484452")])
def test_refused_file_leaves_no_blob_and_no_row(runtime, session, users, data, content):
    with pytest.raises(InvalidFormat):
        data.upload(users["alice"], "bad.csv", io.BytesIO(content))
    assert stored_blobs(runtime) == []
    assert dataset_rows(session) == 0


def test_latin1_bytes_after_the_sample_make_the_file_latin1(session, users, data):
    content = ("name,city\n" + "Ann,Oslo\n" * (SAMPLE_BYTES // 9) + "Zoë,Besançon\n").encode("latin-1")
    dataset = data.upload(users["alice"], "people.csv", io.BytesIO(content))
    assert dataset.encoding == "cp1252"
    assert data.load_frame(dataset)["name"].iloc[-1] == "Zoë"


def test_load_frame_reads_the_dataset_as_it_was_profiled(session, users, data):
    content = "\ufeffnom;ville\nJosé;Zürich\nAnaïs;\"Paris; FR\"\n".encode("utf-8")
    dataset = data.upload(users["alice"], "villes.csv", io.BytesIO(content))
    assert (dataset.encoding, dataset.delimiter) == ("utf-8-sig", ";")
    frame = data.load_frame(dataset)
    assert list(frame.columns) == ["nom", "ville"] and frame["ville"].tolist() == ["Zürich", "Paris; FR"]


def test_other_users_dataset_is_not_found(session, users, data):
    dataset = data.upload(users["alice"], "a.csv", io.BytesIO(CSV))
    with pytest.raises(NotFound):
        data.get(dataset.id, viewer=users["bob"])
    with pytest.raises(NotFound):
        data.delete(dataset.id, viewer=users["bob"])
    assert data.get(dataset.id, viewer=users["alice"]) is dataset
    assert data.get(dataset.id, viewer=users["root"]).id == dataset.id


def test_missing_dataset_is_not_found(users, data):
    with pytest.raises(NotFound, match="dataset file_nope not found"):
        data.get("file_nope", viewer=users["root"])


def test_listing_shows_own_datasets_newest_first_and_all_to_an_admin(session, users, data):
    first = data.upload(users["alice"], "one.csv", io.BytesIO(CSV))
    second = data.upload(users["alice"], "two.csv", io.BytesIO(CSV))
    theirs = data.upload(users["bob"], "bob.csv", io.BytesIO(CSV))
    assert [d.id for d in data.list(users["alice"])] == [second.id, first.id]
    assert data.count(users["alice"]) == 2
    assert {d.id for d in data.list(users["root"])} == {first.id, second.id, theirs.id}
    assert [d.id for d in data.list(users["alice"], limit=1, offset=1)] == [first.id]


def test_delete_removes_the_blob_and_the_row(runtime, session, users, data):
    dataset = data.upload(users["alice"], "a.csv", io.BytesIO(CSV))
    data.delete(dataset.id, viewer=users["alice"])
    assert not runtime.blobs.exists(dataset.blob_key)
    with pytest.raises(NotFound):
        data.get(dataset.id, viewer=users["alice"])


def test_file_name_is_kept_for_display_only(runtime, session, users, data):
    dataset = data.upload(users["alice"], "../../etc/\x00pass\u202ewd.csv", io.BytesIO(CSV))
    assert dataset.filename == "passwd.csv"
    assert "etc" not in dataset.blob_key and dataset.blob_key.endswith(f"{dataset.id}.csv")


@pytest.mark.parametrize(
    "raw, shown",
    [
        ("C:\\Users\\me\\data.csv", "data.csv"),
        ("a/b/c.csv", "c.csv"),
        ("..", "upload.csv"),
        ("", "upload.csv"),
        (None, "upload.csv"),
        ("  tab\tand\nnewline.csv ", "tabandnewline.csv"),
        ("x" * 300 + ".csv", "x" * 251 + ".csv"),
    ],
)
def test_clean_filename(raw, shown):
    assert clean_filename(raw) == shown
