"""Untrusted image files: the type comes from the bytes, bad files are refused with a reason."""
import io

import pytest
from hypothesis import given, settings, strategies as st
from PIL import Image

from modelyard.labeling.images import ImageRejected, inspect_image, sniff
from tests.support.images import encode, jpeg, png_bomb, png_header, scene, truncated_jpeg


@pytest.mark.parametrize("fmt, expected", [("JPEG", "image/jpeg"), ("PNG", "image/png"), ("WEBP", "image/webp")])
def test_each_supported_format_is_recognised_from_its_bytes(fmt, expected):
    checked = inspect_image(io.BytesIO(encode(scene(1), fmt)))
    assert (checked.content_type, checked.width, checked.height) == (expected, 480, 360)
    assert len(checked.phash) == len(checked.dhash) == 48, "three views of 64 bits each"
    thumb = Image.open(io.BytesIO(checked.thumbnail))
    assert thumb.format == "JPEG" and max(thumb.size) <= 256


@pytest.mark.parametrize("data, code, words", [
    (b"", "INVALID_FORMAT", "empty"),
    (b"just some text, not a picture", "INVALID_FORMAT", "text"),
    (b"GIF89a" + bytes(20), "INVALID_FORMAT", "GIF"),
    (b"%PDF-1.7 ...", "INVALID_FORMAT", "PDF"),
    (b"\x89PNG\r\n\x1a\n" + bytes(30), "INVALID_FORMAT", "not a readable PNG"),
], ids=["empty", "text", "gif", "pdf", "png-signature-only"])
def test_files_that_are_not_supported_images_are_refused(data, code, words):
    with pytest.raises(ImageRejected) as refused:
        inspect_image(io.BytesIO(data))
    assert refused.value.code == code
    assert words in refused.value.message


def test_a_truncated_jpeg_is_refused_as_damaged():
    with pytest.raises(ImageRejected, match="damaged"):
        inspect_image(io.BytesIO(truncated_jpeg()))


def test_a_header_claiming_60000_by_60000_pixels_is_refused_without_decoding():
    with pytest.raises(ImageRejected) as refused:
        inspect_image(io.BytesIO(png_header(60_000, 60_000)))
    assert refused.value.code == "IMAGE_TOO_LARGE"


def test_a_real_decompression_bomb_is_refused_before_it_is_decoded():
    bomb = png_bomb(7000, 7000)
    assert len(bomb) < 300_000
    with pytest.raises(ImageRejected, match="7000 × 7000"):
        inspect_image(io.BytesIO(bomb))


def test_a_smaller_pixel_limit_is_honoured():
    with pytest.raises(ImageRejected):
        inspect_image(io.BytesIO(encode(scene(2))), max_pixels=100 * 100)


def test_sniffing_ignores_everything_but_the_leading_bytes():
    assert sniff(jpeg(scene(3))[:16]) == "JPEG"
    assert sniff(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "WEBP"
    assert sniff(b"RIFF\x00\x00\x00\x00AVI LIST") is None
    assert sniff(b"<svg xmlns=...>") is None


def test_exif_rotation_does_not_change_the_hashes():
    picture = scene(4)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise when displayed
    rotated_on_disk = encode(picture.transpose(Image.Transpose.ROTATE_90), "JPEG", quality=95, exif=exif.tobytes())
    upright = inspect_image(io.BytesIO(jpeg(picture, 95)))
    tagged = inspect_image(io.BytesIO(rotated_on_disk))
    assert bin(int(tagged.phash[:16], 16) ^ int(upright.phash[:16], 16)).count("1") <= 4


SEEDS = {fmt: encode(scene(5, (96, 64)), fmt) for fmt in ("JPEG", "PNG", "WEBP")}


@settings(max_examples=150, deadline=None)
@given(fmt=st.sampled_from(sorted(SEEDS)), cut=st.integers(0, 4000),
       flips=st.lists(st.tuples(st.integers(0, 4000), st.integers(1, 255)), max_size=6))
def test_damaged_image_bytes_are_either_accepted_or_refused_never_a_crash(fmt, cut, flips):
    data = bytearray(SEEDS[fmt])
    for position, xor in flips:
        data[position % len(data)] ^= xor
    data = bytes(data[: max(1, len(data) - cut)])
    try:
        checked = inspect_image(io.BytesIO(data))
    except ImageRejected as refused:
        assert refused.message
    else:
        assert checked.width * checked.height > 0
