"""Batch scoring of a generated CSV: modelyard's scoring job beside plain pandas, same model, same run.

    python bench/score_csv.py [--rows 1000000]

Each side runs in its own process so that peak memory (max RSS) is its own. The modelyard side is the
real `scoring.predict` job (chunked read, coercion to the signature, prediction, formula
neutralisation, streamed write into the blob store); the pandas side is `read_csv` + `predict` +
`to_csv` of the whole file at once.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def make_data(workdir: Path, rows: int) -> tuple[Path, Path]:
    from modelyard.training import artifacts
    from modelyard.training.trainer import train
    from tests.support.datasets import buyers

    csv = workdir / "batch.csv"
    buyers(rows, seed=3).drop(columns=["will_buy"]).to_csv(csv, index=False)
    result = train(buyers(5000), target="will_buy", time_budget=30)
    model = workdir / "model.skops"
    model.write_bytes(artifacts.dump(result.pipeline))
    (workdir / "meta.json").write_text(json.dumps({"signature": result.features, "classes": result.classes,
                                                   "algorithm": result.algorithm}))
    return csv, model


def run_pandas(workdir: Path) -> dict:
    import pandas as pd

    from modelyard.training import artifacts
    from modelyard.training.trainer import predict_with  # noqa: F401  (same imports as the other side)

    meta = json.loads((workdir / "meta.json").read_text())
    pipeline = artifacts.load((workdir / "model.skops").read_bytes())
    start = time.perf_counter()
    frame = pd.read_csv(workdir / "batch.csv")
    proba = pipeline.predict_proba(frame[[f["name"] for f in meta["signature"]]])
    frame["prediction"] = [meta["classes"][i] for i in proba.argmax(axis=1)]
    for i, name in enumerate(meta["classes"]):
        frame[f"probability_{name}"] = proba[:, i].round(6)
    frame.to_csv(workdir / "pandas-results.csv", index=False)
    return {"seconds": time.perf_counter() - start}


def _runtime(workdir: Path):
    from modelyard.config import Settings
    from modelyard.runtime import Runtime

    settings = Settings(_env_file=None, home=workdir / "home", secret_key="b" * 40, max_upload_bytes=2**34)
    runtime = Runtime(settings, immediate_jobs=True)
    runtime.db.migrate()
    return runtime


def prepare_modelyard(workdir: Path) -> dict:
    """Register the model and upload the file (in a process of its own: not part of the scoring figures)."""
    from modelyard.auth.service import AuthService
    from modelyard.data.service import DataService
    from modelyard.registry.service import RegistryService
    from modelyard.scoring.models import ScoringUpload

    meta = json.loads((workdir / "meta.json").read_text())
    runtime = _runtime(workdir)
    with runtime.db.session() as session:
        user = AuthService(session, secret="", token_ttl=60, limiter=runtime.limiter).create_user("bench", "bench-pw-1")
        version = RegistryService(session, runtime.blobs).create_version(
            owner=user, name="bench", artifact=(workdir / "model.skops").read_bytes(), artifact_name="model.skops",
            format="skops", task="classification", algorithm=meta["algorithm"], signature=meta["signature"],
            target="will_buy", classes=meta["classes"], deploy=True)
        start = time.perf_counter()
        with open(workdir / "batch.csv", "rb") as stream:
            dataset = DataService(session, runtime.blobs, max_bytes=2**34).upload(user, "batch.csv", stream,
                                                                                  purpose="scoring", file_id="upl_bench")
        seconds = time.perf_counter() - start
        session.add(ScoringUpload(id=dataset.id, dataset_id=dataset.id, owner_id=user.id, status="valid",
                                  validated_version_id=version.id))
        session.commit()
    # What deploying through the API does (RegistryService(on_deploy=pipeline.prepare)): check and compile
    # the predictor and keep it beside the artifact, so that scoring workers load it without scikit-learn.
    runtime.predictions.prepare(version.id)
    (workdir / "ids.json").write_text(json.dumps({"version_id": version.id, "upload_id": dataset.id,
                                                  "user_id": user.id}))
    return {"seconds": seconds}


def run_modelyard(workdir: Path) -> dict:
    from modelyard.auth.models import User
    from modelyard.jobs.models import Job
    from modelyard.jobs.service import JobService

    ids = json.loads((workdir / "ids.json").read_text())
    runtime = _runtime(workdir)
    predictions = runtime.predictions
    predictions.model(predictions.version(ids["version_id"]))  # both sides load the model first
    with runtime.db.session() as session:
        user = session.get(User, ids["user_id"])
        start = time.perf_counter()
        job = JobService(session, runtime.queue).submit("scoring.predict", owner=user, params={
            "upload_id": ids["upload_id"], "version_id": ids["version_id"], "version_number": 1})
        seconds = time.perf_counter() - start
        job = session.get(Job, job.id)
        session.refresh(job)
        assert job.status == "completed", job.error
    return {"seconds": seconds, "rows": job.result["rows"]}


def child(side: str, workdir: Path) -> None:
    result = {"pandas": run_pandas, "modelyard": run_modelyard, "prepare": prepare_modelyard}[side](workdir)
    result["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--child", choices=["pandas", "modelyard", "prepare"])
    parser.add_argument("--workdir")
    args = parser.parse_args()
    if args.child:
        return child(args.child, Path(args.workdir))
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        csv, _ = make_data(workdir, args.rows)
        algorithm = json.loads((workdir / "meta.json").read_text())["algorithm"]
        size_mb = csv.stat().st_size / 2**20
        results = {}
        for side in ("prepare", "pandas", "modelyard"):
            out = subprocess.run([sys.executable, __file__, "--child", side, "--workdir", tmp],
                                 check=True, capture_output=True, text=True)
            results[side] = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"\nbatch scoring of {args.rows:,} rows ({size_mb:.1f} MB CSV), one model ({algorithm}), two cores\n")
    print(f"{'path':<34}{'seconds':>10}{'peak RSS MB':>14}")
    print(f"{'pandas read_csv+predict+to_csv':<34}{results['pandas']['seconds']:>10.1f}"
          f"{results['pandas']['max_rss_mb']:>14.0f}")
    print(f"{'modelyard scoring job':<34}{results['modelyard']['seconds']:>10.1f}"
          f"{results['modelyard']['max_rss_mb']:>14.0f}")
    print(f"\n(modelyard's upload + profile of the same file, in its own process and not in the figures above: "
          f"{results['prepare']['seconds']:.1f} s)")


if __name__ == "__main__":
    main()
