"""Compiled predictors agree with the native model: every family the trainer makes, every upload format.

Each model is compiled the way serving compiles it (``compile.build``), then compiled and native
predictions are compared on fresh data that the check never saw, with missing values and unseen
categories, through the online (JSON rows) and the batch (CSV text) paths.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from modelyard.registry import adapters, formats
from modelyard.serving import bundle, compile
from modelyard.serving.compile import TOLERANCE
from modelyard.serving.inputs import coerce
from modelyard.serving.predictors import NativePredictor
from modelyard.training.candidates import candidates
from modelyard.training.features import plan_columns, signature
from modelyard.training.search import fit_candidate
from tests.support import registry_models as rm

REGIONS = ["north", "south", "east", "west", "centre"]


def people(rows: int, seed: int, *, task: str, unseen: bool = False) -> pd.DataFrame:
    """Numbers, categories and a date; some cells missing; `unseen` adds categories training never had."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "age": rng.integers(18, 80, rows).astype(float),
        "income": rng.normal(60_000, 20_000, rows).round(2),
        "score": rng.normal(0, 1, rows),
        "region": rng.choice(REGIONS + (["atlantis", "mars"] if unseen else []), rows),
        "member": rng.choice(["true", "false"], rows),
        "joined": [f"20{rng.integers(10, 24)}-0{rng.integers(1, 9)}-1{rng.integers(0, 9)}" for _ in range(rows)],
    })
    for column in ("age", "income", "region", "joined"):
        frame.loc[rng.choice(rows, rows // 10, replace=False), column] = None
    signal = frame.income.fillna(60_000) / 20_000 + (frame.region == "south") * 2 + frame.score
    frame["target"] = np.where(signal > 4, "yes", "no") if task == "classification" else signal * 1000
    return frame


def as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """What a CSV upload reads as: text cells, empty for missing."""
    return frame.astype(object).where(frame.notna(), None).map(lambda v: None if v is None else str(v))


def rows_of(frame: pd.DataFrame, sig: list[dict]) -> list[dict]:
    typed = coerce(as_text(frame), sig)
    return [{k: (None if isinstance(v, float) and v != v else v) for k, v in r.items()}
            for r in typed.to_dict(orient="records")]


def assert_same(native, compiled, frame: pd.DataFrame, sig: list[dict]) -> None:
    rows, text = rows_of(frame, sig), as_text(frame)
    for got, want in ((compiled.predict_rows(rows), native.predict_rows(rows)),
                      (compiled.predict_frame(text), native.predict_frame(text))):
        if want.proba is not None:
            assert got.labels == want.labels
            assert np.max(np.abs(got.proba - want.proba)) <= TOLERANCE
            assert list(got.predictions) == list(want.predictions)
        else:
            scale = np.maximum(1.0, np.abs(want.values))
            assert np.max(np.abs(got.values - want.values) / scale) <= TOLERANCE


def trained_families():
    for task in ("classification", "regression"):
        for candidate in candidates(task, n_rows=600, random_state=0):
            yield pytest.param(task, candidate, id=candidate.algorithm)


@pytest.mark.parametrize(("task", "candidate"), list(trained_families()))
def test_every_trained_family_compiles_faithfully(task, candidate):
    train = people(600, seed=1, task=task)
    X, y = train.drop(columns="target"), train["target"].to_numpy()
    sig = signature(X)
    pipeline = fit_candidate(candidate, plan_columns(X, sig), X, y)
    classes = sorted(set(y)) if task == "classification" else None
    native = NativePredictor(pipeline, task, classes, sig)

    predictor, report = compile.build(native, as_text(X))

    assert report["predictor"] == "compiled", report
    assert report["encoder"] == "trained-pipeline"
    assert report["max_abs_diff"] <= TOLERANCE and report["labels_identical"]
    assert_same(native, predictor, people(300, seed=2, task=task, unseen=True).drop(columns="target"), sig)
    assert bundle.dump(predictor) is None  # a date branch is a fitted transformer: only the artifact rebuilds it


@pytest.mark.parametrize(("task", "candidate"), list(trained_families()))
def test_a_saved_compiled_predictor_loads_without_the_artifact_and_predicts_the_same(task, candidate):
    train = people(600, seed=1, task=task).drop(columns="joined")
    X, y = train.drop(columns="target"), train["target"].to_numpy()
    sig = signature(X)
    pipeline = fit_candidate(candidate, plan_columns(X, sig), X, y)
    native = NativePredictor(pipeline, task, sorted(set(y)) if task == "classification" else None, sig)
    predictor, report = compile.build(native, as_text(X))

    saved = bundle.dump(predictor)

    assert (saved is not None) == (report["core"] == "onnx"), report
    if saved is not None:
        fresh = people(300, seed=2, task=task, unseen=True).drop(columns=["target", "joined"])
        assert_same(native, bundle.load(saved), fresh, sig)


def test_hist_gradient_boosting_is_served_by_its_trees_as_arrays_when_onnx_cannot_convert_it():
    train = people(400, seed=3, task="classification")
    X, y = train.drop(columns="target"), train["target"].to_numpy()
    sig = signature(X)
    hist = next(c for c in candidates("classification", n_rows=400, random_state=0)
                if c.algorithm.startswith("HistGradient"))
    native = NativePredictor(fit_candidate(hist, plan_columns(X, sig), X, y), "classification", ["no", "yes"], sig)

    predictor, report = compile.build(native, as_text(X))

    onnx = next(t for t in report["tried"] if t.get("core") == "onnx")
    if onnx["outcome"].startswith("failed"):  # skl2onnx cannot convert this estimator here: the next core serves
        assert report["core"] == "hist-trees"
    assert report["predictor"] == "compiled"
    fresh = people(200, seed=4, task="classification", unseen=True).drop(columns="target")
    for size in (1, 3, 16, 17, 200):  # its own walk up to 16 rows, scikit-learn's above
        assert_same(native, predictor, fresh.head(size), sig)


def uploaded(fmt: str, data: bytes, sig: list[dict], task: str, classes=None) -> NativePredictor:
    model = formats.load(fmt, data)
    return NativePredictor(adapters.bind(model, sig), task, classes, sig)


NUMERIC_SIG = [{"name": n, "type": "number"} for n in rm.FEATURES]


def uploads():
    frame = rm.customers(120)
    yield pytest.param("skops", rm.skops_bytes(rm.classifier(frame)), "classification", ["high", "low"], id="skops-clf")
    yield pytest.param("skops", rm.skops_bytes(rm.regressor(frame)), "regression", None, id="skops-reg")
    yield pytest.param("onnx", rm.onnx_bytes(rm.classifier(frame)), "classification", ["high", "low"], id="onnx-clf")
    yield pytest.param("onnx", rm.onnx_bytes(rm.regressor(frame)), "regression", None, id="onnx-reg")
    yield pytest.param("lightgbm", rm.lightgbm_text(frame, "binary"), "classification", [0, 1], id="lightgbm-clf")
    yield pytest.param("lightgbm", rm.lightgbm_text(frame), "regression", None, id="lightgbm-reg")
    yield pytest.param("xgboost", rm.xgboost_bytes(frame), "classification", [0, 1], id="xgboost-clf")
    yield pytest.param("xgboost", rm.xgboost_bytes(frame, objective="reg:squarederror"), "regression", None,
                       id="xgboost-reg")


@pytest.mark.parametrize(("fmt", "data", "task", "classes"), list(uploads()))
def test_every_upload_format_compiles_faithfully(fmt, data, task, classes):
    native = uploaded(fmt, data, NUMERIC_SIG, task, classes)

    predictor, report = compile.build(native, None)  # no training data: generated from the signature

    assert report["predictor"] == "compiled", report
    assert report["sample"].startswith("generated from the signature")
    fresh = rm.customers(80, seed=7)[rm.FEATURES].astype(float)
    if fmt in ("lightgbm", "xgboost"):  # these read missing values; linear models and ONNX graphs refuse them
        fresh.loc[fresh.index[::9], "spend"] = None
    assert_same(native, predictor, fresh, NUMERIC_SIG)
    saved = bundle.dump(predictor)
    assert (saved is not None) == (report["core"] == "onnx")
    if saved is not None:
        assert_same(native, bundle.load(saved), fresh, NUMERIC_SIG)


def test_a_compiled_predictor_that_disagrees_is_not_used(monkeypatch):
    train = people(300, seed=4, task="classification")
    X, y = train.drop(columns="target"), train["target"].to_numpy()
    sig = signature(X)
    logistic = candidates("classification", n_rows=300, random_state=0)[0]
    native = NativePredictor(fit_candidate(logistic, plan_columns(X, sig), X, y), "classification", ["no", "yes"], sig)
    from modelyard.serving import encoders

    real = encoders.TrainedEncoder._scaled
    monkeypatch.setattr(encoders.TrainedEncoder, "_scaled", lambda self, out: real(self, out) * 1.01)

    predictor, report = compile.build(native, as_text(X))

    assert predictor is native
    assert report["predictor"] == "native"
    assert all(t["outcome"].startswith("not faithful") for t in report["tried"] if "core" in t)
    assert "kept native" in report["reason"]


def test_rebuilding_from_a_report_skips_the_check_and_gives_the_same_predictor():
    train = people(300, seed=5, task="regression")
    X, y = train.drop(columns="target"), train["target"].to_numpy()
    sig = signature(X)
    ridge = candidates("regression", n_rows=300, random_state=0)[0]
    native = NativePredictor(fit_candidate(ridge, plan_columns(X, sig), X, y), "regression", None, sig)
    _, report = compile.build(native, as_text(X))

    again = compile.rebuild(native, report)

    assert again.kind == "compiled" and (again.encoder.name, again.core.name) == (report["encoder"], report["core"])
    assert_same(native, again, people(100, seed=6, task="regression").drop(columns="target"), sig)
