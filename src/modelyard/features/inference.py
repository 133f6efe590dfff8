"""Inference by entity keys: find the model version, look its feature row up, predict it."""
from __future__ import annotations

import math
import time
from typing import Any, Mapping

from sqlalchemy.orm import Session

from modelyard.auth.models import User
from modelyard.errors import AppError, Conflict, Unprocessable
from modelyard.features.models import FeatureTable
from modelyard.features.service import FeatureService
from modelyard.ops import metrics
from modelyard.ops.activity import PredictionTally
from modelyard.registry import adapters
from modelyard.registry.uploads import version_named
from modelyard.serving.loader import ModelCache
from modelyard.serving.rows import frame_for

RESERVED = ("model_name", "model_version", "probabilities")


class NoFeatureTable(Conflict):
    code = "NO_FEATURE_TABLE"


def _finite(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


class InferenceService:
    def __init__(self, session: Session, features: FeatureService, cache: ModelCache, tally: PredictionTally, *,
                 allow_pickle: bool):
        self._session = session
        self._features = features
        self._cache = cache
        self._tally = tally
        self._allow_pickle = allow_pickle

    def infer(self, *, viewer: User, model_name: str, model_version: str | None, keys: Mapping[str, str],
              probabilities: bool = False) -> dict[str, Any]:
        version = version_named(self._session, model_name, model_version, viewer=viewer)
        where = f"model {version.name!r} version {version.label!r}"
        if version.status == "archived":
            raise Conflict(f"{where} is archived; deploy it again or use another version")
        if not version.feature_table:
            raise NoFeatureTable(f"{where} has no feature table, so it cannot look entity keys up; link one with "
                                 f"PUT /api/feature-tables/{{table}}/models/{version.id} or upload with feature_table=")
        table = self._session.get(FeatureTable, version.feature_table)
        if table is None:
            raise NoFeatureTable(f"the feature table linked to {where} was deleted; link another one")
        if version.format == "pickle" and not self._allow_pickle:
            raise Conflict(f"{where} is a pickle, and pickle models are served only while the admin setting "
                           "registry.allowPickle is on")
        row = self._features.lookup(table, keys)
        frame, _ = frame_for([row], version.signature or [])
        started = time.perf_counter()
        loaded = self._cache.get(version)
        from modelyard.training.trainer import predict_with

        try:
            result = predict_with(adapters.bind(loaded.estimator, loaded.signature), loaded.task, loaded.classes,
                                  frame)[0]
        except AppError:
            raise
        except Exception as exc:
            raise Unprocessable(f"{where} could not predict this row: {type(exc).__name__}: "
                                f"{str(exc).splitlines()[0][:300] if str(exc) else ''}") from None
        metrics.observe_prediction(version.name, version.label, time.perf_counter() - started)
        self._tally.add(viewer, version.id, version.name, 1)
        answer = {"prediction": _finite(result["prediction"])}
        if probabilities and "probabilities" in result:
            answer["probabilities"] = result["probabilities"]
            answer["confidence"] = result.get("confidence")
        return answer
