"""Image uploads, multipart and presigned against the local store (labeling contract, sections 3 and 3b)."""
import pytest

from tests.support.images import encode, jpeg, png_bomb, png_header, scene, truncated_jpeg
from tests.support.labeling import create_request, local_path, upload, upload_ok

MAX_UPLOAD = 300_000


@pytest.fixture
def settings(settings):
    settings.max_upload_bytes = MAX_UPLOAD
    return settings


def stored_keys(app) -> set[str]:
    root = app.state.runtime.blobs.root
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")
            and not str(p.relative_to(root)).startswith(".")}


def test_uploaded_images_get_sniffed_types_keys_of_our_making_and_previews(client, accounts):
    headers = accounts["user"].headers
    request = create_request(client, headers)
    # The names and the declared type (image/png for all) are lies; the bytes decide.
    body = upload_ok(client, headers, request["id"], [
        ("holiday.png", jpeg(scene(1))), ("photo.jpg", encode(scene(2), "PNG")), ("x.gif", encode(scene(3), "WEBP"))])
    assert (body["uploaded"], body["skipped"]) == (3, 0)
    listed = client.get(f"/requests/{request['id']}/uploads", headers=headers).json()
    assert [(i["filename"], i["content_type"]) for i in listed] == [
        ("holiday.png", "image/jpeg"), ("photo.jpg", "image/png"), ("x.gif", "image/webp")]
    for item in listed:
        assert {"filename", "key", "etag", "content_type", "size_bytes", "created_at", "preview_url"} <= set(item)
        extension = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp"}[item["content_type"]]
        assert item["key"].endswith(extension)
        preview = client.get(local_path(item["preview_url"]))
        assert preview.status_code == 200
        assert preview.content.startswith(b"\xff\xd8\xff"), "previews are JPEG thumbnails"
    assert client.get(f"/requests/{request['id']}", headers=headers).json()["status"] == "uploading"


def test_bad_files_are_refused_one_by_one_and_the_good_ones_are_stored(client, accounts, app):
    headers = accounts["user"].headers
    request = create_request(client, headers)
    response = upload(client, headers, request["id"], [
        ("good-1.png", encode(scene(10))),
        ("notes.png", b"this is a text file with a .png name\n"),
        ("broken.jpg", truncated_jpeg()),
        ("bomb.png", png_bomb()),
        ("empty.png", b""),
        ("huge.png", png_header(60_000, 60_000)),
        ("../../etc/passwd.png", encode(scene(11))),
        ("C:\\Windows\\evil.jpg", jpeg(scene(12))),
    ])
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["uploaded"] == 3
    errors = {e["filename"]: e for e in body["errors"]}
    assert set(errors) == {"notes.png", "broken.jpg", "bomb.png", "empty.png", "huge.png"}
    assert "text" in errors["notes.png"]["message"]
    assert "damaged" in errors["broken.jpg"]["message"]
    assert errors["bomb.png"]["code"] == "IMAGE_TOO_LARGE"
    assert "empty" in errors["empty.png"]["message"]
    assert errors["huge.png"]["code"] == "IMAGE_TOO_LARGE" and "60000" in errors["huge.png"]["message"]
    names = sorted(i["filename"] for i in body["images"])
    assert names == ["evil.jpg", "good-1.png", "passwd.png"], "file names keep their last segment only"
    listed = client.get(f"/requests/{request['id']}/uploads", headers=headers).json()
    expected = {i["key"] for i in listed} | {i["key"].rsplit(".", 1)[0] + ".thumb.jpg" for i in listed}
    assert stored_keys(app) == expected, "nothing that failed its checks was stored"
    assert all(k.startswith(f"labeling/{accounts['user'].id}/{request['id']}/img_") for k in expected)


def test_a_batch_where_every_file_is_bad_is_refused_with_400(client, accounts):
    headers = accounts["user"].headers
    request = create_request(client, headers)
    response = upload(client, headers, request["id"], [("a.png", b"not an image"), ("b.png", b"")])
    assert response.status_code == 400
    assert {d["filename"] for d in response.json()["details"]} == {"a.png", "b.png"}


def test_copies_inside_one_batch_are_all_stored(client, accounts):
    headers = accounts["user"].headers
    request = create_request(client, headers)
    png = encode(scene(22))
    body = upload_ok(client, headers, request["id"], [("a.png", png), ("b.png", encode(scene(23))),
                                                      ("a-copy.png", png), ("a-again.png", png)])
    assert (body["uploaded"], body["skipped"]) == (4, 0)
    listed = client.get(f"/requests/{request['id']}/uploads", headers=headers).json()
    assert sorted(i["filename"] for i in listed) == ["a-again.png", "a-copy.png", "a.png", "b.png"]
    assert len({i["key"] for i in listed}) == 4
    again = upload_ok(client, headers, request["id"], [("a.png", png)])
    assert (again["uploaded"], again["skipped"]) == (0, 1), "a later batch with the same bytes is a retry"


def test_copies_inside_one_presigned_completion_are_all_stored(client, accounts):
    headers = accounts["user"].headers
    request = create_request(client, headers)
    slots = presign(client, headers, request["id"], ["one.png", "copy.png"])
    png = encode(scene(24))
    for slot in slots:
        assert client.put(local_path(slot["url"]), content=png, headers=slot["headers"]).status_code == 200
    done = client.post("/uploads/complete", headers=headers, json={"request_id": request["id"], "uploaded": [
        {"filename": s["filename"], "key": s["key"]} for s in slots]})
    assert done.status_code == 200 and (done.json()["uploaded"], done.json()["skipped"]) == (2, 0), done.text


def test_the_same_file_in_a_later_batch_is_skipped(client, accounts):
    headers = accounts["user"].headers
    request = create_request(client, headers)
    png = encode(scene(20))
    first = upload_ok(client, headers, request["id"], [("a.png", png)])
    again = upload_ok(client, headers, request["id"], [("copy.png", png), ("new.png", encode(scene(21)))])
    assert (again["uploaded"], again["skipped"]) == (1, 1)
    assert again["skipped_files"][0]["image_id"] == first["images"][0]["image_id"]


def test_a_body_over_the_upload_limit_is_refused_with_413(client, accounts, app):
    headers = accounts["user"].headers
    request = create_request(client, headers)
    big = b"\x89PNG\r\n\x1a\n" + bytes(MAX_UPLOAD + 100_000)
    response = upload(client, headers, request["id"], [("big.png", big)])
    assert response.status_code == 413
    assert stored_keys(app) == set()


def presign(client, headers, request_id, names):
    response = client.post("/uploads/presign", headers=headers, json={
        "request_id": request_id, "files": [{"filename": n, "content_type": "image/png"} for n in names]})
    assert response.status_code == 200, response.text
    return response.json()["uploads"]


def test_presigned_uploads_to_the_local_store_register_after_complete(client, accounts, app):
    headers = accounts["user"].headers
    request = create_request(client, headers)
    slots = presign(client, headers, request["id"], ["one.png", "two.png"])
    assert [s["method"] for s in slots] == ["PUT", "PUT"]
    assert all(s["headers"] == {"Content-Type": "image/png"} for s in slots)
    assert len({s["key"] for s in slots}) == 2 and all("one" not in s["key"] for s in slots)
    etags = []
    for slot, data in zip(slots, [encode(scene(30)), jpeg(scene(31))]):
        put = client.put(local_path(slot["url"]), content=data, headers=slot["headers"])
        assert put.status_code == 200, put.text
        assert put.headers["etag"] == f'"{put.json()["etag"]}"', "the ETag header as S3 sends it, quoted"
        assert [k for k, _ in put.headers.raw].count(b"etag") == 1
        etags.append(put.headers["etag"])  # what an S3 client reads, passed on as it is
    done = client.post("/uploads/complete", headers=headers, json={"request_id": request["id"], "uploaded": [
        {"filename": s["filename"], "key": s["key"], "etag": e} for s, e in zip(slots, etags)]})
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "ok" and done.json()["uploaded"] == 2
    listed = client.get(f"/requests/{request['id']}/uploads", headers=headers).json()
    assert sorted((i["filename"], i["content_type"]) for i in listed) == [("one.png", "image/png"),
                                                                          ("two.png", "image/jpeg")]
    assert not any(k.startswith("labeling/incoming/") for k in stored_keys(app)), "incoming objects are moved"
    again = client.post("/uploads/complete", headers=headers, json={"request_id": request["id"], "uploaded": [
        {"filename": slots[0]["filename"], "key": slots[0]["key"]}]})
    assert again.status_code == 200 and again.json()["skipped"] == 1, "completing twice is harmless"


def test_complete_refuses_foreign_missing_and_bad_keys_file_by_file(client, accounts, app):
    me, other = accounts["user"].headers, accounts["other"].headers
    mine = create_request(client, me)
    theirs = create_request(client, other)
    foreign = presign(client, other, theirs["id"], ["theirs.png"])[0]
    assert client.put(local_path(foreign["url"]), content=encode(scene(40))).status_code == 200
    good, text, never = presign(client, me, mine["id"], ["good.png", "text.png", "never.png"])
    assert client.put(local_path(good["url"]), content=encode(scene(41))).status_code == 200
    assert client.put(local_path(text["url"]), content=b"plain text pretending").status_code == 200
    response = client.post("/uploads/complete", headers=me, json={"request_id": mine["id"], "uploaded": [
        {"filename": "good.png", "key": good["key"]}, {"filename": "text.png", "key": text["key"]},
        {"filename": "never.png", "key": never["key"]}, {"filename": "theirs.png", "key": foreign["key"]},
        {"filename": "escape.png", "key": "../../secret"}]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["status"], body["uploaded"]) == ("partial", 1)
    codes = {e["filename"]: e["code"] for e in body["errors"]}
    assert codes == {"text.png": "INVALID_FORMAT", "never.png": "NOT_FOUND", "theirs.png": "INVALID_KEY",
                     "escape.png": "INVALID_KEY"}
    keys = stored_keys(app)
    assert text["key"] not in keys, "a refused upload is removed from the store"
    assert foreign["key"] in keys, "another request's upload is left alone"


def test_a_presigned_url_only_accepts_its_own_key(client, accounts):
    headers = accounts["user"].headers
    request = create_request(client, headers)
    slot = presign(client, headers, request["id"], ["a.png"])[0]
    other_key = slot["key"][:-1] + ("a" if slot["key"][-1] != "a" else "b")
    forged = local_path(slot["url"]).replace(slot["key"], other_key)
    assert client.put(forged, content=encode(scene(50))).status_code == 403
