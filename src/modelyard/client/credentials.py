"""Where the client finds its server and key: the environment first, then the file `modelyard login` writes.

The file is `$XDG_CONFIG_HOME/modelyard/credentials.json` (default `~/.config/modelyard/`), mode 0600, holding
`{"url", "api_key", "username", "key_id"}`; never a password. `MODELYARD_URL` and `MODELYARD_API_KEY` override it.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

DEFAULT_URL = "http://127.0.0.1:8000"


@dataclass(frozen=True)
class Credentials:
    url: str
    api_key: str | None = None
    username: str | None = None
    key_id: str | None = None  # the saved key's id, so that `modelyard logout` can revoke it


def credentials_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "modelyard" / "credentials.json"


def read_file(path: Path | None = None) -> Credentials | None:
    """The saved credentials, or None when there are none; a damaged file is a ValueError naming it."""
    path = path or credentials_path()
    try:
        body = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read {path} ({exc}); run `modelyard login` again") from None
    if not isinstance(body, dict) or not isinstance(body.get("url"), str):
        raise ValueError(f"{path} holds no server url; run `modelyard login` again")
    return Credentials(url=body["url"], api_key=body.get("api_key"), username=body.get("username"),
                       key_id=body.get("key_id"))


def write_file(creds: Credentials, path: Path | None = None) -> Path:
    """Save credentials readable by this user only (the file is created 0600, never widened later)."""
    path = path or credentials_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        os.fchmod(out.fileno(), 0o600)
        json.dump(asdict(creds), out, indent=2)
        out.write("\n")
    return path


def remove_file(path: Path | None = None) -> bool:
    path = path or credentials_path()
    try:
        path.unlink()
        return True
    except FileNotFoundError:
        return False


def resolve(url: str | None = None, api_key: str | None = None) -> Credentials:
    """Explicit arguments, else MODELYARD_URL / MODELYARD_API_KEY, else the saved file, else localhost without a key."""
    saved = read_file() if not (url and api_key) else None
    url = url or os.environ.get("MODELYARD_URL") or (saved.url if saved else DEFAULT_URL)
    env_key = os.environ.get("MODELYARD_API_KEY")
    key = api_key or env_key
    username = key_id = None
    if not key and saved is not None and saved.url.rstrip("/") == url.rstrip("/"):
        key, username, key_id = saved.api_key, saved.username, saved.key_id  # a saved key only goes to its server
    return Credentials(url=url.rstrip("/"), api_key=key, username=username, key_id=key_id)
