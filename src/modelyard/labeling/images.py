"""Untrusted image files: sniff the type from the bytes, decode safely, thumbnail and hash them.

Nothing here trusts a file name or a declared content type. The type comes from the leading
bytes (JPEG, PNG, WebP); Pillow is then only allowed that one format's decoder. The pixel count
is checked from the header before anything is decoded, so a small file that claims 60,000 ×
60,000 pixels is refused without allocating them; Pillow's own decompression-bomb errors and
every decoder failure (truncated, corrupt) become an `ImageRejected` for that one file.
"""
from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from typing import BinaryIO

import imagehash
from PIL import Image, ImageFile, ImageOps

MAX_PIXELS = 40_000_000  # ~ 7,300 × 5,500; bigger images are refused before decoding
THUMBNAIL_SIZE = (256, 256)
HASH_WORKING_SIZE = (512, 512)  # hashes are computed on a copy this small: same result, less work
HASH_VIEWS = (1.0, 0.9, 0.8)  # full image, centre 90 %, centre 80 %: survives small crops
SNIFF_BYTES = 16

FORMATS = {"JPEG": ("image/jpeg", "jpg"), "PNG": ("image/png", "png"), "WEBP": ("image/webp", "webp")}


class ImageRejected(Exception):
    """One file failed its checks; `code` as the error shape spells it."""

    def __init__(self, message: str, code: str = "INVALID_FORMAT"):
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass(frozen=True)
class InspectedImage:
    format: str  # JPEG | PNG | WEBP
    content_type: str
    extension: str
    width: int
    height: int
    size: int
    sha256: str
    phash: str  # 16 hex digits per view in HASH_VIEWS
    dhash: str
    thumbnail: bytes  # JPEG


def sniff(head: bytes) -> str | None:
    """The image format the leading bytes announce, or None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    return None


def _describe(head: bytes) -> str:
    """A hint of what a refused file looks like, for the error message."""
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "a GIF image"
    if head.startswith(b"%PDF"):
        return "a PDF document"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "a TIFF image"
    if head.startswith(b"BM"):
        return "a BMP image"
    if head.startswith(b"PK\x03\x04"):
        return "a ZIP archive"
    try:
        head.decode("utf-8")
        return "text"
    except UnicodeDecodeError:
        return "unrecognised binary data"


def inspect_image(stream: BinaryIO, *, max_pixels: int = MAX_PIXELS) -> InspectedImage:
    """Check one seekable file and describe it; raise ImageRejected when it is not a sound image."""
    stream.seek(0)
    digest, size = hashlib.sha256(), 0
    while chunk := stream.read(1024 * 1024):
        digest.update(chunk)
        size += len(chunk)
    if size == 0:
        raise ImageRejected("the file is empty (0 bytes)")
    stream.seek(0)
    head = stream.read(SNIFF_BYTES)
    fmt = sniff(head)
    if fmt is None:
        raise ImageRejected(f"not a JPEG, PNG or WebP image: the content is {_describe(head)}, "
                            "whatever its name or declared type says")
    stream.seek(0)
    image = _open(stream, fmt, max_pixels)
    content_type, extension = FORMATS[fmt]
    width, height = image.size
    upright = _decoded_upright(image, fmt)
    phash, dhash = perceptual_hashes(upright)
    return InspectedImage(format=fmt, content_type=content_type, extension=extension, width=width,
                          height=height, size=size, sha256=digest.hexdigest(), phash=phash, dhash=dhash,
                          thumbnail=thumbnail(upright))


def _open(stream: BinaryIO, fmt: str, max_pixels: int) -> Image.Image:
    """Open with only the sniffed format's decoder and refuse oversized headers before decoding."""
    try:
        image = Image.open(stream, formats=[fmt])
    except Image.DecompressionBombError as exc:
        raise ImageRejected(f"refused as a decompression bomb: {exc}", "IMAGE_TOO_LARGE") from None
    except MemoryError:
        raise ImageRejected("the image needs more memory to open than is allowed", "IMAGE_TOO_LARGE") from None
    except Exception as exc:  # hostile headers make Pillow raise almost anything (struct.error, IndexError...)
        raise ImageRejected(f"not a readable {fmt} image: {_reason(exc)}") from None
    width, height = image.size
    if width <= 0 or height <= 0:
        raise ImageRejected(f"the {fmt} header declares an empty image ({width} × {height})")
    if width * height > max_pixels:
        raise ImageRejected(f"the image declares {width} × {height} pixels, more than the limit of "
                            f"{max_pixels:,}; it was not decoded", "IMAGE_TOO_LARGE")
    return image


def _decoded_upright(image: Image.Image, fmt: str) -> Image.Image:
    """Decode every byte (so truncated or corrupt data is caught), then a small upright RGB copy."""
    if ImageFile.LOAD_TRUNCATED_IMAGES:  # a process-wide switch: never accept truncated uploads
        raise RuntimeError("PIL.ImageFile.LOAD_TRUNCATED_IMAGES is on; refusing to check uploads")
    try:
        if fmt == "JPEG":
            image.draft("RGB", (HASH_WORKING_SIZE[0] * 2, HASH_WORKING_SIZE[1] * 2))  # DCT scaling
        image.load()
        working = ImageOps.exif_transpose(image)
        working = working.convert("RGBA") if working.mode in ("P", "LA", "PA") else working
        if working.mode == "RGBA":
            background = Image.new("RGB", working.size, (255, 255, 255))
            background.paste(working, mask=working.getchannel("A"))
            working = background
        working = working.convert("RGB")
        working.thumbnail(HASH_WORKING_SIZE, Image.Resampling.BILINEAR)
        return working
    except Image.DecompressionBombError as exc:
        raise ImageRejected(f"refused as a decompression bomb: {exc}", "IMAGE_TOO_LARGE") from None
    except MemoryError:
        raise ImageRejected("the image needs more memory to decode than is allowed", "IMAGE_TOO_LARGE") from None
    except Exception as exc:  # truncated or corrupt data, malformed EXIF: whatever the decoder raises
        raise ImageRejected(f"the {fmt} data is damaged: {_reason(exc)}") from None


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text[:200]


def perceptual_hashes(image: Image.Image) -> tuple[str, str]:
    """pHash and dHash (64 bits each) of each view in HASH_VIEWS, as concatenated hex."""
    phashes, dhashes = [], []
    for view in crop_views(image):
        phashes.append(str(imagehash.phash(view)))
        dhashes.append(str(imagehash.dhash(view)))
    return "".join(phashes), "".join(dhashes)


def crop_views(image: Image.Image) -> list[Image.Image]:
    width, height = image.size
    views = []
    for fraction in HASH_VIEWS:
        if fraction >= 1.0:
            views.append(image)
            continue
        dx, dy = round(width * (1 - fraction) / 2), round(height * (1 - fraction) / 2)
        views.append(image.crop((dx, dy, max(dx + 1, width - dx), max(dy + 1, height - dy))))
    return views


def split_hashes(packed: str) -> list[int]:
    """The per-view 64-bit integers of a packed hex column."""
    return [int(packed[i:i + 16], 16) for i in range(0, len(packed), 16)]


def thumbnail(image: Image.Image) -> bytes:
    copy = image.copy()
    copy.thumbnail(THUMBNAIL_SIZE, Image.Resampling.LANCZOS)
    out = io.BytesIO()
    copy.save(out, "JPEG", quality=82, optimize=True)
    return out.getvalue()


def open_for_analysis(data: bytes, *, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Re-open a stored image (already checked at upload) for metadata and detectors."""
    fmt = sniff(data[:SNIFF_BYTES])
    if fmt is None:
        raise ImageRejected("stored blob is not an image any more")
    return _open(io.BytesIO(data), fmt, max_pixels)
