"""Signed blob URLs served by modelyard itself (local folder store only); the signature is the authorization."""
from __future__ import annotations

import re
import tempfile

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from modelyard.errors import Forbidden, NotFound, PayloadTooLarge
from modelyard.storage.local import LocalBlobStore

router = APIRouter(tags=["blobs"])

SPOOL_MAX_BYTES = 1024 * 1024
MAX_EXPIRES = 10**12  # a Unix time (year 33658); keeps the signed value a plain 64-bit number
_CONTENT_TYPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*( *;[ -~]*)?$")


class BlobPutOut(BaseModel):
    key: str
    size: int
    etag: str | None


def _local_store(request: Request, key: str) -> LocalBlobStore:
    """The app's blob store when it is a local folder; other stores hand out their own URLs."""
    blobs = request.app.state.runtime.blobs
    if not isinstance(blobs, LocalBlobStore):
        raise NotFound("blob", key)
    return blobs


def _check(blobs: LocalBlobStore, key: str, http_method: str, method: str, expires: int, sig: str) -> None:
    if method.upper() != http_method:
        raise Forbidden(f"this URL is signed for {method.upper() or 'nothing'}, not {http_method}")
    blobs.verify(key, http_method, expires, sig)


@router.get(
    "/blobs/{key:path}",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/octet-stream": {}}, "description": "The blob's bytes"}},
)
def get_blob(
    key: str, request: Request, method: str = Query(""), expires: int = Query(0, ge=0, le=MAX_EXPIRES), sig: str = Query(""),
) -> StreamingResponse:
    """Download one blob with a signed GET URL."""
    blobs = _local_store(request, key)
    _check(blobs, key, "GET", method, expires, sig)
    info = blobs.stat(key)
    chunks = blobs.open(key)
    headers = {
        "Content-Disposition": f'attachment; filename="{key.rsplit("/", 1)[-1]}"',
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, no-store",
    }
    return StreamingResponse(chunks, media_type=info.content_type or "application/octet-stream", headers=headers)


@router.put("/blobs/{key:path}", response_model=BlobPutOut)
async def put_blob(
    key: str, request: Request, response: Response, method: str = Query(""),
    expires: int = Query(0, ge=0, le=MAX_EXPIRES), sig: str = Query(""),
) -> BlobPutOut:
    """Upload one blob with a signed PUT URL; the body streams to a spool file, then into the store.
    The ETag comes back as a quoted header, as S3 sends it, and (unquoted) in the body."""
    blobs = _local_store(request, key)
    _check(blobs, key, "PUT", method, expires, sig)
    limit = request.app.state.runtime.settings.max_upload_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"upload is larger than {limit} bytes")
    content_type = request.headers.get("content-type", "")
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_MAX_BYTES) as spool:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"upload is larger than {limit} bytes")
            spool.write(chunk)
        spool.seek(0)
        info = await run_in_threadpool(
            blobs.put, key, spool, content_type=content_type if _CONTENT_TYPE.match(content_type) else None,
            max_bytes=limit,
        )
    if info.etag:
        response.headers["ETag"] = f'"{info.etag}"'
    return BlobPutOut(key=info.key, size=info.size, etag=info.etag)
