"""The training job: load the dataset, search models within the budget, register the best."""
from __future__ import annotations

import time

from modelyard.auth.models import User
from modelyard.data.models import Dataset
from modelyard.jobs.context import JobContext
from modelyard.ops import activity, drift
from modelyard.registry.service import RegistryService


def train_model(ctx: JobContext) -> dict:
    from modelyard.data.service import DataService
    from modelyard.training import artifacts
    from modelyard.training.trainer import train

    p = ctx.params
    ctx.progress(1, "Loading data")
    with ctx.db.session() as session:
        dataset = session.get(Dataset, p["file_id"])
        owner = session.get(User, ctx.owner_id)
        if dataset is None:
            raise ValueError(f"dataset {p['file_id']} no longer exists")
        frame = DataService(session, ctx.blobs, max_bytes=0).load_frame(dataset)
        training_data = {"file_id": dataset.id, "filename": dataset.filename, "rows": dataset.rows}
    started = time.monotonic()
    result = train(frame, target=p["target"], task=p["task"], test_split=float(p["test_split"]),
                   random_state=int(p["random_state"]), time_budget=float(p["max_training_time"]),
                   progress=lambda pct, step: ctx.progress(3 + pct * 0.92, step))
    ctx.progress(96, "Saving model")
    features = [f["name"] for f in result.features]
    training_data.update(features=features, train_rows=result.train_rows, test_rows=result.test_rows,
                         target=result.target, reference=drift.reference(frame, features))
    with ctx.db.session() as session:
        owner = session.get(User, ctx.owner_id)
        version = RegistryService(session, ctx.blobs).create_version(
            owner=owner, name=p["name"], artifact=artifacts.dump(result.pipeline), artifact_name="model.skops",
            format="skops", task=result.task, algorithm=result.algorithm, signature=result.features,
            target=result.target, classes=result.classes, metrics=result.metrics,
            params={**result.params, "random_state": int(p["random_state"]), "test_split": float(p["test_split"])},
            feature_importances=result.feature_importances, training_data=training_data,
            training_job_id=ctx.job_id, training_seconds=round(time.monotonic() - started, 2),
        )
        headline = result.metrics.get("accuracy", result.metrics.get("r2"))
        activity.record(session, "training", f"Model '{version.name}' v{version.number} trained "
                        f"({result.algorithm}, {'accuracy' if result.task == 'classification' else 'R²'} {headline})",
                        user=owner, details={"model_id": version.id, "job_id": ctx.job_id, **result.metrics})
        return {"model_id": version.id, "model_name": version.name, "version": version.number,
                "metrics": result.metrics, "training_time": version.training_seconds,
                "algorithm": result.algorithm, "candidates": result.candidates, "notes": result.notes}
