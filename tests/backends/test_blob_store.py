"""One suite for the BlobStore interface, run on the local folder store and on S3 (moto)."""
from __future__ import annotations

import hashlib
import io
import os
import shutil
import time
import uuid
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import pytest

from modelyard.config import Settings
from modelyard.errors import BadRequest, Conflict, Misconfigured
from modelyard.storage import open_blob_store
from modelyard.storage.base import BlobNotFound, BlobStoreError, BlobTooLarge
from modelyard.storage.local import LocalBlobStore
from modelyard.storage.s3 import S3BlobStore
from tests.backends.conftest import BASE_URL, MAX_UPLOAD_BYTES, SECRET, make_s3_store
from tests.support.servers import free_port

MB = 1024 * 1024
UNSAFE_KEYS = ["", "../escape", "a/../b", "a/..", "/etc/passwd", "a\\b", "a//b", "a/", ".hidden", "a/.b", "a b"]


def chunks_of(data: bytes, size: int = 64 * 1024):
    for start in range(0, len(data), size):
        yield data[start:start + size]


def leftovers(store) -> list[str]:
    """Half-written state a failed put could leave: local temp files, or open S3 multipart uploads."""
    if isinstance(store, LocalBlobStore):
        tmp = store.root / ".tmp"
        return sorted(os.listdir(tmp)) if tmp.exists() else []
    uploads = store.client.list_multipart_uploads(Bucket=store.bucket).get("Uploads", [])
    return [upload["Key"] for upload in uploads]


def with_query(url: str, **changes) -> str:
    parts = urlsplit(url)
    query = {name: values[0] for name, values in parse_qs(parts.query).items()}
    query.update({name: str(value) for name, value in changes.items()})
    return urlunsplit(parts._replace(query=urlencode(query)))


# Round trips -----------------------------------------------------------

def test_bytes_round_trip(blob_store):
    info = blob_store.put("datasets/d1/raw.csv", b"a,b\n1,2\n", content_type="text/csv")
    assert info.key == "datasets/d1/raw.csv" and info.size == 8
    assert blob_store.read_bytes("datasets/d1/raw.csv") == b"a,b\n1,2\n"


def test_file_object_round_trip(blob_store):
    data = os.urandom(300_000)
    blob_store.put("models/m1/model.bin", io.BytesIO(data))
    assert blob_store.read_bytes("models/m1/model.bin") == data


def test_iterator_of_chunks_round_trip(blob_store):
    data = os.urandom(200_000)
    info = blob_store.put("results/r1.csv", chunks_of(data, 7_000))
    assert info.size == len(data)
    assert b"".join(blob_store.open("results/r1.csv", chunk_size=10_000)) == data


def test_large_streamed_put_round_trips_in_bounded_chunks(blob_store):
    data = os.urandom(9 * MB)  # past the 8 MB multipart threshold on S3
    info = blob_store.put("big/blob.bin", chunks_of(data, MB), max_bytes=10 * MB)
    assert info.size == len(data)
    received = list(blob_store.open("big/blob.bin", chunk_size=MB))
    assert max(len(chunk) for chunk in received) <= MB
    assert hashlib.sha256(b"".join(received)).digest() == hashlib.sha256(data).digest()


def test_stat_reports_size_etag_and_content_type(blob_store):
    data = b"x" * 1234
    put = blob_store.put("images/i1.png", data, content_type="image/png")
    info = blob_store.stat("images/i1.png")
    assert info.size == 1234
    assert info.etag == put.etag == hashlib.md5(data).hexdigest()
    assert info.content_type == "image/png"


def test_overwrite_replaces_content_and_metadata(blob_store):
    blob_store.put("k/v", b"first version", content_type="text/plain")
    blob_store.put("k/v", b"second", content_type="application/json")
    assert blob_store.read_bytes("k/v") == b"second"
    info = blob_store.stat("k/v")
    assert (info.size, info.etag, info.content_type) == (6, hashlib.md5(b"second").hexdigest(), "application/json")


# Presence --------------------------------------------------------------

def test_exists_and_delete(blob_store):
    assert not blob_store.exists("a/b.txt")
    blob_store.put("a/b.txt", b"hello")
    assert blob_store.exists("a/b.txt")
    blob_store.delete("a/b.txt")
    assert not blob_store.exists("a/b.txt")
    with pytest.raises(BlobNotFound):
        blob_store.read_bytes("a/b.txt")


def test_deleting_an_absent_key_is_fine(blob_store):
    blob_store.delete("never/written")
    assert not blob_store.exists("never/written")


def test_opening_or_stating_a_missing_key_raises_blob_not_found(blob_store):
    with pytest.raises(BlobNotFound):
        blob_store.open("missing/key")
    with pytest.raises(BlobNotFound):
        blob_store.stat("missing/key")


def test_a_key_prefix_is_not_a_blob(blob_store):
    blob_store.put("dir/inner", b"x")
    assert not blob_store.exists("dir")
    with pytest.raises(BlobNotFound):
        blob_store.open("dir")


@pytest.mark.parametrize("key", UNSAFE_KEYS)
def test_unsafe_keys_are_refused_by_every_operation(blob_store, key):
    operations = [
        lambda: blob_store.put(key, b"x"),
        lambda: blob_store.open(key),
        lambda: blob_store.stat(key),
        lambda: blob_store.exists(key),
        lambda: blob_store.delete(key),
        lambda: blob_store.signed_url(key, base_url=BASE_URL),
    ]
    for operation in operations:
        with pytest.raises(BadRequest):
            operation()


# Size limit ------------------------------------------------------------

def test_exceeding_max_bytes_raises_and_leaves_nothing_visible(blob_store):
    with pytest.raises(BlobTooLarge):
        blob_store.put("too/big", chunks_of(b"x" * 300_000), max_bytes=200_000)
    assert not blob_store.exists("too/big")
    assert leftovers(blob_store) == []


def test_exceeding_max_bytes_mid_multipart_aborts_the_upload(blob_store):
    data = os.urandom(12 * MB)
    with pytest.raises(BlobTooLarge):
        blob_store.put("too/big.bin", chunks_of(data, MB), max_bytes=10 * MB)
    assert not blob_store.exists("too/big.bin")
    assert leftovers(blob_store) == []


def test_a_refused_overwrite_keeps_the_previous_blob(blob_store):
    blob_store.put("keep/me", b"original")
    with pytest.raises(BlobTooLarge):
        blob_store.put("keep/me", b"y" * 2048, max_bytes=1024)
    assert blob_store.read_bytes("keep/me") == b"original"


def test_exactly_max_bytes_is_accepted(blob_store):
    assert blob_store.put("edge", b"z" * 1024, max_bytes=1024).size == 1024


# Signed URLs -----------------------------------------------------------

def test_signed_get_url_returns_the_bytes(blob_store, http):
    data = os.urandom(70_000)
    blob_store.put("share/file.bin", data)
    signed = blob_store.signed_url("share/file.bin", method="GET", expires_in=60, base_url=BASE_URL)
    assert signed.method == "GET" and signed.expires_in == 60
    response = http.get(signed.url, headers=signed.headers)
    assert response.status_code == 200
    assert response.content == data


def test_signed_put_url_uploads_bytes_that_are_then_readable(blob_store, http):
    signed = blob_store.signed_url(
        "uploads/u1.csv", method="PUT", expires_in=60, content_type="text/csv", base_url=BASE_URL,
    )
    assert signed.headers == {"Content-Type": "text/csv"}
    response = http.put(signed.url, content=b"a,b\n1,2\n", headers=signed.headers)
    assert response.status_code == 200, response.text
    assert blob_store.read_bytes("uploads/u1.csv") == b"a,b\n1,2\n"
    assert blob_store.stat("uploads/u1.csv").content_type == "text/csv"


# Usage -----------------------------------------------------------------

def test_usage_bytes_counts_what_was_put(blob_store):
    assert blob_store.usage_bytes() == 0
    blob_store.put("u/one", b"1" * 1000)
    blob_store.put("u/two/deeper", b"2" * 2345, content_type="text/plain")
    with pytest.raises(BlobTooLarge):
        blob_store.put("u/three", b"3" * 5000, max_bytes=4000)
    assert blob_store.usage_bytes() == 3345
    blob_store.delete("u/one")
    assert blob_store.usage_bytes() == 2345


# Local only: modelyard checks the signatures itself ----------------------

local_only = pytest.mark.parametrize("blob_store", ["local"], indirect=True)


@local_only
def test_local_signed_get_is_served_as_a_safe_download(blob_store, http):
    blob_store.put("pages/evil.html", b"<script>alert(1)</script>", content_type="text/html")
    response = http.get(blob_store.signed_url("pages/evil.html", base_url=BASE_URL).url)
    assert response.status_code == 200
    assert response.headers["content-disposition"] == 'attachment; filename="evil.html"'
    assert response.headers["x-content-type-options"] == "nosniff"


@local_only
def test_local_tampered_signature_is_refused(blob_store, http):
    blob_store.put("secret/file", b"data")
    url = blob_store.signed_url("secret/file", base_url=BASE_URL).url
    sig = parse_qs(urlsplit(url).query)["sig"][0]
    tampered = with_query(url, sig=("0" if sig[0] != "0" else "1") + sig[1:])
    assert http.get(tampered).status_code == 403
    assert http.get(with_query(url, sig="")).status_code == 403


@local_only
def test_local_signature_for_one_key_does_not_open_another(blob_store, http):
    blob_store.put("mine", b"mine")
    blob_store.put("theirs", b"theirs")
    url = blob_store.signed_url("mine", base_url=BASE_URL).url
    assert http.get(url.replace("/blobs/mine?", "/blobs/theirs?")).status_code == 403


@local_only
def test_local_expired_url_is_refused(blob_store, http):
    blob_store.put("old/file", b"data")
    url = blob_store.signed_url("old/file", expires_in=-1, base_url=BASE_URL).url
    response = http.get(url)
    assert response.status_code == 403
    assert "expired" in response.json()["error"]["message"]
    later = with_query(url, expires=int(time.time()) + 3600)
    assert http.get(later).status_code == 403


@local_only
def test_local_get_signed_url_cannot_be_used_for_put(blob_store, http):
    blob_store.put("ro/file", b"original")
    get_url = blob_store.signed_url("ro/file", method="GET", base_url=BASE_URL).url
    assert http.put(get_url, content=b"overwritten").status_code == 403
    assert http.put(with_query(get_url, method="PUT"), content=b"overwritten").status_code == 403
    assert blob_store.read_bytes("ro/file") == b"original"


@local_only
def test_local_signed_put_past_the_upload_limit_is_refused_and_leaves_nothing(blob_store, http):
    url = blob_store.signed_url("big/upload", method="PUT", base_url=BASE_URL).url
    body = b"x" * (MAX_UPLOAD_BYTES + 1)
    assert http.put(url, content=body).status_code == 413
    assert http.put(url, content=chunks_of(body, 4096)).status_code == 413  # no Content-Length
    assert not blob_store.exists("big/upload")
    assert leftovers(blob_store) == []


@local_only
def test_local_signed_url_needs_a_base_url(blob_store):
    with pytest.raises(ValueError):
        blob_store.signed_url("k")


@local_only
def test_local_key_through_a_symlink_out_of_root_is_refused(blob_store, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (blob_store.root / "link").symlink_to(outside, target_is_directory=True)
    with pytest.raises(BadRequest):
        blob_store.put("link/x", b"escape")
    assert list(outside.iterdir()) == []


@local_only
def test_local_usage_ignores_temp_files_and_sidecars(blob_store):
    blob_store.put("a", b"12345", content_type="text/plain")
    (blob_store.root / ".tmp" / "put-stray").write_bytes(b"z" * 999)
    assert blob_store.usage_bytes() == 5


@local_only
def test_local_temp_files_of_a_dead_writer_are_swept_when_a_store_opens_but_a_live_writers_are_kept(blob_store):
    import fcntl

    blob_store.put("kept", b"whole")
    tmp = blob_store.root / ".tmp"
    (tmp / "put-killed-writer").write_bytes(b"half a blob")
    live = tmp / "put-live-writer"
    with open(live, "wb") as writing:
        fcntl.flock(writing.fileno(), fcntl.LOCK_EX)  # as LocalBlobStore.put holds its own
        LocalBlobStore(blob_store.root, SECRET)
        assert sorted(p.name for p in tmp.iterdir()) == ["put-live-writer"]
    assert blob_store.read_bytes("kept") == b"whole"


@local_only
def test_local_key_under_an_existing_blob_is_a_conflict(blob_store):
    blob_store.put("a", b"file")
    with pytest.raises(Conflict):
        blob_store.put("a/b", b"under a file")
    assert blob_store.read_bytes("a") == b"file"
    assert leftovers(blob_store) == []


def test_s3_that_cannot_be_reached_is_a_store_error():
    store = S3BlobStore(
        "unreachable", endpoint_url=f"http://127.0.0.1:{free_port()}", access_key_id="test", secret_access_key="test",
    )
    with pytest.raises(BlobStoreError):  # after botocore's own retries, a few seconds
        store.stat("k")


# Choosing the store from settings ----------------------------------------

def test_file_url_opens_a_local_store(tmp_path):
    settings = Settings(home=tmp_path / "home", secret_key=SECRET)
    store = open_blob_store(settings)
    assert isinstance(store, LocalBlobStore)
    assert store.root == (tmp_path / "home" / "blobs").resolve()
    store.put("k", b"v")
    assert (tmp_path / "home" / "blobs" / "k").read_bytes() == b"v"


def s3_settings(tmp_path, endpoint: str, bucket: str, **extra) -> Settings:
    return Settings(_env_file=None, home=tmp_path / "home", blob_url=f"s3://{bucket}/some/prefix",
                    s3_endpoint_url=endpoint, s3_access_key_id="test", s3_secret_access_key="test", **extra)


def test_s3_url_opens_an_s3_store_and_creates_the_bucket_when_the_setting_asks(tmp_path, s3_endpoint):
    bucket = f"modelyard-factory-{uuid.uuid4().hex[:8]}"
    store = open_blob_store(s3_settings(tmp_path, s3_endpoint, bucket, s3_create_bucket=True))
    assert isinstance(store, S3BlobStore) and store.prefix == "some/prefix"
    store.put("k", b"v")
    assert store.client.get_object(Bucket=bucket, Key="some/prefix/k")["Body"].read() == b"v"
    again = open_blob_store(s3_settings(tmp_path, s3_endpoint, bucket, s3_create_bucket=True))
    assert again.read_bytes("k") == b"v", "an existing bucket is used as it is"


def test_a_missing_s3_bucket_is_refused_naming_it_and_not_created(tmp_path, s3_endpoint):
    bucket = f"modelyard-typo-{uuid.uuid4().hex[:8]}"
    with pytest.raises(Misconfigured) as refused:
        open_blob_store(s3_settings(tmp_path, s3_endpoint, bucket))
    assert f"the S3 bucket '{bucket}' of MODELYARD_BLOB_URL" in refused.value.message
    assert "MODELYARD_S3_CREATE_BUCKET=true" in refused.value.message
    existing = make_s3_store(s3_endpoint)
    assert bucket not in [b["Name"] for b in existing.client.list_buckets()["Buckets"]]


def test_an_existing_s3_bucket_opens_without_the_setting(tmp_path, s3_endpoint):
    existing = make_s3_store(s3_endpoint)
    store = open_blob_store(s3_settings(tmp_path, s3_endpoint, existing.bucket))
    store.ping()
    assert store.bucket == existing.bucket


def test_ping_tells_a_missing_bucket_and_a_missing_folder(tmp_path, s3_endpoint):
    gone = S3BlobStore(f"gone-{uuid.uuid4().hex[:8]}", endpoint_url=s3_endpoint, access_key_id="test",
                       secret_access_key="test")
    with pytest.raises(BlobStoreError, match="does not exist"):
        gone.ping()
    local = LocalBlobStore(tmp_path / "blobs", SECRET)
    local.ping()
    shutil.rmtree(tmp_path / "blobs")
    with pytest.raises(BlobStoreError, match="missing or not writable"):
        local.ping()


@pytest.mark.parametrize("url", ["ftp://host/x", "redis://localhost/0", "s3:///no-bucket"])
def test_unknown_or_incomplete_blob_url_is_a_clear_error(tmp_path, url):
    with pytest.raises(ValueError, match="blob_url"):
        open_blob_store(Settings(home=tmp_path / "home", blob_url=url, secret_key=SECRET))


def test_a_byte_range_streams_only_those_bytes(blob_store):
    data = bytes(range(256)) * 40
    blob_store.put("ranges/data.bin", data)
    assert b"".join(blob_store.open("ranges/data.bin", start=100, end=5000, chunk_size=333)) == data[100:5000]
    assert b"".join(blob_store.open("ranges/data.bin", start=10_000)) == data[10_000:]
    assert b"".join(blob_store.open("ranges/data.bin", end=7)) == data[:7]
    assert b"".join(blob_store.open("ranges/data.bin", start=50, end=50)) == b""


def test_a_put_on_a_full_disk_is_refused_with_507_and_leaves_nothing_behind(tmp_path):
    """A file-size limit on this process stands in for a full disk: the write fails with EFBIG."""
    import resource
    import signal

    from modelyard.storage import BlobStoreFull
    from modelyard.storage.local import LocalBlobStore

    store = LocalBlobStore(tmp_path / "blobs", "secret")
    store.put("kept", b"old bytes")
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, hard))
    try:
        with pytest.raises(BlobStoreFull) as refused:
            store.put("big", b"x" * (256 * 1024))
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)

    assert refused.value.status == 507 and "MODELYARD_BLOB_URL" in refused.value.message
    assert not store.exists("big")
    assert list((tmp_path / "blobs" / ".tmp").iterdir()) == []
    assert store.read_bytes("kept") == b"old bytes"
    assert store.put("big", b"x" * (256 * 1024)).size == 256 * 1024  # space is back
