"""The QC job: `labeling.qc` with params {"request_id": ...}, run by any worker."""
from __future__ import annotations

from modelyard.jobs.context import JobContext
from modelyard.labeling.detectors import load_detector
from modelyard.labeling.qc import run_qc


def quality_control(ctx: JobContext) -> dict:
    detector = load_detector(ctx.settings.ai_detector_onnx)
    with ctx.db.session() as session:
        return run_qc(session, ctx.blobs, ctx.params["request_id"], job_id=ctx.job_id, detector=detector,
                      progress=ctx.progress)
