"""Quality control of a request's images: duplicates and evidence of AI generation.

`QcService` starts a run (one at a time per request: 409 while one is queued or running) and
reads results. `run_qc` is the job body: it scores every image of the request against
everything stored earlier on the platform, in any request of any customer:

- exact duplicates by SHA-256 (score 1.0, flag `exact_duplicate`);
- near duplicates by perceptual hashes through the multi-index (duplicates.py), rebuilt from the
  database for each run (100,000 images: ~2 s to load, index and search; see docs/labeling.md);
- AI-generated evidence from the file (provenance.py) plus the configured detector, if any.

`source_url` points at the closest earlier image only for viewers who may see that image; for
others the score and the flag remain, the URL is withheld (`source_hidden`).
"""
from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from modelyard.auth.models import User
from modelyard.db.base import utcnow
from modelyard.errors import Conflict
from modelyard.jobs.models import ACTIVE, Job
from modelyard.jobs.service import JobService
from modelyard.labeling import provenance
from modelyard.labeling.detectors import Detector
from modelyard.labeling.duplicates import HashTable, nearest_earlier, similarity
from modelyard.labeling.images import ImageRejected, open_for_analysis
from modelyard.labeling.models import LabelingImage, LabelingRequest, QcResult
from modelyard.labeling.service import LabelingService
from modelyard.storage.base import BlobNotFound, BlobStore

log = logging.getLogger("modelyard.labeling")
JOB_KIND = "labeling.qc"
CLAIM_PREFIX = "claim_"
CLAIM_SECONDS = 60  # a claim older than this was left by a process that died while submitting
LOAD_BATCH = 20_000
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
        claim = f"{CLAIM_PREFIX}{int(time.time())}_{secrets.token_hex(4)}"
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
        if job_id.startswith(CLAIM_PREFIX):  # another caller is submitting right now
            claimed_at = job_id[len(CLAIM_PREFIX):].split("_", 1)[0]
            return claimed_at.isdigit() and time.time() - int(claimed_at) < CLAIM_SECONDS
        job = self._session.get(Job, job_id)
        if job is not None:
            self._session.refresh(job)
        return job is not None and job.status in ACTIVE

    def _set_job(self, request_id: str, claim: str, job_id: str | None) -> None:
        self._session.execute(update(LabelingRequest).where(LabelingRequest.id == request_id,
                                                            LabelingRequest.qc_job_id == claim)
                              .values(qc_job_id=job_id))
        self._session.commit()

    def results(self, request: LabelingRequest, *, viewer: User) -> list[QcView]:
        """The latest run's results; a source image the viewer may not see is withheld."""
        rows = self._session.execute(
            select(QcResult, LabelingImage).join(LabelingImage, LabelingImage.id == QcResult.image_id)
            .where(QcResult.request_id == request.id).order_by(LabelingImage.created_at, LabelingImage.id)).all()
        source_ids = {r.source_image_id for r, _ in rows if r.source_image_id}
        sources = {i.id: i for i in self._session.scalars(
            select(LabelingImage).where(LabelingImage.id.in_(source_ids)))} if source_ids else {}
        views = []
        for result, image in rows:
            source = sources.get(result.source_image_id)
            hidden = source is not None and not viewer.can_see(source)
            flags = list(result.flags) + (["source_hidden"] if hidden else [])
            evidence = [e for e in result.evidence if not (hidden and e.get("flag") == "duplicate")]
            views.append(QcView(result, image, None if hidden else source, flags, evidence))
        return views


@dataclass(frozen=True)
class QcView:
    result: QcResult
    image: LabelingImage
    source: LabelingImage | None  # None when there is none or the viewer may not see it
    flags: list[str]
    evidence: list[dict]


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
    exact = _earliest_twins(session, images)
    ids, table = _load_hashes(session, until=images[-1].created_at)
    wanted = {image.id for image in images}
    position = {image_id: n for n, image_id in enumerate(ids) if image_id in wanted}
    nearest, distance = nearest_earlier(table, np.array([position[i.id] for i in images], dtype=np.int64))
    near = {image.id: (ids[best], float(similarity(dist)), float(dist))
            for image, best, dist in zip(images, nearest, distance) if best >= 0 and similarity(dist) > 0}
    source_ids = set(exact.values()) | {source for source, _, _ in near.values()}
    requests_of = dict(session.execute(select(LabelingImage.id, LabelingImage.request_id)
                                       .where(LabelingImage.id.in_(source_ids))).all()) if source_ids else {}
    for image in images:
        verdict = verdicts[image.id]
        if image.id in exact:
            source, score, detail = exact[image.id], 1.0, "identical bytes"
            verdict.flags.append("exact_duplicate")
        elif image.id in near:
            source, score, dist = near[image.id]
            detail = f"mean pHash/dHash distance {dist:.1f} of 64"
            if score >= NEAR_DUPLICATE_FLAG:
                verdict.flags.append("near_duplicate")
        else:
            continue
        verdict.source_image_id, verdict.duplicate_score = source, round(score, 4)
        verdict.evidence.append({"flag": "duplicate", "source": "hashes", "weight": verdict.duplicate_score,
                                 "detail": f"closest earlier image {source}: {detail}"})
        if score >= NEAR_DUPLICATE_FLAG:
            verdict.flags.append("duplicate_in_request" if requests_of.get(source) == request.id
                                 else "duplicate_of_earlier_upload")
    return images, verdicts


def _earliest_twins(session: Session, images: list[LabelingImage]) -> dict[str, str]:
    """image id → the earliest earlier image with the same bytes, anywhere (indexed by sha256)."""
    twins: dict[str, str] = {}
    hashes = list({image.sha256 for image in images})
    first: dict[str, tuple] = {}
    for start in range(0, len(hashes), 500):
        rows = session.execute(select(LabelingImage.id, LabelingImage.sha256, LabelingImage.created_at)
                               .where(LabelingImage.sha256.in_(hashes[start:start + 500])))
        for image_id, sha256, created_at in rows:
            if sha256 not in first or (created_at, image_id) < first[sha256]:
                first[sha256] = (created_at, image_id)
    for image in images:
        earliest = first.get(image.sha256)
        if earliest and earliest < (image.created_at, image.id):
            twins[image.id] = earliest[1]
    return twins


def _load_hashes(session: Session, *, until) -> tuple[list[str], HashTable]:
    """Ids and hashes of every image stored up to `until`, in upload order, streamed in batches."""
    ids: list[str] = []
    phashes, dhashes = [], []
    result = session.execute(
        select(LabelingImage.id, LabelingImage.phash, LabelingImage.dhash)
        .where(LabelingImage.created_at <= until).order_by(LabelingImage.created_at, LabelingImage.id)
        .execution_options(yield_per=LOAD_BATCH))
    for batch in result.partitions():
        ids.extend(row[0] for row in batch)
        part = HashTable.from_hex([row[1] for row in batch], [row[2] for row in batch])
        phashes.append(part.phash)
        dhashes.append(part.dhash)
    if not ids:
        return ids, HashTable.from_hex([], [])
    return ids, HashTable(np.concatenate(phashes), np.concatenate(dhashes))


def _ai_evidence(blobs: BlobStore, image: LabelingImage, verdict: Verdict, detector: Detector | None) -> None:
    try:
        data = blobs.read_bytes(image.blob_key)
        opened = open_for_analysis(data)
    except BlobNotFound:
        verdict.flags.append("unreadable")
        verdict.evidence.append({"flag": "unreadable", "source": "image", "weight": 0.0,
                                 "detail": "the stored image is missing from the blob store"})
        return
    except ImageRejected as exc:
        verdict.flags.append("unreadable")
        verdict.evidence.append({"flag": "unreadable", "source": "image", "weight": 0.0, "detail": exc.message})
        return
    found = provenance.gather(data, opened, content_type=image.content_type)
    if detector is not None:
        try:
            if opened.format == "JPEG":
                opened.draft("RGB", (1024, 1024))  # the detector resizes anyway: decode at a fraction
            score = detector.score(opened)
            found.append(provenance.Evidence("ai_detector" if score >= AI_FLAG else "detector_score", "detector",
                                             f"{detector.name} scored {score:.3f}", score))
        except Exception as exc:  # a broken model must not hide the metadata evidence
            log.warning("AI detector %s failed on %s: %s", detector.name, image.id, exc)
            found.append(provenance.Evidence("detector_failed", "detector", f"{detector.name}: {exc}"[:200], 0.0))
    verdict.ai_generated_score = provenance.combine(found)
    verdict.flags.extend(e.flag for e in found if e.flag != "detector_score" and (e.weight > 0 or e.flag in INFO_FLAGS))
    verdict.evidence.extend(e.as_dict() for e in found)
