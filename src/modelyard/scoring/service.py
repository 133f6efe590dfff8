"""The csv-scoring service: active model, template, uploads, validation, batch jobs, retraining."""
from __future__ import annotations

import io
from datetime import datetime, timezone
from typing import Any, BinaryIO

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from modelyard.auth.models import LoginEvent, User
from modelyard.data.csvio import CsvDialect, iter_frames, read_frame
from modelyard.data.models import Dataset
from modelyard.data.safe_csv import neutralize_frame
from modelyard.data.service import DataService
from modelyard.errors import AppError, BadRequest, Conflict, NotFound
from modelyard.jobs.models import ACTIVE, Job
from modelyard.jobs.service import JobService
from modelyard.registry.models import ModelVersion, RegisteredModel
from modelyard.registry.service import RegistryService
from modelyard.scoring import validation
from modelyard.scoring.models import ScoringUpload
from modelyard.scoring.reference import reference_for
from modelyard.storage.base import BlobStore


class NoActiveModel(AppError):
    status, code, title = 409, "NO_ACTIVE_MODEL", "No active model"


class NotValidated(AppError):
    status, code, title = 409, "UPLOAD_NOT_VALID", "Upload not validated"


CHOOSE = ("no active model is chosen for CSV scoring; an admin chooses one with "
          "PUT /api/scoring/active-model {\"model\": \"<model name or version id>\"} (its deployed version scores)")


class ScoringService:
    def __init__(self, session: Session, blobs: BlobStore, *, registry: RegistryService, jobs: JobService,
                 settings, max_bytes: int):
        self._session = session
        self._blobs = blobs
        self._registry = registry
        self._jobs = jobs
        self._settings = settings
        self._max_bytes = max_bytes

    # The active model ------------------------------------------------------

    def active_model(self) -> RegisteredModel:
        model_id = self._settings.section("scoring").activeModelId
        model = self._session.get(RegisteredModel, model_id) if model_id else None
        if model is None:
            raise NoActiveModel(CHOOSE)
        return model

    def active_version(self) -> ModelVersion:
        model = self.active_model()
        if model.deployed_version_id is None:
            raise NoActiveModel(f"the active model {model.name!r} has no deployed version; deploy one first")
        return self._session.get(ModelVersion, model.deployed_version_id)

    def choose_active(self, ref: str, *, admin: User) -> RegisteredModel:
        try:
            version = self._registry.get_version(ref, viewer=admin)
            model = version.model
        except NotFound:
            model = self._registry.model_by_name(ref, viewer=admin)
        self._settings.update({"scoring": {"activeModelId": model.id}}, user=admin)
        return model

    # Template and uploads --------------------------------------------------

    def template(self) -> tuple[str, bytes]:
        """The active model's columns in order, the target last, and one example row."""
        version = self.active_version()
        columns = [f["name"] for f in version.signature] + ([version.target] if version.target else [])
        example = self._example_row(version)
        frame = pd.DataFrame([[example.get(c, "") for c in columns]], columns=columns)
        buffer = io.StringIO()
        neutralize_frame(frame).to_csv(buffer, index=False)
        return f"{version.name}-v{version.number}-template.csv", buffer.getvalue().encode()

    def _example_row(self, version: ModelVersion) -> dict[str, Any]:
        file_id = (version.training_data or {}).get("file_id")
        dataset = self._session.get(Dataset, file_id) if file_id else None
        if dataset is not None:
            first = read_frame(self._blobs.open(dataset.blob_key), CsvDialect(dataset.encoding, dataset.delimiter),
                               nrows=1)
            if len(first):
                return {k: ("" if pd.isna(v) else v) for k, v in first.iloc[0].to_dict().items()}
        defaults = {"integer": 0, "number": 0.0, "boolean": "false", "datetime": "2024-01-01"}
        return {f["name"]: defaults.get(f.get("type"), "text") for f in version.signature}

    def _next_upload_id(self) -> str:
        today = datetime.now(timezone.utc).strftime("%Y%m%d")
        prefix = f"upl_{today}_"
        count = self._session.scalar(select(func.count()).select_from(ScoringUpload)
                                     .where(ScoringUpload.id.like(prefix + "%"))) or 0
        return f"{prefix}{count + 1:05d}"

    def upload(self, owner: User, filename: str | None, stream: BinaryIO | None) -> ScoringUpload:
        if stream is None:
            raise BadRequest("no file received: send the CSV as multipart/form-data in the form field 'file' "
                             "(for example: curl -F file=@batch.csv …/upload)")
        version = self.active_version()
        data = DataService(self._session, self._blobs, max_bytes=self._max_bytes)
        for _ in range(5):
            upload_id = self._next_upload_id()
            if self._session.get(Dataset, upload_id) is None:
                break
        dataset = data.upload(owner, filename, stream, purpose="scoring", file_id=upload_id)
        labeled = 0
        if version.target and version.target in dataset.column_names:
            column = next((c for c in dataset.profile.get("column_profiles", []) if c.get("name") == version.target), {})
            labeled = dataset.rows - int(column.get("missing", 0))
        upload = ScoringUpload(id=dataset.id, dataset_id=dataset.id, owner_id=owner.id, labeled_rows=labeled)
        try:
            self._session.add(upload)
            self._session.commit()
        except IntegrityError:
            self._session.rollback()
            data.delete(dataset.id, viewer=owner)
            raise Conflict("another upload took the same id at the same moment; send the file again") from None
        return upload

    def get_upload(self, upload_id: str, *, viewer: User) -> ScoringUpload:
        upload = self._session.get(ScoringUpload, upload_id)
        if upload is None or not viewer.can_see(upload):
            raise NotFound("upload", upload_id)
        return upload

    def validate(self, upload: ScoringUpload) -> dict[str, Any]:
        version = self.active_version()
        dataset = upload.dataset
        chunks = iter_frames(self._blobs.open(dataset.blob_key), CsvDialect(dataset.encoding, dataset.delimiter),
                             chunk_rows=50_000, dtype=str)
        ids = [c for c in dataset.profile.get("likely_id_columns", []) if c not in {f["name"] for f in version.signature}]
        report = validation.check(chunks, signature=version.signature, target=version.target,
                                  reference=reference_for(version, self._session, self._blobs), id_columns=ids)
        upload.status = "valid" if report["valid"] else "invalid"
        upload.validation, upload.validated_version_id = report, version.id
        upload.labeled_rows = report["labeled_rows"]
        self._session.commit()
        return report

    # Scoring ---------------------------------------------------------------

    def predict(self, upload: ScoringUpload, *, owner: User) -> Job:
        version = self.active_version()
        if upload.status != "valid" or upload.validated_version_id != version.id:
            issues = (upload.validation or {}).get("issues", [])
            state = "failed validation" if upload.status == "invalid" else "is not validated against the active model"
            raise NotValidated(f"upload {upload.id} {state}; POST /validate first", details={"issues": issues})
        return self._jobs.submit("scoring.predict", owner=owner,
                                 params={"upload_id": upload.id, "version_id": version.id,
                                         "version_number": version.number})

    def scoring_job(self, job_id: str, *, viewer: User) -> Job:
        job = self._jobs.get(job_id, viewer=viewer)
        if job.kind != "scoring.predict":
            raise NotFound("scoring job", job_id)
        return job

    # Retraining ------------------------------------------------------------

    def new_labels(self, model: RegisteredModel) -> tuple[int, list[str]]:
        """Labeled rows uploaded since the newest version of the active model was trained."""
        newest = self._session.scalar(select(func.max(ModelVersion.created_at)).where(ModelVersion.model_id == model.id))
        labeled = select(ScoringUpload).where(ScoringUpload.labeled_rows > 0)
        fresh = [u for u in self._session.scalars(labeled) if newest is None or u.created_at > newest]
        return sum(u.labeled_rows for u in fresh), [u.id for u in self._session.scalars(labeled)]

    def retrain(self, *, admin: User, threshold: int, activate: str) -> dict[str, Any]:
        model = self.active_model()
        version = self.active_version()
        if not version.target:
            raise Conflict(f"model {model.name!r} has no known target column; retraining needs one")
        new, all_uploads = self.new_labels(model)
        answer: dict[str, Any] = {"new_labels": new, "threshold": threshold, "model": model.name,
                                  "current_version": version.number, "current_model_id": version.id}
        if new < threshold:
            return {**answer, "status": "skipped", "trained": False,
                    "message": f"{new} new labeled row(s) since the last training; {threshold} needed"}
        running = self._running_retrain(model)
        if running is not None:
            raise Conflict(f"a retraining of {model.name!r} is already {running.status.replace('_', ' ')} "
                           f"(job {running.id}); follow it at GET /retrain/{running.id}",
                           details={"job_id": running.id, "status": running.status})
        number = self._next_version_number(model)
        job = self._jobs.submit("scoring.retrain", owner=admin, params={
            "model_id": model.id, "base_version_id": version.id, "upload_ids": all_uploads, "activate": activate,
            "new_version": number})
        return {**answer, "status": "started", "trained": True, "job_id": job.id, "new_version": number,
                "message": f"retraining on {new} new labeled row(s) and earlier data into version {number}; "
                           "its status_url answers ready, both versions' metrics and whether it was activated"}

    def _running_retrain(self, model: RegisteredModel) -> Job | None:
        active = select(Job).where(Job.kind == "scoring.retrain", Job.status.in_(ACTIVE)).order_by(Job.created_at)
        return next((j for j in self._session.scalars(active) if j.params.get("model_id") == model.id), None)

    def _next_version_number(self, model: RegisteredModel) -> int:
        return (self._session.scalar(select(func.max(ModelVersion.number))
                                     .where(ModelVersion.model_id == model.id)) or 0) + 1

    def retrain_job(self, job_id: str, *, viewer: User) -> Job:
        job = self._jobs.get(job_id, viewer=viewer)
        if job.kind != "scoring.retrain":
            raise NotFound("retraining job", job_id)
        return job

    def retrain_status(self, job: Job) -> dict[str, Any]:
        """Where a retraining stands; once completed, both versions' figures on the same held-out rows
        and whether the new version was activated, and why."""
        base = self._session.get(ModelVersion, job.params["base_version_id"])
        model = self._session.get(RegisteredModel, job.params["model_id"])
        result = job.result or {}
        ready = job.status == "completed"
        answer: dict[str, Any] = {
            "job_id": job.id, "status": job.status, "ready": ready, "progress": job.progress, "step": job.step,
            "model": model.name if model else None,
            "new_version": result.get("new_version", job.params.get("new_version")),
            "new_model_id": result.get("new_model_id"),
            "current_version": base.number if base else None, "current_model_id": job.params["base_version_id"],
            "metrics": {"new": result.get("metrics_new"), "current": result.get("metrics_current")},
            "compared_on_rows": result.get("compared_on_rows"), "trained_on_rows": result.get("trained_on_rows"),
            "activated": result.get("activated"), "outcome": None, "reason": result.get("reason"),
            "error": job.error, "started_at": job.started_at, "finished_at": job.finished_at}
        if ready:
            answer["outcome"] = "activated" if result.get("activated") else "not activated"
            answer["reason"] = answer["reason"] or result.get("outcome")
        elif job.status in ("failed", "cancelled"):
            answer["outcome"], answer["activated"] = job.status, False
            answer["reason"] = f"the retraining {job.status}" + (f": {job.error}" if job.error else "") + \
                "; the current version stays active"
        return answer

    # Dashboard -------------------------------------------------------------

    def dashboard(self) -> dict[str, Any]:
        s = self._session
        jobs_by_status = dict(s.execute(select(Job.status, func.count()).group_by(Job.status)).all())
        scored = [j.result or {} for j in s.scalars(select(Job).where(Job.kind == "scoring.predict",
                                                                      Job.status == "completed"))]
        retrain = s.scalar(select(Job).where(Job.kind == "scoring.retrain").order_by(Job.created_at.desc()).limit(1))
        uploads = s.scalars(select(ScoringUpload).order_by(ScoringUpload.created_at.desc()).limit(10))
        logins = s.scalars(select(LoginEvent).order_by(LoginEvent.at.desc()).limit(10))
        names = dict(s.execute(select(User.id, User.username)).all())
        return {
            "totals": {"users": s.scalar(select(func.count()).select_from(User)),
                       "uploads": s.scalar(select(func.count()).select_from(ScoringUpload)),
                       "rows_scored": sum(int(r.get("rows", 0)) for r in scored),
                       "scoring_jobs": len(scored), "jobs_by_status": jobs_by_status,
                       "models": s.scalar(select(func.count()).select_from(RegisteredModel)),
                       "model_versions": s.scalar(select(func.count()).select_from(ModelVersion))},
            "last_retrain": None if retrain is None else {
                "job_id": retrain.id, "status": retrain.status, "at": retrain.finished_at or retrain.created_at,
                "outcome": (retrain.result or {}).get("outcome"), "error": retrain.error},
            "recent_uploads": [{"upload_id": u.id, "user": names.get(u.owner_id), "filename": u.dataset.filename,
                                "rows": u.dataset.rows, "status": u.status, "uploaded_at": u.created_at}
                               for u in uploads],
            "recent_logins": [{"username": e.username, "success": e.success, "at": e.at, "address": e.address,
                               "reason": e.reason} for e in logins],
            "predictions_24h": self._predictions(),
        }

    def _predictions(self) -> dict[str, Any]:
        """Every prediction call of the last 24 hours, on any route, from the prediction log (the figures
        /api/enterprise/analytics and /monitoring show)."""
        from datetime import timedelta

        from modelyard.ops.analytics import Analytics

        since = datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(hours=24)
        per_model = Analytics(self._session).per_model(since=since)
        calls = sum(s.calls for s in per_model.values())
        errors = calls - sum(s.ok for s in per_model.values())
        return {"calls": calls, "rows": sum(s.rows for s in per_model.values()), "errors": errors,
                "error_rate": round(100 * errors / calls, 2) if calls else None,
                "by_model": {name: s.calls for name, s in sorted(per_model.items())}}
