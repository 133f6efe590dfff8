"""AI-generation evidence read from files: what generators write is found; ordinary files score 0."""
import json

import pytest
from PIL import Image

from modelyard.labeling import provenance
from modelyard.labeling.images import open_for_analysis
from tests.support.images import (
    SD_PARAMETERS, c2pa_signed_png, comfyui_png, encode, exif_software_jpeg, jpeg, png_with_text, scene, xmp_jpeg,
)

TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}


def evidence(data: bytes) -> tuple[float, set[str]]:
    image = open_for_analysis(data)
    found = provenance.gather(data, image, content_type=TYPES[image.format])
    return provenance.combine(found), {e.flag for e in found}


def test_a_stable_diffusion_parameters_chunk_is_strong_evidence():
    score, flags = evidence(png_with_text(scene(1), {"parameters": SD_PARAMETERS}))
    assert score >= 0.95 and flags == {"ai_png_parameters"}


def test_a_compressed_parameters_chunk_is_read_too():
    score, flags = evidence(png_with_text(scene(1), {"parameters": SD_PARAMETERS}, compressed=True))
    assert score >= 0.95 and "ai_png_parameters" in flags


def test_a_comfyui_graph_is_evidence():
    score, flags = evidence(comfyui_png(scene(2)))
    assert score >= 0.95 and flags == {"ai_png_comfyui"}


def test_novelai_metadata_is_evidence():
    comment = json.dumps({"prompt": "x", "steps": 28, "sampler": "k_euler", "seed": 1, "scale": 5, "uc": "bad"})
    score, flags = evidence(png_with_text(scene(3), {"Software": "NovelAI", "Comment": comment}))
    assert score >= 0.95 and flags == {"ai_png_novelai"}


def test_a_generator_in_the_exif_software_tag_is_evidence():
    score, flags = evidence(exif_software_jpeg(scene(4), "Adobe Firefly"))
    assert 0.8 <= score < 0.95 and flags == {"ai_software_tag"}


def test_a1111_parameters_in_the_exif_user_comment_are_evidence():
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9286] = b"UNICODE\x00" + SD_PARAMETERS.encode("utf-16-be")
    score, flags = evidence(encode(scene(5), "JPEG", exif=exif.tobytes()))
    assert score >= 0.9 and "ai_generation_parameters" in flags


def test_an_iptc_digital_source_type_in_xmp_is_evidence():
    score, flags = evidence(xmp_jpeg(scene(6)))
    assert score >= 0.9 and flags == {"ai_xmp_digital_source_type"}
    camera, _ = evidence(xmp_jpeg(scene(6), "digitalCapture"))
    assert camera == 0.0


def test_a_signed_c2pa_manifest_declaring_generated_media_is_evidence():
    score, flags = evidence(c2pa_signed_png(scene(7)))
    assert score >= 0.9
    assert {"c2pa_manifest", "ai_c2pa_digital_source_type"} <= flags


def test_a_c2pa_manifest_of_a_camera_capture_is_no_evidence():
    score, flags = evidence(c2pa_signed_png(scene(8), source_type="digitalCapture"))
    assert score == 0.0 and flags == {"c2pa_manifest"}


def test_a_c2pa_manifest_on_altered_pixels_is_reported_invalid():
    signed = c2pa_signed_png(scene(9))
    at = signed.index(b"IDAT") + 40
    tampered = signed[:at] + bytes([signed[at] ^ 0xFF]) + signed[at + 1:]
    found = {e.flag: e for e in provenance.c2pa_evidence(tampered, "image/png")}
    assert "c2pa_invalid" in found
    assert 0 < found["ai_c2pa_digital_source_type"].weight < 0.9, "a broken binding weakens the claim"


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_an_ordinary_image_has_no_evidence(fmt):
    assert evidence(encode(scene(10), fmt)) == (0.0, set())


def test_ordinary_text_chunks_are_no_evidence():
    assert evidence(png_with_text(scene(11), {"Title": "Holiday", "Author": "Ann", "parameters2": "x"}))[0] == 0.0


def test_evidence_combines_as_a_noisy_or():
    pieces = [provenance.Evidence("a", "x", "", 0.5), provenance.Evidence("b", "x", "", 0.5)]
    assert provenance.combine(pieces) == 0.75
    assert provenance.combine([]) == 0.0
