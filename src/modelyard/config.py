"""Settings, read once from the environment (MODELYARD_*) and an optional .env file."""
from __future__ import annotations

import os
import secrets
from functools import cached_property
from pathlib import Path

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRETS = {"changeme", "change-me", "secret", "changethis", "please-change"}


def _rate(rule: str, where: str = "") -> str:
    """`rule` when the `limits` library reads it as a rate ("1000/hour"); ValueError naming it otherwise."""
    from limits import parse

    try:
        parse(rule)
    except ValueError:
        raise ValueError(f"{where}{rule!r} is not a rate limit like '1000/hour'") from None
    return rule


class Plan(BaseModel):
    """A plan: the credits a new account on it starts with, and its request limits (None: the global
    MODELYARD_RATE_LIMIT_API_KEY / MODELYARD_RATE_LIMIT_TOKEN, the contract's table)."""

    credits: int = Field(ge=0)
    api_key: str | None = None  # requests per API key, e.g. "1000/hour"
    token: str | None = None  # requests per user with a JWT
    predictions: str | None = None  # built-in model predictions per user (prediction-platform routes)
    uploads: str | None = None  # prediction-platform file uploads per user


DEFAULT_PLANS = {
    "basic": Plan(credits=1000),
    "pro": Plan(credits=10_000, api_key="10000/hour", token="50000/hour", predictions="2000/hour", uploads="100/hour"),
    "enterprise": Plan(credits=100_000, api_key="100000/hour", token="500000/hour", predictions="20000/hour",
                       uploads="1000/hour"),
}


class Settings(BaseSettings):
    """Everything modelyard reads from its environment. Tests pass their own instance."""

    model_config = SettingsConfigDict(env_prefix="MODELYARD_", env_file=".env", extra="ignore")

    home: Path = Path("./modelyard-data")
    database_url: str = ""  # default: SQLite in home; or postgresql://user@host/db
    blob_url: str = ""  # default: home/blobs; or s3://bucket/prefix
    queue_url: str = ""  # default: Huey on SQLite in home; or redis://host:port/db
    queue_name: str = "modelyard"  # Huey queue name (keys in Redis are namespaced by it)
    redis_url: str = ""  # shared rate limits and caches; empty: in process memory

    s3_endpoint_url: str = ""
    s3_region: str = "us-east-1"
    s3_access_key_id: str = ""
    s3_secret_access_key: str = ""
    s3_create_bucket: bool = False  # create the bucket of blob_url when missing; otherwise refuse to start

    secret_key: str = ""  # signs tokens and URLs; generated and kept in home when empty
    token_ttl_seconds: int = Field(default=86400, ge=60)
    signed_url_ttl_seconds: int = Field(default=900, ge=10)
    public_url: str = ""  # base of signed URLs served by modelyard itself; default from the request

    admin_password: str = ""
    admin_username: str = "admin"

    max_json_bytes: int = Field(default=1 * 1024 * 1024, ge=1024)
    max_upload_bytes: int = Field(default=50 * 1024 * 1024, ge=1024)

    max_training_seconds: int = Field(default=3600, ge=5)  # ceiling on any training request's budget
    max_predict_rows: int = Field(default=10_000, ge=1)  # rows per online predict request
    prediction_cache_seconds: int = Field(default=300, ge=0)  # identical built-in calls answered from cache; 0: off
    prediction_cache_entries: int = Field(default=10_000, ge=1)  # per process, when not in Redis
    prediction_log_days: int = Field(default=90, ge=1)  # prediction log entries older than this are deleted hourly
    prediction_log_flush_seconds: float = Field(default=1.0, gt=0, le=60)  # how often buffered entries are written
    max_batch_requests: int = Field(default=1000, ge=1)  # items per /api/enterprise/batch/predict
    max_csv_batch_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)  # /api/upload/csv/{model} (contract: 16MB)
    max_csv_batch_rows: int = Field(default=10_000, ge=1)  # rows per /api/upload/csv/{model}, answered at once
    model_cache_bytes: int = Field(default=1024 * 1024 * 1024, ge=1024)  # loaded models kept per process
    ws_max_connections: int = Field(default=100, ge=1)
    ws_metrics_interval: float = Field(default=5.0, gt=0)
    metrics_token: str = ""  # when set, GET /metrics needs `Authorization: Bearer <token>`

    login_max_failures: int = Field(default=5, ge=1)  # per account from one address
    login_max_failures_account: int = Field(default=20, ge=1)  # per account from all addresses
    login_max_failures_address: int = Field(default=100, ge=1)  # per address over all accounts (a proxy)
    login_failure_window_seconds: int = Field(default=900, ge=1)

    rate_limit_api_key: str = "1000/hour"  # requests per API key
    rate_limit_token: str = "5000/hour"  # requests per user with a JWT
    rate_limit_predictions: str = "200/hour"  # built-in model predictions per user (plans without their own)
    rate_limit_uploads: str = "10/hour"  # prediction-platform file uploads per user (plans without their own)
    rate_limit_address: str = "100/hour"  # sign-ups per client address
    # MODELYARD_PLANS='{"basic": {"credits": 500}, "team": {"credits": 5000, "api_key": "5000/hour"}}'
    plans: dict[str, Plan] = Field(default_factory=lambda: dict(DEFAULT_PLANS))
    default_plan: str = "basic"  # the plan of a new account

    cors_origins: list[str] = []
    cors_allow_credentials: bool = False

    embedded_worker: bool | None = None  # default: on for SQLite queues, off for Redis
    worker_threads: int = Field(default=2, ge=1)
    job_heartbeat_seconds: float = Field(default=5.0, gt=0)
    job_stale_seconds: float = Field(default=30.0, gt=0)
    job_max_attempts: int = Field(default=2, ge=1)
    # With a shared queue (Redis), a CSV scoring job over this many bytes is split into parts of about this
    # size that every live worker takes part in (docs/csv-scoring.md); 0 turns splitting off.
    scoring_part_bytes: int = Field(default=32 * 1024 * 1024, ge=0)
    job_modules: list[str] = []  # extra modules whose HANDLERS table ({kind: handler}) adds job kinds
    ai_detector_onnx: str = ""  # optional ONNX classifier scoring images as AI-generated (docs/labeling.md)

    @field_validator("secret_key")
    @classmethod
    def _refuse_placeholder(cls, value: str) -> str:
        if value and (value.lower() in PLACEHOLDER_SECRETS or len(value) < 32):
            raise ValueError("MODELYARD_SECRET_KEY is a placeholder or shorter than 32 characters")
        return value

    @field_validator("rate_limit_api_key", "rate_limit_token", "rate_limit_predictions", "rate_limit_uploads",
                     "rate_limit_address")
    @classmethod
    def _is_a_rate(cls, rule: str) -> str:
        return _rate(rule)

    @model_validator(mode="after")
    def _plans_are_usable(self) -> "Settings":
        if self.default_plan not in self.plans:
            raise ValueError(f"default_plan {self.default_plan!r} is not one of the plans ({', '.join(self.plans)})")
        for name, plan in self.plans.items():
            for rule in filter(None, (plan.api_key, plan.token, plan.predictions, plan.uploads)):
                _rate(rule, f"plan {name!r}: ")
        return self

    @model_validator(mode="after")
    def _cors_is_safe(self) -> "Settings":
        if self.cors_allow_credentials and "*" in self.cors_origins:
            raise ValueError("CORS: a wildcard origin cannot be combined with credentials")
        return self

    # Derived values -----------------------------------------------------

    @cached_property
    def home_dir(self) -> Path:
        path = self.home.expanduser().resolve()
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def resolved_database_url(self) -> str:
        url = self.database_url or f"sqlite:///{self.home_dir / 'modelyard.db'}"
        if url.startswith("postgresql://") or url.startswith("postgres://"):
            url = "postgresql+psycopg://" + url.split("://", 1)[1]
        return url

    @property
    def resolved_blob_url(self) -> str:
        return self.blob_url or f"file://{self.home_dir / 'blobs'}"

    @property
    def resolved_queue_url(self) -> str:
        return self.queue_url or f"sqlite:///{self.home_dir / 'queue.db'}"

    @property
    def is_embedded_queue(self) -> bool:
        return self.resolved_queue_url.startswith("sqlite")

    @property
    def runs_embedded_worker(self) -> bool:
        return self.is_embedded_queue if self.embedded_worker is None else self.embedded_worker

    @cached_property
    def resolved_secret_key(self) -> str:
        """The configured secret, or one generated on first start and kept in the data folder."""
        if self.secret_key:
            return self.secret_key
        path = self.home_dir / "secret.key"
        if not path.exists():
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(secrets.token_urlsafe(48))
            tmp.chmod(0o600)
            try:
                os.link(tmp, path)  # atomic: the first process to start wins
            except FileExistsError:
                pass
            tmp.unlink(missing_ok=True)
        return path.read_text().strip()
