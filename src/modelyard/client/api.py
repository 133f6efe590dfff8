"""The web UI's only way to modelyard: typed calls to the public HTTP API (never the database).

Every failure becomes an `ApiError` carrying the API's own message (its error body's `message`), or one
sentence naming the backend when it cannot be reached, so pages show readable text, never a traceback.
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any, BinaryIO

import httpx

from modelyard.client.errors import ModelyardError, Unreachable
from modelyard.client.errors import error_from_response as _error

DEFAULT_BACKEND = "http://127.0.0.1:8000"
TERMINAL = ("completed", "failed", "cancelled")
Upload = tuple[str, BinaryIO | bytes, str]  # (filename, content, content type)
ApiError = ModelyardError  # the name the web UI knows


def backend_url() -> str:
    return os.environ.get("BACKEND_URL", DEFAULT_BACKEND).rstrip("/")


class ApiClient:
    """One signed-in (a JWT `token` or an `api_key`) or anonymous session against BACKEND_URL."""

    def __init__(self, base_url: str | None = None, token: str | None = None, timeout: float = 60.0, *,
                 api_key: str | None = None):
        self.base_url = (base_url or backend_url()).rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if api_key:
            headers["X-API-Key"] = api_key
        self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self):
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise Unreachable(f"cannot reach the modelyard API at {self.base_url} ({type(exc).__name__})") from None
        if response.status_code >= 400:
            raise _error(response)
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._call(method, path, **kwargs)
        return response.json() if response.content else None

    def fetch(self, url: str) -> bytes:
        """Bytes behind a URL the API handed out (signed blob URLs), fetched here so browsers need no route to it."""
        return self._call("GET", url).content

    # --- auth -------------------------------------------------------------------------------------
    def login(self, username: str, password: str) -> dict:
        return self._json("POST", "/api/auth/login", json={"username": username, "password": password})

    def me(self) -> dict:
        return self._json("GET", "/api/auth/user")

    # --- datasets, training, models (mlops-dashboard) ---------------------------------------------
    def upload_dataset(self, filename: str, content: bytes) -> dict:
        return self._json("POST", "/api/upload", files={"file": (filename, content, "text/csv")})

    def datasets(self, *, limit: int = 500, offset: int = 0) -> list[dict]:
        return self._json("GET", "/api/datasets", params={"limit": limit, "offset": offset})

    def train(self, file_id: str, *, target: str | None = None, model_type: str = "auto", budget: float | None = None,
              name: str | None = None) -> dict:
        params = {"target": target, "max_training_time": budget}
        body = {"file_id": file_id, "model_type": model_type, "name": name or None,
                "training_params": {k: v for k, v in params.items() if v is not None}}
        return self._json("POST", "/api/train", json=body)

    def training(self, job_id: str) -> dict:
        return self._json("GET", f"/api/training/{job_id}")

    def models(self, *, page: int = 1, limit: int = 200, status: str | None = None, name: str | None = None) -> dict:
        params = {"page": page, "limit": limit, "status": status, "name": name}
        return self._json("GET", "/api/models", params={k: v for k, v in params.items() if v is not None})

    def model(self, model_id: str) -> dict:
        return self._json("GET", f"/api/models/{model_id}")

    def deploy(self, model_id: str) -> dict:
        return self._json("POST", f"/api/models/{model_id}/deploy")

    def predict(self, ref: str, rows: list[dict]) -> dict:
        return self._json("POST", f"/api/predict/{ref}", json={"data": rows})

    def job(self, job_id: str) -> dict:
        return self._json("GET", f"/api/jobs/{job_id}")

    # --- model registry and feature tables --------------------------------------------------------
    def upload_model(self, *, name: str, version: str | None, description: str | None, deploy: bool,
                     model_file: Upload, artifacts: Iterable[Upload] = (), feature_table: str | None = None) -> dict:
        params = {"model_name": name, "model_version": version or None, "model_description": description or None,
                  "deployment": str(deploy).lower(), "feature_table": feature_table or None}
        files = [("model_file", model_file)] + [("artifact_files", a) for a in artifacts]
        return self._json("POST", "/upload_model", params={k: v for k, v in params.items() if v is not None},
                          files=files)

    def feature_tables(self) -> list[dict]:
        return self._json("GET", "/api/feature-tables")["tables"]

    def feature_table(self, ref: str) -> dict:
        return self._json("GET", f"/api/feature-tables/{ref}")

    def create_feature_table(self, *, name: str, key_columns: str, description: str | None, file: Upload) -> dict:
        params = {"name": name, "key_columns": key_columns, **({"description": description} if description else {})}
        return self._json("POST", "/api/feature-tables", params=params, files={"file": file})

    # --- csv scoring ------------------------------------------------------------------------------
    def scoring_template(self) -> bytes:
        return self._call("GET", "/download_template").content

    def scoring_upload(self, filename: str, content: bytes) -> dict:
        return self._json("POST", "/upload", files={"file": (filename, content, "text/csv")})

    def scoring_validate(self, upload_id: str) -> dict:
        return self._json("POST", "/validate", json={"upload_id": upload_id})

    def scoring_predict(self, upload_id: str) -> dict:
        return self._json("POST", "/predict", json={"upload_id": upload_id})

    def scoring_results(self, job_id: str) -> bytes:
        response = self._call("GET", "/download_results", params={"job_id": job_id})
        if "json" in response.headers.get("content-type", ""):  # large results answer a signed URL
            return self.fetch(response.json()["download_url"])
        return response.content

    def active_model(self) -> dict:
        return self._json("GET", "/api/scoring/active-model")

    def set_active_model(self, model: str) -> dict:
        return self._json("PUT", "/api/scoring/active-model", json={"model": model})

    def retrain(self, threshold_new_labels: int, activate: str) -> dict:
        return self._json("POST", "/retrain", json={"threshold_new_labels": threshold_new_labels,
                                                    "activate": activate})

    def retrain_status(self, job_id: str) -> dict:
        return self._json("GET", f"/retrain/{job_id}")

    def scoring_dashboard(self) -> dict:
        return self._json("GET", "/dashboard")

    # --- labeling ---------------------------------------------------------------------------------
    def requests(self) -> list[dict]:
        return self._json("GET", "/requests", params={"limit": 1000})

    def request(self, request_id: str) -> dict:
        return self._json("GET", f"/requests/{request_id}")

    def create_request(self, title: str, description: str, classes: list[str]) -> dict:
        return self._json("POST", "/requests", json={"title": title, "description": description, "classes": classes})

    def upload_images(self, request_id: str, files: list[Upload]) -> dict:
        return self._json("POST", f"/requests/{request_id}/uploads", files=[("files", f) for f in files])

    def upload_images_presigned(self, request_id: str, files: list[tuple[str, bytes, str]]) -> dict:
        """The contract's presigned flow: `/uploads/presign` for the batch, one PUT of each file straight to
        the storage URL it names (S3's own, or the API's signed blob route), then `/uploads/complete`."""
        signed = self._json("POST", "/uploads/presign", json={
            "request_id": request_id, "files": [{"filename": name, "content_type": kind} for name, _, kind in files]})
        uploaded = []
        for upload, (name, content, _) in zip(signed["uploads"], files):
            url = httpx.URL(self.base_url).join(upload["url"])  # absolute (S3) or the API's own path
            try:  # no Authorization header of ours: the URL's signature is the credential
                stored = httpx.request(upload["method"], url, content=content, headers=upload["headers"],
                                       timeout=self._http.timeout)
            except httpx.TransportError as exc:
                raise Unreachable(f"cannot reach the storage at {url.host} ({type(exc).__name__})") from None
            if stored.status_code >= 400:
                raise _error(stored)
            uploaded.append({"filename": name, "key": upload["key"], "etag": stored.headers.get("ETag")})
        return self._json("POST", "/uploads/complete", json={"request_id": request_id, "uploaded": uploaded})

    def images(self, request_id: str, *, limit: int = 5000, offset: int = 0) -> list[dict]:
        return self._json("GET", f"/requests/{request_id}/uploads", params={"limit": limit, "offset": offset})

    def run_qc(self, request_id: str) -> dict:
        return self._json("POST", f"/requests/{request_id}/qc/run")

    def qc_results(self, request_id: str) -> list[dict]:
        return self._json("GET", f"/requests/{request_id}/qc/results")

    def export_labels(self, request_id: str, fmt: str) -> bytes:
        return self._call("GET", f"/requests/{request_id}/export", params={"format": fmt}).content

    def tasks(self) -> list[dict]:
        return self._json("GET", "/tasks")

    def task(self, task_id: str) -> dict:
        return self._json("GET", f"/tasks/{task_id}")

    def save_labels(self, task_id: str, image_id: str, labels: list[str]) -> dict:
        return self._json("POST", f"/tasks/{task_id}/labels", json={"image_id": image_id, "labels": labels})

    # --- admin ------------------------------------------------------------------------------------
    def users(self) -> list[dict]:
        return self._json("GET", "/admin/users")

    def create_user(self, username: str, password: str, role: str, email: str | None = None) -> dict:
        return self._json("POST", "/admin/users", json={"username": username, "password": password, "role": role,
                                                        **({"email": email} if email else {})})

    def update_user(self, user_id: int, **changes: Any) -> dict:
        return self._json("PATCH", f"/admin/users/{user_id}", json=changes)

    def admin_requests(self) -> list[dict]:
        return self._json("GET", "/admin/requests")

    def admin_tasks(self) -> list[dict]:
        return self._json("GET", "/admin/tasks")

    def assign(self, request_id: str, labeler: str) -> dict:
        return self._json("POST", "/admin/assign", json={"request_id": request_id, "labeler_username": labeler})

    def settings(self) -> dict:
        return self._json("GET", "/api/settings")

    def update_settings(self, changes: dict) -> dict:
        return self._json("PUT", "/api/settings", json=changes)

    def activity(self, *, limit: int = 1000, type_: str | None = None) -> dict:
        return self._json("GET", "/api/activity", params={"limit": limit, **({"type": type_} if type_ else {})})

    def status(self) -> dict:
        return self._json("GET", "/api/status")

    def has_monitoring(self) -> bool:
        """Whether this deployment serves a `/monitoring` page (the prediction platform's, when it lands)."""
        try:
            return self._http.get("/monitoring").status_code == 200
        except httpx.TransportError:
            return False

    # Prediction platform -------------------------------------------------------------------------
    # Account (plan, credits, API keys), the model gallery and its playground, CSV batches of built-in
    # models, credit allocation. Refusals of these calls also carry the error body's `details` (the
    # fields a 422 names, a 402's required/remaining credits) and a 429's `Retry-After`, as attributes
    # of the ApiError, so pages can say exactly what to change.
    def _platform(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise ApiError(f"cannot reach the modelyard API at {self.base_url} ({type(exc).__name__})") from None
        if response.status_code >= 400:
            error = _error(response)
            try:
                body = response.json()
            except ValueError:
                body = None
            error.details = body.get("details") if isinstance(body, dict) else None
            error.retry_after = response.headers.get("Retry-After")
            raise error
        return response

    def _platform_json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._platform(method, path, **kwargs)
        return response.json() if response.content else None

    def api_keys(self) -> list[dict]:
        return self._platform_json("GET", "/api/auth/keys")

    def create_api_key(self, name: str) -> dict:
        return self._platform_json("POST", "/api/auth/keys", json={"name": name})

    def rotate_api_key(self, key_id: str) -> dict:
        return self._platform_json("POST", f"/api/auth/keys/{key_id}/rotate")

    def revoke_api_key(self, key_id: str) -> None:
        self._platform("DELETE", f"/api/auth/keys/{key_id}")

    def gallery_models(self) -> dict:
        return self._platform_json("GET", "/api/model-gallery/models")

    def gallery_model(self, name: str) -> dict:
        return self._platform_json("GET", f"/api/model-gallery/models/{name}")

    def predict_builtin(self, name: str, record: dict, *, industry: str | None = None) -> dict:
        """A flat record to a built-in model: /api/industry/{industry}/{name}, or /api/predict/{name}."""
        path = f"/api/industry/{industry}/{name}" if industry else f"/api/predict/{name}"
        return self._platform_json("POST", path, json=record)

    def activate_gallery_version(self, name: str, version: str) -> dict:
        return self._platform_json("POST", f"/api/model-gallery/models/{name}/activate", json={"version": version})

    def retrain_gallery_model(self, name: str, file: Upload, *, activate: bool = True) -> dict:
        return self._platform_json("POST", f"/api/model-gallery/models/{name}/retrain",
                                   params={"activate": str(activate).lower()}, files={"file": file})

    def csv_batch(self, model: str, file: Upload) -> dict:
        """Answered at once (`results`, `summary`, `data_quality`), or a job for a large file (`job_id`)."""
        return self._platform_json("POST", f"/api/upload/csv/{model}", files={"file": file})

    def csv_batch_results(self, job_id: str) -> bytes:
        return self._platform("GET", f"/api/upload/csv/results/{job_id}").content

    def allocate_credits(self, user_id: int, credits: int, reason: str | None = None) -> dict:
        body = {"credits": credits, **({"reason": reason} if reason else {})}
        return self._platform_json("POST", f"/admin/users/{user_id}/credits", json=body)

    def credit_history(self, *, limit: int = 200, offset: int = 0, user_id: int | None = None) -> dict:
        """The caller's credit ledger, or (admins) a user's: `{credits_remaining, events, total, …}`."""
        path = f"/admin/users/{user_id}/credits/history" if user_id is not None else "/api/credits/history"
        return self._platform_json("GET", path, params={"limit": limit, "offset": offset})

    def enterprise_batch(self, requests: list[dict]) -> dict:
        """Many calls to built-in models, `[{"model", "input"}]`: per-item results, stats, credits used."""
        return self._platform_json("POST", "/api/enterprise/batch/predict", json={"requests": requests})

    # Webhooks --------------------------------------------------------------------------------------
    def webhooks(self) -> dict:
        return self._platform_json("GET", "/api/webhooks")

    def configure_webhook(self, url: str, events: list[str], *, secret: str | None = None,
                          description: str | None = None, active: bool = True) -> dict:
        body = {"url": url, "events": events, "active": active, "secret": secret or None,
                "description": description or None}
        return self._platform_json("POST", "/api/webhooks/configure",
                                   json={k: v for k, v in body.items() if v is not None})

    def update_webhook(self, webhook_id: str, **changes: Any) -> dict:
        return self._platform_json("PATCH", f"/api/webhooks/{webhook_id}", json=changes)

    def delete_webhook(self, webhook_id: str) -> None:
        self._platform("DELETE", f"/api/webhooks/{webhook_id}")

    def send_webhook_test(self, webhook_id: str) -> dict:
        return self._platform_json("POST", f"/api/webhooks/{webhook_id}/test")

    def webhook_deliveries(self, webhook_id: str, *, limit: int = 50, offset: int = 0) -> dict:
        return self._platform_json("GET", f"/api/webhooks/{webhook_id}/deliveries",
                                   params={"limit": limit, "offset": offset})

    # Operations ------------------------------------------------------------------------------------
    def alerts(self, *, status: str | None = None, limit: int = 100) -> dict:
        return self._platform_json("GET", "/monitoring/api/alerts",
                                   params={"limit": limit, **({"status": status} if status else {})})

    def model_status(self, *, days: int = 1) -> dict:
        return self._platform_json("GET", "/api/enterprise/status/models", params={"days": days})

    def usage(self, *, days: int = 7, granularity: str = "day", model: str | None = None) -> dict:
        params = {"days": days, "granularity": granularity, **({"model": model} if model else {})}
        return self._platform_json("GET", "/api/enterprise/analytics/usage", params=params)

    def export_predictions(self, *, fmt: str = "csv", days: int = 30, model: str | None = None) -> bytes:
        params = {"format": fmt, "days": days, **({"model": model} if model else {})}
        return self._platform("GET", "/api/enterprise/export/predictions", params=params).content

    def clear_cache(self) -> dict:
        return self._platform_json("POST", "/api/enterprise/admin/cache/clear")

    def restart_system(self) -> dict:
        return self._platform_json("POST", "/api/enterprise/admin/system/restart")
