"""Application settings in the mlops-dashboard contract's sections: validated, persisted, used."""
from __future__ import annotations

from typing import Any, Literal
from zoneinfo import available_timezones

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy.orm import Session

from modelyard.auth.models import User
from modelyard.db.base import utcnow
from modelyard.errors import Unprocessable
from modelyard.ops.models import AppSetting


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class General(_Section):
    appName: str = Field("modelyard", min_length=1, max_length=100)
    theme: Literal["light", "dark"] = "light"
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        if value != "UTC" and value not in available_timezones():
            raise ValueError(f"unknown time zone {value!r}")
        return value


class Training(_Section):
    defaultTimeout: int = Field(300, ge=5, le=86400, description="seconds; the time budget when a request names none")
    defaultModelType: Literal["auto", "classification", "regression"] = "auto"
    defaultTestSplit: float = Field(0.2, gt=0, lt=0.9)
    defaultRandomState: int = Field(42, ge=0, le=2**32 - 1)
    autoSaveModels: bool = True


class Notifications(_Section):
    emailEnabled: bool = False
    emailAddress: str | None = Field(None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    slackEnabled: bool = False
    slackWebhookUrl: str | None = Field(None, pattern=r"^https://")


class Data(_Section):
    autoCleanup: bool = True
    retentionDays: int = Field(30, ge=1, le=3650, description="uploads older than this, used by no model, are removed")
    maxUploadMB: int = Field(50, ge=1, le=10240, description="largest CSV accepted by /api/upload")


class Scoring(_Section):
    activeModelId: str | None = Field(None, description="the registered model whose deployed version scores CSVs")
    inlineResultsMaxMB: int = Field(20, ge=0, le=10240, description="larger results answer a signed URL")


class Registry(_Section):
    allowPickle: bool = Field(False, description="accept pickle/joblib model uploads, from admins only "
                                                 "(loading one runs the code it carries)")


class Webhooks(_Section):
    """How webhooks are delivered (docs/webhooks.md); non-public targets are refused unless allowed here."""

    allowPrivateTargets: bool = Field(False, description="deliver to private and loopback addresses "
                                                         "(10/8, 172.16/12, 192.168/16, 127/8, fc00::/7, ::1)")
    allowedTargets: list[str] = Field(default_factory=list, max_length=100,
                                      description="hosts, addresses or networks (CIDR) allowed even when not public, "
                                                  "e.g. ['127.0.0.1', 'hooks.internal', '10.1.0.0/16']")
    maxAttempts: int = Field(5, ge=1, le=20, description="attempts per delivery before it is marked failed")
    retryBaseSeconds: float = Field(10.0, ge=0.1, le=3600, description="first retry after this; doubles each time")
    retryMaxSeconds: float = Field(3600.0, ge=1, le=86400, description="longest wait between two attempts")
    timeoutSeconds: float = Field(5.0, ge=0.5, le=30, description="connect and read timeout of one attempt")
    creditLowThreshold: int = Field(100, ge=0, description="user.credit_low fires when a charge takes a balance "
                                                            "from at least this to below it")
    logRetentionDays: int = Field(30, ge=1, le=3650, description="finished deliveries older than this leave the log")

    @field_validator("allowedTargets")
    @classmethod
    def _targets(cls, values: list[str]) -> list[str]:
        from modelyard.webhooks.targets import check_allowed_entry

        return [check_allowed_entry(v) for v in values]


class Alerts(_Section):
    """Alert rules over the prediction log, evaluated every minute (ops/alerts.py)."""

    enabled: bool = Field(True, description="evaluate the rules at all")
    windowMinutes: int = Field(60, ge=1, le=1440, description="how far back each run looks")
    minCalls: int = Field(20, ge=1, description="models with fewer calls in the window are not judged")
    errorRatePercent: float = Field(10.0, ge=0, le=100, description="alert when more calls than this % fail")
    latencyMs: float = Field(1000.0, gt=0, description="alert when the mean latency of a call is above this")
    healthScore: float = Field(60.0, ge=0, le=100, description="alert when the health score is below this")
    confidenceDrop: float = Field(0.15, gt=0, le=1, description="alert when the mean confidence fell by more than "
                                                                "this from the model's own baseline")
    baselineDays: int = Field(7, ge=1, le=90, description="the baseline: the days before the window")
    driftPsi: float = Field(0.25, gt=0, le=10, description="alert when a feature's population stability index "
                                                          "against the training data is above this")
    driftMinRows: int = Field(100, ge=1, description="models with fewer inputs counted in the window are not "
                                                     "judged for drift")


SECTIONS: dict[str, type[_Section]] = {"general": General, "training": Training, "notifications": Notifications,
                                        "data": Data, "scoring": Scoring, "registry": Registry, "webhooks": Webhooks,
                                        "alerts": Alerts}


class SettingsService:
    def __init__(self, session: Session):
        self._session = session

    def section(self, name: str) -> Any:
        row = self._session.get(AppSetting, name)
        return SECTIONS[name].model_validate(row.values if row else {})

    def all(self) -> dict[str, dict[str, Any]]:
        return {name: self.section(name).model_dump() for name in SECTIONS}

    def update(self, changes: dict[str, Any], *, user: User) -> list[str]:
        """Apply a partial update; unknown sections or keys and wrong types are a 422, nothing half-applied."""
        if not isinstance(changes, dict):
            raise Unprocessable("settings must be a JSON object of sections")
        unknown = sorted(set(changes) - set(SECTIONS))
        if unknown:
            raise Unprocessable(f"unknown settings section(s): {', '.join(unknown)}; known: {', '.join(SECTIONS)}")
        updated: list[str] = []
        validated: dict[str, _Section] = {}
        for name, values in changes.items():
            if not isinstance(values, dict):
                raise Unprocessable(f"settings section {name!r} must be an object")
            current = self.section(name).model_dump()
            try:
                validated[name] = SECTIONS[name].model_validate({**current, **values})
            except ValidationError as exc:
                errors = [{"field": f"{name}." + ".".join(str(p) for p in e["loc"]), "msg": e["msg"]}
                          for e in exc.errors()]
                raise Unprocessable("invalid settings: " + "; ".join(f"{e['field']}: {e['msg']}" for e in errors),
                                    details=errors) from None
            updated += [f"{name}.{key}" for key in values]
        for name, section in validated.items():
            row = self._session.get(AppSetting, name) or AppSetting(section=name)
            row.values, row.updated_at, row.updated_by = section.model_dump(), utcnow(), user.id
            self._session.add(row)
        self._session.commit()
        return updated
