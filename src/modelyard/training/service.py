"""Starting training jobs: check the request against the dataset and the settings, then submit."""
from __future__ import annotations

from typing import Any

from modelyard.auth.models import User
from modelyard.data.models import Dataset
from modelyard.errors import Unprocessable
from modelyard.jobs.models import Job
from modelyard.jobs.service import JobService
from modelyard.ops.settings import SettingsService


def estimate_seconds(rows: int, columns: int, budget: float) -> int:
    """A rough guess for the dashboard (four candidates, three folds); the budget caps it."""
    guess = 5 + rows * max(columns, 1) / 40_000
    return int(min(budget, guess))


class TrainingService:
    def __init__(self, jobs: JobService, settings: SettingsService, *, max_budget: float):
        self._jobs = jobs
        self._settings = settings
        self._max_budget = max_budget

    def start(self, dataset: Dataset, *, owner: User, model_type: str | None, params: dict[str, Any],
              name: str | None) -> tuple[Job, int]:
        defaults = self._settings.section("training")
        target = params.get("target") or dataset.column_names[-1]
        if target not in dataset.column_names:
            raise Unprocessable(f"target column {target!r} is not in the dataset; columns: "
                                f"{', '.join(dataset.column_names[:50])}")
        budget = float(params.get("max_training_time") or defaults.defaultTimeout)
        if budget > self._max_budget:
            raise Unprocessable(f"max_training_time may be at most {self._max_budget:.0f} seconds")
        stem = dataset.filename.rsplit(".", 1)[0][:60] or "model"
        job_params = {
            "file_id": dataset.id, "target": target, "task": model_type or defaults.defaultModelType,
            "test_split": params.get("test_split", defaults.defaultTestSplit),
            "random_state": params.get("random_state", defaults.defaultRandomState),
            "max_training_time": budget, "name": name or f"{stem} ({target})",
        }
        job = self._jobs.submit("training", owner=owner, params=job_params)
        return job, estimate_seconds(dataset.rows, dataset.columns, budget)
