"""Inference by entity keys: find the model version, look its feature row up, predict it as one call of
the prediction pipeline (limit, cache keyed by the looked-up row, charge), in the model-registry
contract's dialect."""
from __future__ import annotations

import math
from typing import Any, Mapping

from sqlalchemy.orm import Session

from modelyard.auth.models import User
from modelyard.errors import Conflict
from modelyard.features.models import FeatureTable
from modelyard.features.service import FeatureService
from modelyard.serving.pipeline import ANY_LIVE, PredictionPipeline

RESERVED = ("model_name", "model_version", "probabilities")


class NoFeatureTable(Conflict):
    code = "NO_FEATURE_TABLE"


def _finite(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


class InferenceService:
    def __init__(self, session: Session, features: FeatureService, pipeline: PredictionPipeline):
        self._session = session
        self._features = features
        self._pipeline = pipeline

    def infer(self, *, viewer: User, model_name: str, model_version: str | None, keys: Mapping[str, str],
              probabilities: bool = False) -> dict[str, Any]:
        version = self._pipeline.resolve_named(model_name, model_version, viewer=viewer)
        where = f"model {version.name!r} version {version.label!r}"
        if version.status == "archived":
            raise Conflict(f"{where} is archived; deploy it again or use another version")
        if not version.feature_table:
            raise NoFeatureTable(f"{where} has no feature table, so it cannot look entity keys up; link one with "
                                 f"PUT /api/feature-tables/{{table}}/models/{version.id} or upload with feature_table=")
        table = self._session.get(FeatureTable, version.feature_table)
        if table is None:
            raise NoFeatureTable(f"the feature table linked to {where} was deleted; link another one")
        self._pipeline.authorize(version, statuses=ANY_LIVE)
        row = self._features.lookup(table, keys)
        pipeline = self._pipeline
        result = pipeline.call(version, row, lambda: pipeline.predict(version, [row], viewer=viewer, statuses=ANY_LIVE)
                               .outputs.rows()[0], viewer=viewer, statuses=ANY_LIVE).answer
        answer = {"prediction": _finite(result["prediction"])}
        if probabilities and "probabilities" in result:
            answer["probabilities"] = result["probabilities"]
            answer["confidence"] = result.get("confidence")
        return answer
