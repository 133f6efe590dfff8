"""Small HTTP helpers for the labeling tests (TestClient in tests/api, httpx in tests/e2e)."""
from __future__ import annotations

from urllib.parse import urlsplit


def create_request(client, headers, title: str = "Birds", classes=("sparrow", "crow", "owl"), **extra) -> dict:
    response = client.post("/requests", json={"title": title, "description": "photos from the feeder",
                                              "classes": list(classes), **extra}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def upload(client, headers, request_id: str, files: list[tuple[str, bytes]], *, content_type: str = "image/png"):
    """POST /requests/{id}/uploads with several `files` parts (declared types are deliberately generic)."""
    parts = [("files", (name, data, content_type)) for name, data in files]
    return client.post(f"/requests/{request_id}/uploads", files=parts, headers=headers)


def upload_ok(client, headers, request_id: str, files: list[tuple[str, bytes]]) -> dict:
    response = upload(client, headers, request_id, files)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["errors"] == [], body
    return body


def local_path(url: str) -> str:
    """The path and query of a URL modelyard signed for its own /blobs route (for a TestClient)."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def key_in(url: str | None) -> str | None:
    """The blob key a signed URL points at (local /blobs/<key> or S3 /<bucket>/<prefix>/<key>)."""
    if url is None:
        return None
    path = urlsplit(url).path
    return path.split("/blobs/", 1)[1] if "/blobs/" in path else path


def brightness_onnx(path, layout: str = "NCHW") -> str:
    """A tiny ONNX 'AI detector' whose P(generated) is the mean pixel value (white → 1, black → 0)."""
    import onnx
    from onnx import TensorProto, helper

    shape = [1, 3, 16, 16] if layout == "NCHW" else [1, 16, 16, 3]
    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["image"], ["score"], keepdims=0)],
        "brightness", [helper.make_tensor_value_info("image", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, [])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return str(path)
