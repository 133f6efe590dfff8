"""`Client`: the public API's calls (ApiClient) plus the workflows scripts want in one call — sign in with a
key or a password, send files in chunks with progress, follow jobs, predict DataFrames, score a file to a file.
"""
from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx

from modelyard.client import credentials, frames, jobs
from modelyard.client.api import ApiClient
from modelyard.client.errors import ModelyardError, Unreachable, error_from_response
from modelyard.client.jobs import JobState
from modelyard.client.streams import ByteProgress, CountingReader

JobProgress = Callable[[JobState], None]
PathLike = str | os.PathLike


class Client(ApiClient):
    """A session against one modelyard server; every refusal raises ModelyardError (status, code, message)."""

    @classmethod
    def from_credentials(cls, url: str | None = None, api_key: str | None = None, *,
                         timeout: float = 60.0) -> "Client":
        """Arguments, else MODELYARD_URL / MODELYARD_API_KEY, else the file `modelyard login` saved."""
        found = credentials.resolve(url, api_key)
        return cls(found.url, api_key=found.api_key, timeout=timeout)

    @classmethod
    def from_login(cls, url: str, username: str, password: str, *, timeout: float = 60.0) -> "Client":
        """Signed in with a password: the session holds the short-lived token the server answers."""
        with cls(url, timeout=timeout) as anonymous:
            token = anonymous.login(username, password)["access_token"]
        return cls(url, token=token, timeout=timeout)

    # --- API keys ---------------------------------------------------------------------------------
    def create_api_key(self, name: str) -> dict:
        """A new key of the signed-in user; `api_key` holds it in full, in this answer only."""
        return self._json("POST", "/api/auth/keys", json={"name": name})

    def api_keys(self) -> list[dict]:
        return self._json("GET", "/api/auth/keys")

    def revoke_api_key(self, key_id: str) -> None:
        self._call("DELETE", f"/api/auth/keys/{key_id}")

    # --- files ------------------------------------------------------------------------------------
    def upload_dataset_file(self, path: PathLike, *, on_progress: ByteProgress | None = None) -> dict:
        """Send a CSV for training (POST /api/upload) in chunks, never whole in memory."""
        return self._send_file("/api/upload", path, on_progress=on_progress)

    def _send_file(self, route: str, path: PathLike, *, on_progress: ByteProgress | None, field: str = "file",
                   content_type: str = "text/csv", params: dict | None = None) -> dict:
        path = Path(path)
        with path.open("rb") as file:
            reader = CountingReader(file, on_progress)
            return self._json("POST", route, params=params, files={field: (path.name, reader, content_type)})

    def download(self, url: str, out: PathLike, *, params: dict | None = None,
                 on_progress: ByteProgress | None = None) -> Path:
        """Stream a response body into `out` (written beside it, then renamed: never a half file at `out`).

        A JSON answer holding a `download_url` (large results are handed out as signed URLs) is followed."""
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, partial = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent)
        try:
            with os.fdopen(fd, "wb") as sink, self._stream("GET", url, params=params) as response:
                if "json" in response.headers.get("content-type", ""):
                    with self._stream("GET", _signed_url(response.read())) as followed:
                        _copy(followed, sink, on_progress)
                else:
                    _copy(response, sink, on_progress)
            os.replace(partial, out)
        finally:
            if os.path.exists(partial):
                os.unlink(partial)
        return out

    @contextmanager
    def _stream(self, method: str, url: str, **kwargs: Any) -> Iterator[httpx.Response]:
        """An open streamed response; refusals raise as every other call does. A URL on another host (a
        store's signed URL) is fetched without this session's credentials."""
        foreign = url.startswith(("http://", "https://")) and not url.startswith(self.base_url + "/")
        try:
            with (httpx.stream(method, url, timeout=self._http.timeout, **kwargs) if foreign
                  else self._http.stream(method, url, **kwargs)) as response:
                if response.status_code >= 400:
                    response.read()
                    raise error_from_response(response)
                yield response
        except httpx.TransportError as exc:
            raise Unreachable(f"cannot reach the modelyard API at {self.base_url} ({type(exc).__name__})") from None

    # --- models, feature tables, labeling ---------------------------------------------------------
    def upload_model_file(self, path: PathLike, *, name: str, version: str | None = None,
                          description: str | None = None, deploy: bool = False, artifacts: Iterable[PathLike] = (),
                          feature_table: str | None = None) -> dict:
        """Register a model file (skops, ONNX, LightGBM, XGBoost) and its artifacts (POST /upload_model)."""
        with ExitStack() as files:
            model = files.enter_context(Path(path).open("rb"))
            extra = [(Path(a).name, files.enter_context(Path(a).open("rb")), "application/octet-stream")
                     for a in artifacts]
            return self.upload_model(name=name, version=version, description=description, deploy=deploy,
                                     model_file=(Path(path).name, model, "application/octet-stream"),
                                     artifacts=extra, feature_table=feature_table)

    def create_feature_table_file(self, path: PathLike, *, name: str, key_columns: str | Iterable[str],
                                  description: str | None = None) -> dict:
        """A feature table from a CSV or Parquet file, indexed on `key_columns` for point lookups."""
        keys = key_columns if isinstance(key_columns, str) else ",".join(key_columns)
        with Path(path).open("rb") as file:
            return self.create_feature_table(name=name, key_columns=keys, description=description,
                                             file=(Path(path).name, file, "application/octet-stream"))

    def upload_image_files(self, request_id: str, paths: Iterable[PathLike]) -> dict:
        """Images for a labeling request, in one multipart request."""
        with ExitStack() as files:
            sent = [(Path(p).name, files.enter_context(Path(p).open("rb")), "application/octet-stream")
                    for p in paths]
            return self.upload_images(request_id, sent)

    # --- jobs -------------------------------------------------------------------------------------
    def follow_job(self, job_id: str, *, interval: float = 1.0, timeout: float | None = None) -> Iterator[JobState]:
        """Each new state of a job until it ends (GET /api/jobs/{id}); a 429 waits as long as the server asks."""
        return jobs.follow(lambda: self._job_body(job_id), interval=interval, timeout=timeout)

    def _job_body(self, job_id: str) -> dict:
        while True:
            try:
                return self.job(job_id)
            except ModelyardError as exc:
                if exc.status != 429:
                    raise
                time.sleep(min(exc.retry_after or 5.0, 60.0))

    def wait_job(self, job_id: str, *, on_progress: JobProgress | None = None, timeout: float | None = None,
                 what: str = "job", interval: float = 1.0) -> JobState:
        """The job's final state once it has completed; JobFailed when it failed or was cancelled."""
        state = None
        for state in self.follow_job(job_id, interval=interval, timeout=timeout):
            if on_progress is not None:
                on_progress(state)
        assert state is not None
        return jobs.completed(state, what)

    # --- training, predicting ---------------------------------------------------------------------
    def train_and_wait(self, file_id: str, *, target: str | None = None, model_type: str = "auto",
                       budget: float | None = None, name: str | None = None, on_progress: JobProgress | None = None,
                       timeout: float | None = None) -> dict:
        """Train on an uploaded dataset and wait: the training's final answer (`model_id`, `metrics`, ...)."""
        started = self.train(file_id, target=target, model_type=model_type, budget=budget, name=name)
        self.wait_job(started["job_id"], on_progress=on_progress, timeout=timeout, what="training")
        return self.training(started["job_id"])

    def predict_frame(self, ref: str, frame: Any, *, chunk_rows: int = 1000) -> Any:
        """Predictions for a pandas DataFrame's rows, as a DataFrame on the same index (see frames.py for its
        columns); sent `chunk_rows` rows per request. `ref`: a model version id or a model name."""
        import pandas as pd

        if chunk_rows < 1:
            raise ValueError("chunk_rows must be at least 1")
        parts = []
        for start in range(0, len(frame), chunk_rows):
            chunk = frame.iloc[start:start + chunk_rows]
            answer = self.predict(ref, frames.records(chunk))
            parts.append(frames.predictions_frame(answer["predictions"], chunk.index))
        return pd.concat(parts) if parts else frames.predictions_frame([], frame.index)

    # --- batch scoring (csv-scoring) --------------------------------------------------------------
    def score_file(self, path: PathLike, out: PathLike, *, on_upload: ByteProgress | None = None,
                   on_job: JobProgress | None = None, on_download: ByteProgress | None = None,
                   timeout: float | None = None) -> dict:
        """Score a CSV with the active scoring model: upload, validate, score in a job, download to `out`.

        Answers `{upload_id, job_id, model_id, model_version, rows, out}`. A file that fails validation is
        refused by the server (its code and message, the issues in `details`)."""
        upload = self._send_file("/upload", path, on_progress=on_upload)
        validation = self.scoring_validate(upload["upload_id"])
        job = self.scoring_predict(upload["upload_id"])  # the server refuses an invalid upload, with the issues
        final = self.wait_job(job["job_id"], on_progress=on_job, timeout=timeout, what="scoring")
        self.download("/download_results", out, params={"job_id": job["job_id"]}, on_progress=on_download)
        return {"upload_id": upload["upload_id"], "job_id": job["job_id"], "model_id": validation["model_id"],
                "model_version": validation["model_version"], "rows": (final.result or {}).get("rows"),
                "out": str(out)}


def _signed_url(body: bytes) -> str:
    import json

    try:
        url = json.loads(body).get("download_url")
    except (ValueError, AttributeError):
        url = None
    if not isinstance(url, str):
        raise ModelyardError("the server answered JSON without a download_url where a file was expected")
    return url


def _copy(response: httpx.Response, sink: Any, on_progress: ByteProgress | None) -> None:
    total = int(response.headers["content-length"]) if "content-length" in response.headers else None
    done = 0
    for chunk in response.iter_bytes(1 << 16):
        sink.write(chunk)
        done += len(chunk)
        if on_progress is not None:
            on_progress(done, total)
    if on_progress is not None and total is None:  # a streamed body of unknown length: its end is 100%
        on_progress(done, done)
