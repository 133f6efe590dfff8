"""Build the fastest faithful predictor for a model, and say why it is the one used.

Candidates, fastest first: an encoder feeding the final estimator converted to ONNX (double precision
only); for LightGBM, the encoder feeding its booster directly; the encoder feeding the estimator itself
on a numpy array; the native pipeline on a DataFrame. Each compiled
candidate is checked against the native predictor on a sample (the version's training data when it is
still there, else rows generated from the signature, plus a row of missing values and a row of unseen
categories), through both the online (JSON rows) and the batch (CSV text) paths: the largest absolute
difference in probabilities (regression: in values, relative to max(1, |value|)) must be at most 1e-5
and every predicted label identical. The first candidate that passes is used; the report of what was
tried is kept in the version's ``serving`` field (shown by ``GET /api/models/{id}``).
"""
from __future__ import annotations

import logging
import time
from datetime import datetime, timezone
from typing import Any, Callable

import numpy as np
import pandas as pd

from modelyard.serving.encoders import UNSEEN, ArrayEncoder, NotCompilable, TrainedEncoder
from modelyard.serving.inputs import NUMERIC, coerce
from modelyard.serving.outputs import Outputs
from modelyard.serving.predictors import (
    BoosterCore, CompiledPredictor, EstimatorCore, HistTreesCore, NativePredictor, onnx_core,
)

log = logging.getLogger("modelyard.serving")
TOLERANCE = 1e-5
SAMPLE_ROWS = 1000
SMALL_BATCH = 8  # also checked alone: online requests are a few rows


def serving_copy(estimator: Any) -> Any:
    """The estimator set to predict on one thread (serving must not spin the math libraries' pools)."""
    try:
        if "n_jobs" in estimator.get_params(deep=False):
            estimator.set_params(n_jobs=1)
    except Exception:
        pass
    return estimator


def _candidates(estimator: Any, signature: list[dict[str, Any]], task: str,
                classes: list[Any] | None) -> tuple[list[tuple[str, str, Callable[[], CompiledPredictor]]], list[str]]:
    """[(encoder name, core name, build)] in the order to try, and notes on what was not possible."""
    from modelyard.registry.adapters import BoundModel, ModelAdapter, PositionalSklearn

    notes: list[str] = []
    try:
        encoder, model = TrainedEncoder.of(estimator, signature)
    except NotCompilable as exc:
        encoder = None
        notes.append(f"trained-pipeline encoder: {exc}")
    if encoder is not None:
        model = serving_copy(model)
        found = [("trained-pipeline", "onnx", lambda: CompiledPredictor(encoder, onnx_core(model, encoder.width, task, classes)))]
        if hasattr(model, "booster_"):  # LightGBM
            found.append(("trained-pipeline", "booster", lambda: CompiledPredictor(encoder, BoosterCore(model, task, classes))))
        if hasattr(model, "_predictors") and hasattr(model, "_baseline_prediction"):  # HistGradientBoosting
            found.append(("trained-pipeline", "hist-trees",
                          lambda: CompiledPredictor(encoder, HistTreesCore(model, task, classes))))
        found.append(("trained-pipeline", "estimator", lambda: CompiledPredictor(encoder, EstimatorCore(model, task, classes))))
        return found, notes
    found_names = getattr(estimator, "feature_names_in_", None)
    names = [str(n) for n in (found_names if found_names is not None else [f["name"] for f in signature])]
    array = ArrayEncoder(names, signature)
    inner = estimator.model if isinstance(estimator, BoundModel) else estimator
    inner = inner.estimator if isinstance(inner, PositionalSklearn) else inner
    found = []
    if array.numeric and not isinstance(inner, ModelAdapter) and hasattr(inner, "get_params"):
        inner = serving_copy(inner)
        found.append(("array", "onnx", lambda: CompiledPredictor(array, onnx_core(inner, len(names), task, classes))))
    found.append(("array", "estimator", lambda: CompiledPredictor(array, EstimatorCore(estimator, task, classes))))
    return found, notes


def build(native: NativePredictor, sample: pd.DataFrame | None) -> tuple[Any, dict[str, Any]]:
    """(the predictor to serve with, the report to keep)."""
    started = time.perf_counter()
    origin = "training data" if sample is not None and len(sample) else "generated from the signature"
    frame = sample.head(SAMPLE_ROWS) if sample is not None and len(sample) else synthetic(native.signature)
    frame = _with_edges(frame.reset_index(drop=True), native.signature)
    rows = _rows(frame, native.signature)
    report: dict[str, Any] = {"predictor": "native", "encoder": None, "core": None, "sample": origin,
                              "checked_rows": len(rows), "tried": []}
    try:
        reference = (native.predict_rows(rows), native.predict_frame(frame))
    except Exception:  # e.g. a model that refuses missing values: check on complete rows only
        frame = frame[frame.notna().all(axis=1)].reset_index(drop=True)
        rows = _rows(frame, native.signature)
        report.update(checked_rows=len(rows), sample=f"{origin}, complete rows only (the model refuses missing values)")
        try:
            if not rows:
                raise ValueError("no complete rows")
            reference = (native.predict_rows(rows), native.predict_frame(frame))
        except Exception as exc:
            report["reason"] = f"the native model could not predict the check sample ({type(exc).__name__}); kept native"
            return native, _finish(report, started)
    candidates, notes = _candidates(native.estimator, native.signature, native.task, native.classes)
    report["tried"] += [{"outcome": note} for note in notes]
    reference_few = native.predict_rows(rows[:SMALL_BATCH])
    for encoder, core, make in candidates:
        entry = {"encoder": encoder, "core": core}
        report["tried"].append(entry)
        try:
            predictor = make()
            diff, same = _compare(reference, (predictor.predict_rows(rows), predictor.predict_frame(frame)))
            few = rows[:SMALL_BATCH]  # cores may take another path for a few rows (hist-trees does)
            small = _compare((reference_few,), (predictor.predict_rows(few),))
            diff, same = max(diff, small[0]), same and small[1]
        except Exception as exc:
            entry["outcome"] = f"failed: {type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"
            continue
        entry.update(max_abs_diff=diff, labels_identical=same)
        if diff <= TOLERANCE and same:
            entry["outcome"] = "faithful"
            report.update(predictor="compiled", encoder=encoder, core=core, max_abs_diff=diff, labels_identical=True)
            return predictor, _finish(report, started)
        entry["outcome"] = f"not faithful (max difference {diff:.2e}, labels identical: {same})"
    report["reason"] = "no compiled predictor matched the native model; kept native"
    return native, _finish(report, started)


def rebuild(native: NativePredictor, report: dict[str, Any]) -> Any:
    """The predictor a report chose, without checking again (it was checked when the report was made)."""
    if report.get("predictor") != "compiled":
        return native
    candidates, _ = _candidates(native.estimator, native.signature, native.task, native.classes)
    for encoder, core, make in candidates:
        if (encoder, core) == (report.get("encoder"), report.get("core")):
            try:
                return make()
            except Exception:
                log.warning("could not rebuild the %s/%s predictor; serving natively", encoder, core, exc_info=True)
    return native


def _finish(report: dict[str, Any], started: float) -> dict[str, Any]:
    report["build_seconds"] = round(time.perf_counter() - started, 3)
    report["checked_at"] = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
    return report


def _compare(reference: tuple[Outputs, Outputs], got: tuple[Outputs, Outputs]) -> tuple[float, bool]:
    worst, same = 0.0, True
    for ref, out in zip(reference, got):
        if ref.proba is not None:
            if out.proba is None or out.proba.shape != ref.proba.shape or ref.labels != out.labels:
                return float("inf"), False
            worst = max(worst, float(np.max(np.abs(ref.proba - out.proba), initial=0.0)))
            same = same and bool(np.array_equal(ref.predictions, out.predictions))
        else:
            a, b = np.asarray(ref.values), np.asarray(out.values)
            if a.dtype == object or b.dtype == object:
                same = same and bool(np.array_equal(a, b))
                continue
            scale = np.maximum(1.0, np.abs(a))
            both_nan = np.isnan(a) & np.isnan(b)
            diff = np.where(both_nan, 0.0, np.abs(a - b) / scale)
            worst = max(worst, float(np.nanmax(np.where(np.isnan(diff), np.inf, diff), initial=0.0)))
    return worst, same


def synthetic(signature: list[dict[str, Any]], n: int = 200, seed: int = 0) -> pd.DataFrame:
    """CSV-like text rows for a model whose training data is not at hand."""
    rng = np.random.default_rng(seed)
    columns = {}
    for field in signature:
        if field.get("type") in NUMERIC:
            values = rng.normal(size=n) * rng.choice([1.0, 10.0, 100.0], size=n)
            if field.get("type") == "integer":
                values = np.round(values)
            text = [repr(float(v)) for v in values]
        else:
            text = list(rng.choice(["a", "b", "c", "yes", "no"], size=n))
        columns[field["name"]] = text
    return pd.DataFrame(columns, dtype=object)


def _with_edges(frame: pd.DataFrame, signature: list[dict[str, Any]]) -> pd.DataFrame:
    """The sample plus a row of missing values and a row of categories no model has seen."""
    names = [f["name"] for f in signature]
    first = frame.iloc[0].to_dict() if len(frame) else {n: None for n in names}
    unseen = {f["name"]: (first.get(f["name"]) if f.get("type") in NUMERIC else UNSEEN.strip("\x00"))
              for f in signature}
    edges = pd.DataFrame([{n: None for n in names}, unseen], dtype=object)
    return pd.concat([frame[names].astype(object), edges], ignore_index=True)


def _rows(frame: pd.DataFrame, signature: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The sample as JSON rows (numbers as numbers, missing as null), as online clients send them."""
    typed = coerce(frame, signature)
    rows = []
    for record in typed.to_dict(orient="records"):
        rows.append({k: (None if isinstance(v, float) and v != v else v) for k, v in record.items()})
    return rows
