"""QC: duplicates and AI-generated evidence through the API (labeling contract, section 4)."""
import time

import pytest
from PIL import Image

from modelyard.db.base import utcnow
from modelyard.jobs.models import Job
from modelyard.labeling.models import LabelingRequest
from tests.support.images import (
    SD_PARAMETERS, c2pa_signed_png, center_crop, comfyui_png, encode, jpeg, png_with_text, resized, scene,
)
from tests.support.labeling import brightness_onnx, create_request, key_in, upload_ok


def run_qc(client, headers, request_id) -> dict[str, dict]:
    started = client.post(f"/requests/{request_id}/qc/run", headers=headers)
    assert started.status_code == 200, started.text
    assert started.json()["status"] == "started"
    job = client.get(f"/api/jobs/{started.json()['job_id']}", headers=headers).json()
    assert job["status"] == "completed", job
    results = client.get(f"/requests/{request_id}/qc/results", headers=headers)
    assert results.status_code == 200
    return {r["filename"]: r for r in results.json()}


def test_exact_resized_recompressed_and_cropped_copies_score_high_and_point_at_the_original(client, accounts):
    headers = accounts["user"].headers
    earlier = create_request(client, headers, title="earlier")
    original = scene(101, (640, 480))
    upload_ok(client, headers, earlier["id"], [("original.png", encode(original))])
    original_key = client.get(f"/requests/{earlier['id']}/uploads", headers=headers).json()[0]["key"]

    later = create_request(client, headers, title="later")
    upload_ok(client, headers, later["id"], [
        ("exact.png", encode(original)),
        ("resized.png", encode(resized(original, 0.5))),
        ("recompressed.jpg", jpeg(original, quality=55)),
        ("cropped.png", encode(center_crop(original, 0.9))),
        ("distinct-1.png", encode(scene(202, (640, 480)))),
        ("distinct-2.jpg", jpeg(scene(303, (500, 400)))),
    ])
    results = run_qc(client, headers, later["id"])

    assert results["exact.png"]["duplicate_score"] == 1.0
    assert "exact_duplicate" in results["exact.png"]["flags"]
    for name in ("exact.png", "resized.png", "recompressed.jpg", "cropped.png"):
        assert results[name]["duplicate_score"] >= 0.9, (name, results[name])
        assert key_in(results[name]["source_url"]) == original_key, name
        assert "duplicate_of_earlier_upload" in results[name]["flags"], name
    for name in ("distinct-1.png", "distinct-2.jpg"):
        assert results[name]["duplicate_score"] < 0.5, (name, results[name])
        assert results[name]["source_url"] is None
    assert client.get(f"/requests/{later['id']}", headers=headers).json()["status"] == "qc_done"


def test_a_duplicate_inside_one_request_points_at_the_earlier_image(client, accounts):
    headers = accounts["user"].headers
    request = create_request(client, headers)
    picture = scene(404)
    body = upload_ok(client, headers, request["id"], [("first.png", encode(picture)),
                                                      ("second.jpg", jpeg(resized(picture, 0.7), 70))])
    results = run_qc(client, headers, request["id"])
    assert results["first.png"]["duplicate_score"] == 0.0, "the first occurrence is the original"
    assert results["second.jpg"]["duplicate_score"] >= 0.9
    assert results["second.jpg"]["source_image_id"] == body["images"][0]["image_id"]
    assert "duplicate_in_request" in results["second.jpg"]["flags"]


def test_exact_copies_sent_in_one_batch_are_reported_as_exact_duplicates_of_the_first(client, accounts):
    headers = accounts["user"].headers
    request = create_request(client, headers)
    png = encode(scene(505))
    body = upload_ok(client, headers, request["id"], [("first.png", png), ("other.png", encode(scene(506))),
                                                      ("copy.png", png)])
    listed = {i["filename"]: i for i in client.get(f"/requests/{request['id']}/uploads", headers=headers).json()}
    results = run_qc(client, headers, request["id"])
    assert results["first.png"]["duplicate_score"] == 0.0, "the first copy is the original"
    copy = results["copy.png"]
    assert copy["duplicate_score"] == 1.0
    assert {"exact_duplicate", "duplicate_in_request"} <= set(copy["flags"])
    assert copy["source_image_id"] == body["images"][0]["image_id"]
    assert key_in(copy["source_url"]) == listed["first.png"]["key"]
    assert results["other.png"]["duplicate_score"] < 0.5


def test_another_customers_earlier_copy_is_scored_but_its_url_is_withheld(client, accounts):
    picture = encode(scene(505))
    theirs = create_request(client, accounts["other"].headers)
    upload_ok(client, accounts["other"].headers, theirs["id"], [("theirs.png", picture)])
    mine = create_request(client, accounts["user"].headers)
    upload_ok(client, accounts["user"].headers, mine["id"], [("mine.png", picture)])
    result = run_qc(client, accounts["user"].headers, mine["id"])["mine.png"]
    assert result["duplicate_score"] == 1.0
    assert result["source_url"] is None and result["source_image_id"] is None
    assert "source_hidden" in result["flags"]
    as_admin = client.get(f"/requests/{mine['id']}/qc/results", headers=accounts["admin"].headers).json()[0]
    assert as_admin["source_url"] is not None, "admins may follow the source"


def test_images_carrying_generator_metadata_are_flagged_as_ai_generated(client, accounts):
    headers = accounts["user"].headers
    request = create_request(client, headers)
    upload_ok(client, headers, request["id"], [
        ("sd.png", png_with_text(scene(601), {"parameters": SD_PARAMETERS})),
        ("comfy.png", comfyui_png(scene(602))),
        ("c2pa.png", c2pa_signed_png(scene(603))),
        ("camera.jpg", jpeg(scene(604))),
    ])
    results = run_qc(client, headers, request["id"])
    sd = results["sd.png"]
    assert sd["ai_generated_score"] >= 0.9
    assert "ai_png_parameters" in sd["flags"]
    assert any("Stable Diffusion" in e["detail"] for e in sd["evidence"])
    assert results["comfy.png"]["ai_generated_score"] >= 0.9 and "ai_png_comfyui" in results["comfy.png"]["flags"]
    assert results["c2pa.png"]["ai_generated_score"] >= 0.9
    assert {"c2pa_manifest", "ai_c2pa_digital_source_type"} <= set(results["c2pa.png"]["flags"])
    assert results["camera.jpg"]["ai_generated_score"] == 0.0 and results["camera.jpg"]["flags"] == []


def test_qc_cannot_start_while_a_run_is_in_progress(client, accounts, app):
    headers = accounts["user"].headers
    request = create_request(client, headers)
    with app.state.runtime.db.session() as session:
        session.add(Job(id="job_running", kind="labeling.qc", status="in_progress", owner_id=accounts["user"].id,
                        params={"request_id": request["id"]}, created_at=utcnow()))
        session.get(LabelingRequest, request["id"]).qc_job_id = "job_running"
    response = client.post(f"/requests/{request['id']}/qc/run", headers=headers)
    assert response.status_code == 409
    with app.state.runtime.db.session() as session:
        session.get(Job, "job_running").status = "completed"
    assert client.post(f"/requests/{request['id']}/qc/run", headers=headers).status_code == 200


def test_qc_results_are_empty_before_the_first_run(client, accounts):
    headers = accounts["user"].headers
    request = create_request(client, headers)
    upload_ok(client, headers, request["id"], [("a.png", encode(scene(700)))])
    assert client.get(f"/requests/{request['id']}/qc/results", headers=headers).json() == []


def test_a_submission_claim_blocks_a_second_run_only_while_it_is_fresh(client, accounts, app):
    headers = accounts["user"].headers
    request = create_request(client, headers)
    now = int(time.time())
    with app.state.runtime.db.session() as session:
        session.get(LabelingRequest, request["id"]).qc_job_id = f"claim_{now}_0000abcd"
    assert client.post(f"/requests/{request['id']}/qc/run", headers=headers).status_code == 409
    with app.state.runtime.db.session() as session:
        session.get(LabelingRequest, request["id"]).qc_job_id = f"claim_{now - 600}_0000abcd"
    assert client.post(f"/requests/{request['id']}/qc/run", headers=headers).status_code == 200, \
        "a claim left by a process that died while submitting does not block QC forever"


def test_a_detector_configured_in_settings_scores_the_pixels(client, accounts, settings, tmp_path):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    settings.ai_detector_onnx = brightness_onnx(tmp_path / "detector.onnx")
    headers = accounts["user"].headers
    request = create_request(client, headers)
    bright = Image.blend(scene(901), Image.new("RGB", (480, 360), "white"), 0.9)
    dark = Image.blend(scene(902), Image.new("RGB", (480, 360), "black"), 0.9)
    upload_ok(client, headers, request["id"], [("bright.png", encode(bright)), ("dark.png", encode(dark))])
    results = run_qc(client, headers, request["id"])
    assert results["bright.png"]["ai_generated_score"] >= 0.85 and "ai_detector" in results["bright.png"]["flags"]
    assert results["dark.png"]["ai_generated_score"] <= 0.15 and results["dark.png"]["flags"] == []
    assert any(e["source"] == "detector" for e in results["dark.png"]["evidence"])
