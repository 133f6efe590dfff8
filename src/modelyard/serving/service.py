"""Online prediction: resolve the model, check rows against its signature, predict, tally."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from modelyard.auth.models import User
from modelyard.errors import Unprocessable
from modelyard.ops import metrics
from modelyard.ops.activity import PredictionTally
from modelyard.registry.models import ModelVersion
from modelyard.registry.service import ModelNotDeployed, RegistryService
from modelyard.serving.loader import LoadedModel, ModelCache
from modelyard.serving.rows import frame_for


@dataclass
class Prediction:
    version: ModelVersion
    predictions: list[dict[str, Any]]
    ignored_columns: list[str]


def run_model(model: LoadedModel, frame) -> list[dict[str, Any]]:
    from modelyard.training.trainer import predict_with

    return predict_with(model.estimator, model.task, model.classes, frame)


class PredictService:
    def __init__(self, registry: RegistryService, cache: ModelCache, tally: PredictionTally, *, max_rows: int):
        self._registry = registry
        self._cache = cache
        self._tally = tally
        self._max_rows = max_rows

    def predict(self, ref: str, rows: list[dict[str, Any]], *, viewer: User) -> Prediction:
        """Only deployed versions serve; `ref` is a version id or a model name."""
        if len(rows) > self._max_rows:
            raise Unprocessable(f"at most {self._max_rows} rows per request; use batch scoring for more")
        version = self._registry.resolve(ref, viewer=viewer)
        if version.status != "deployed":
            raise ModelNotDeployed(f"model {version.id} is {version.status}, not deployed; "
                                   f"deploy it with POST /api/models/{version.id}/deploy")
        model = self._cache.get(version)
        frame, ignored = frame_for(rows, model.signature)
        started = time.perf_counter()
        predictions = run_model(model, frame)
        metrics.observe_prediction(version.name, version.label, time.perf_counter() - started, len(rows))
        self._tally.add(viewer, version.id, version.name, len(rows))
        return Prediction(version, predictions, ignored)
