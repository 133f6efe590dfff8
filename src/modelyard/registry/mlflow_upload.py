"""`modelyard import-mlflow`: zip a local MLflow model folder and send it to a modelyard server's
``POST /api/models/import/mlflow`` (every check happens on the server; this only packs and sends)."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

from modelyard.registry.mlflow import MLMODEL


class ImportFailed(Exception):
    """The folder could not be sent, or the server refused it (its message)."""


def zip_folder(folder: Path) -> bytes:
    """The regular files under ``folder`` (symbolic links are left out: nothing outside it is sent)."""
    folder = folder.resolve()
    if not (folder / MLMODEL).is_file():
        raise ImportFailed(f"{folder} has no MLmodel file: give the MLflow model folder itself")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_symlink() or not path.is_file() or folder not in path.resolve().parents:
                continue
            archive.write(path, path.relative_to(folder).as_posix())
    return buffer.getvalue()


def send(folder: Path, *, url: str, token: str, name: str, version: str | None = None, deploy: bool = False,
         description: str | None = None, timeout: float = 300.0) -> dict[str, Any]:
    """Upload ``folder`` as model ``name``; the server's answer (the /upload_model fields)."""
    import httpx

    params = {"model_name": name, "deployment": str(deploy).lower()}
    params.update({k: v for k, v in (("model_version", version), ("model_description", description)) if v})
    try:
        response = httpx.post(f"{url.rstrip('/')}/api/models/import/mlflow", params=params, timeout=timeout,
                              headers={"Authorization": f"Bearer {token}"},
                              files={"file": (f"{folder.name or 'model'}.zip", zip_folder(folder), "application/zip")})
    except httpx.HTTPError as exc:
        raise ImportFailed(f"could not reach {url}: {exc}") from None
    try:
        body = response.json()
    except ValueError:
        body = {"message": response.text[:500]}
    if response.status_code != 200:
        raise ImportFailed(f"{response.status_code} {body.get('code', '')}: {body.get('message', body)}")
    return body
