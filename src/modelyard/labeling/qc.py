"""Quality control of a request's images: duplicates and evidence of AI generation.

`QcService` starts a run (one at a time per request: 409 while one is queued or running) and
reads results. `run_qc` is the job body: it scores every image of the request against
everything stored earlier on the platform, in any request of any customer:

- exact duplicates by SHA-256 (score 1.0, flag `exact_duplicate`);
- near duplicates by perceptual hashes through the multi-index (duplicates.py), rebuilt from the
  database for each run (100,000 images load and index in about a second; see bench/qc_index.py);
- AI-generated evidence from the file (provenance.py) plus the configured detector, if any.

`source_url` points at the closest earlier image only for viewers who may see that image; for
others the score and the flag remain, the URL is withheld (`source_hidden`).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

import numpy as np
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from modelyard.auth.models import User
from modelyard.db.base import new_id, utcnow
from modelyard.errors import Conflict
from modelyard.jobs.models import ACTIVE, Job
from modelyard.jobs.service import JobService
from modelyard.labeling import provenance
from modelyard.labeling.detectors import Detector
from modelyard.labeling.duplicates import HashTable, nearest_earlier, similarity
from modelyard.labeling.images import ImageRejected, open_for_analysis
from modelyard.labeling.models import LabelingImage, LabelingRequest, QcResult
from modelyard.labeling.service import LabelingService
from modelyard.storage.base import BlobStore

log = logging.getLogger("modelyard.labeling")
JOB_KIND = "labeling.qc"
CLAIM_PREFIX = "claim_"
NEAR_DUPLICATE_FLAG = 0.5
AI_FLAG = 0.5
INFO_FLAGS = {"c2pa_manifest", "c2pa_invalid", "c2pa_unreadable", "png_text_unreadable", "detector_failed"}


class QcService:
    def __init__(self, session: Session, jobs: JobService):
        self._session = session
        self._jobs = jobs

    def start(self, request: LabelingRequest, *, user: User) -> Job:
        """Queue a QC run unless one is queued or running (compare-and-set on the request row)."""
        previous = request.qc_job_id
        if previous and self._running(previous):
            raise Conflict(f"QC is already running for request {request.id}", details={"job_id": previous})
        claim = f"{CLAIM_PREFIX}{new_id('qc')}"[:40]
        guard = LabelingRequest.qc_job_id == previous if previous else LabelingRequest.qc_job_id.is_(None)
        claimed = self._session.execute(update(LabelingRequest).where(LabelingRequest.id == request.id, guard)
                                        .values(qc_job_id=claim)).rowcount
        self._session.commit()
        if not claimed:
            raise Conflict(f"QC is already running for request {request.id}")
        try:
            job = self._jobs.submit(JOB_KIND, owner=user, params={"request_id": request.id})
        except BaseException:
            self._set_job(request.id, claim, previous)
            raise
        self._set_job(request.id, claim, job.id)
        return job

    def _running(self, job_id: str) -> bool:
        if job_id.startswith(CLAIM_PREFIX):
            return True  # another caller is submitting right now
        job = self._session.get(Job, job_id)
        if job is not None:
            self._session.refresh(job)
        return job is not None and job.status in ACTIVE

    def _set_job(self, request_id: str, claim: str, job_id: str | None) -> None:
        self._session.execute(update(LabelingRequest).where(LabelingRequest.id == request_id,
                                                            LabelingRequest.qc_job_id == claim)
                              .values(qc_job_id=job_id))
        self._session.commit()

    def results(self, request: LabelingRequest) -> list[tuple[QcResult, LabelingImage, LabelingImage | None]]:
        rows = self._session.execute(
            select(QcResult, LabelingImage).join(LabelingImage, LabelingImage.id == QcResult.image_id)
            .where(QcResult.request_id == request.id).order_by(LabelingImage.created_at, LabelingImage.id)).all()
        source_ids = {r.source_image_id for r, _ in rows if r.source_image_id}
        sources = {i.id: i for i in self._session.scalars(
            select(LabelingImage).where(LabelingImage.id.in_(source_ids)))} if source_ids else {}
        return [(result, image, sources.get(result.source_image_id)) for result, image in rows]


# --- the job --------------------------------------------------------------------------------------


@dataclass
class Verdict:
    duplicate_score: float = 0.0
    source_image_id: str | None = None
    ai_generated_score: float = 0.0
    flags: list[str] | None = None
    evidence: list[dict] | None = None


def run_qc(session: Session, blobs: BlobStore, request_id: str, *, job_id: str | None,
           detector: Detector | None, progress: Callable[[float, str], None]) -> dict:
    request = session.get(LabelingRequest, request_id)
    if request is None:
        raise ValueError(f"request {request_id} no longer exists")
    progress(2, "loading image hashes")
    images, verdicts = _duplicates(session, request)
    progress(20, "checking images for AI-generation evidence")
    for n, image in enumerate(images, start=1):
        _ai_evidence(blobs, image, verdicts[image.id], detector)
        if n % 10 == 0 or n == len(images):
            progress(20 + 75 * n / len(images), f"checked {n} of {len(images)} images")
    session.execute(delete(QcResult).where(QcResult.request_id == request.id))
    now = utcnow()
    for image in images:
        v = verdicts[image.id]
        session.add(QcResult(image_id=image.id, request_id=request.id, job_id=job_id,
                             duplicate_score=round(v.duplicate_score, 4), source_image_id=v.source_image_id,
                             ai_generated_score=v.ai_generated_score, flags=v.flags, evidence=v.evidence,
                             created_at=now))
    session.commit()
    LabelingService(session).refresh_progress(request, event="qc_done")
    return {"request_id": request.id, "images": len(images),
            "duplicates": sum(1 for v in verdicts.values() if v.duplicate_score >= NEAR_DUPLICATE_FLAG),
            "ai_generated": sum(1 for v in verdicts.values() if v.ai_generated_score >= AI_FLAG),
            "detector": detector.name if detector else None, "c2pa": provenance.c2pa_available()}


def _duplicates(session: Session, request: LabelingRequest) -> tuple[list[LabelingImage], dict[str, Verdict]]:
    images = list(session.scalars(select(LabelingImage).where(LabelingImage.request_id == request.id)
                                  .order_by(LabelingImage.created_at, LabelingImage.id)))
    verdicts = {image.id: Verdict(flags=[], evidence=[]) for image in images}
    if not images:
        return images, verdicts
    latest = images[-1].created_at
    rows = session.execute(
        select(LabelingImage.id, LabelingImage.request_id, LabelingImage.sha256, LabelingImage.phash,
               LabelingImage.dhash).where(LabelingImage.created_at <= latest)
        .order_by(LabelingImage.created_at, LabelingImage.id)).all()
    position = {row.id: n for n, row in enumerate(rows)}
    first_with_hash: dict[str, int] = {}
    for n, row in enumerate(rows):
        first_with_hash.setdefault(row.sha256, n)
    queries = np.array([position[image.id] for image in images], dtype=np.int64)
    table = HashTable.from_hex([r.phash for r in rows], [r.dhash for r in rows])
    nearest, distance = nearest_earlier(table, queries)
    for image, row_number, near, dist in zip(images, queries, nearest, distance):
        verdict = verdicts[image.id]
        exact = first_with_hash[image.sha256]
        if exact < row_number:
            source, verdict.duplicate_score = rows[exact], 1.0
            verdict.flags.append("exact_duplicate")
        elif near >= 0 and similarity(dist) > 0:
            source, verdict.duplicate_score = rows[near], float(similarity(dist))
            if verdict.duplicate_score >= NEAR_DUPLICATE_FLAG:
                verdict.flags.append("near_duplicate")
        else:
            continue
        verdict.source_image_id = source.id
        verdict.evidence.append({"flag": "duplicate", "source": "hashes", "weight": verdict.duplicate_score,
                                 "detail": f"closest earlier image {source.id}"
                                           + ("" if exact < row_number else f", hash distance {dist:.1f} of 64")})
        if verdict.duplicate_score >= NEAR_DUPLICATE_FLAG:
            verdict.flags.append("duplicate_in_request" if source.request_id == request.id
                                 else "duplicate_of_earlier_upload")
    return images, verdicts


def _ai_evidence(blobs: BlobStore, image: LabelingImage, verdict: Verdict, detector: Detector | None) -> None:
    data = blobs.read_bytes(image.blob_key)
    try:
        opened = open_for_analysis(data)
    except ImageRejected as exc:
        verdict.flags.append("unreadable")
        verdict.evidence.append({"flag": "unreadable", "source": "image", "weight": 0.0, "detail": exc.message})
        return
    found = provenance.gather(data, opened, content_type=image.content_type)
    if detector is not None:
        try:
            score = detector.score(opened)
            found.append(provenance.Evidence("ai_detector" if score >= AI_FLAG else "detector_score", "detector",
                                             f"{detector.name} scored {score:.3f}", score))
        except Exception as exc:  # a broken model must not hide the metadata evidence
            log.warning("AI detector %s failed on %s: %s", detector.name, image.id, exc)
            found.append(provenance.Evidence("detector_failed", "detector", f"{detector.name}: {exc}"[:200], 0.0))
    verdict.ai_generated_score = provenance.combine(found)
    verdict.flags.extend(e.flag for e in found if e.flag != "detector_score" and (e.weight > 0 or e.flag in INFO_FLAGS))
    verdict.evidence.extend(e.as_dict() for e in found)
