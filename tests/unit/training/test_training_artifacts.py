"""Artifacts: skops bytes that load only when every type in them is on our allowlist."""
from __future__ import annotations

import io
import json
import os
import zipfile

import numpy as np
import pandas as pd
import pytest
import skops.io
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.svm import SVC

from modelyard.training import artifacts
from modelyard.training.artifacts import ModelFileError, UntrustedModel
from modelyard.training.candidates import candidates
from modelyard.training.features import plan_columns, signature
from modelyard.training.search import fit_candidate
from modelyard.training.trainer import predict_with

from . import frames

INSTANTIATED: list[str] = []


class Tripwire(BaseEstimator, TransformerMixin):
    """Records any attempt to build it from a file."""

    def __setstate__(self, state):
        INSTANTIATED.append("Tripwire")
        self.__dict__.update(state)

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return X


def _mixed(n: int, seed: int = 0) -> pd.DataFrame:
    """Every kind of column the trainer handles, with gaps."""
    rng = np.random.default_rng(seed)
    frame = frames.churn(n, seed=seed).drop(columns="churned")
    frame["stamp"] = pd.date_range("2021-01-01", periods=n, freq="h")
    frame["count_text"] = np.where(rng.random(n) < 0.1, "n/a", rng.integers(0, 9, n).astype(str))
    return frame


def _fitted(task: str, algorithm: str, target: np.ndarray, frame: pd.DataFrame):
    plan = plan_columns(frame, signature(frame))
    candidate = next(c for c in candidates(task, n_rows=len(frame), random_state=0) if c.algorithm == algorithm)
    return fit_candidate(candidate, plan, frame, target)


def _targets(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    income = frame["income"].fillna(50).to_numpy()
    return {
        "text": np.where(income > 50, "high", "low").astype(object),
        "bool": income > 50,
        "multiclass int": np.digitize(income, [40, 60]),
        "regression": income * 2 + frame["age"].to_numpy(),
    }


CASES = [(algorithm, kind)
         for kind in ("text", "bool", "multiclass int")
         for algorithm in ("LogisticRegression", "LGBMClassifier", "RandomForestClassifier",
                           "HistGradientBoostingClassifier")]
CASES += [(algorithm, "regression")
          for algorithm in ("Ridge", "LGBMRegressor", "RandomForestRegressor", "HistGradientBoostingRegressor")]


@pytest.mark.parametrize(("algorithm", "kind"), CASES)
def test_every_pipeline_the_trainer_builds_round_trips_through_the_allowlist(algorithm, kind):
    frame = _mixed(300)
    task = "regression" if kind == "regression" else "classification"
    pipeline = _fitted(task, algorithm, _targets(frame)[kind], frame)
    loaded = artifacts.load(artifacts.dump(pipeline))
    np.testing.assert_allclose(_predictions(loaded, task, frame), _predictions(pipeline, task, frame), rtol=1e-9)


@pytest.mark.parametrize("algorithm", ["HistGradientBoostingClassifier", "HistGradientBoostingRegressor"])
def test_gradient_boosting_with_early_stopping_round_trips(algorithm):
    frame = _mixed(10_500)  # above 10k rows HistGradientBoosting holds out data and keeps an RNG
    task = "regression" if algorithm.endswith("Regressor") else "classification"
    pipeline = _fitted(task, algorithm, _targets(frame)["regression" if task == "regression" else "text"], frame)
    loaded = artifacts.load(artifacts.dump(pipeline))
    np.testing.assert_allclose(_predictions(loaded, task, frame), _predictions(pipeline, task, frame), rtol=1e-9)


def test_a_trained_result_predicts_the_same_after_a_round_trip(churn_result):
    loaded = artifacts.load(artifacts.dump(churn_result.pipeline))
    rows = frames.churn(50, seed=4).drop(columns="churned")
    assert predict_with(loaded, "classification", churn_result.classes, rows) == \
        predict_with(churn_result.pipeline, "classification", churn_result.classes, rows)


def _predictions(pipeline, task: str, frame: pd.DataFrame) -> np.ndarray:
    return pipeline.predict(frame) if task == "regression" else pipeline.predict_proba(frame)


def test_a_function_like_os_system_is_refused_by_name():
    data = skops.io.dumps(Pipeline([("run", FunctionTransformer(func=os.system))]))
    with pytest.raises(UntrustedModel) as caught:
        artifacts.load(data)
    assert f"{os.system.__module__}.system" in caught.value.types


def test_a_scikit_learn_type_that_skops_trusts_by_default_is_still_refused_in_words_for_users():
    from sklearn.neighbors import KNeighborsClassifier

    data = skops.io.dumps(KNeighborsClassifier(n_neighbors=1).fit([[0.0], [1.0]], [0, 1]))
    assert "sklearn.neighbors._classification.KNeighborsClassifier" not in skops.io.get_untrusted_types(data=data)
    with pytest.raises(UntrustedModel) as caught:
        artifacts.load(data)
    assert "sklearn.neighbors._classification.KNeighborsClassifier" in caught.value.types
    message = str(caught.value)
    assert message.startswith("this model contains ") and "KNeighborsClassifier (from scikit-learn)" in message
    assert "which modelyard does not load because it is not on its list of trusted types" in message
    assert "sklearn." not in message and "modelyard." not in message and ".py" not in message
    assert "sklearn.neighbors.KNeighborsClassifier" in caught.value.public_types


def test_the_issues_scaler_and_gradient_boosting_pipeline_loads_and_predicts_the_same():
    from sklearn.ensemble import GradientBoostingRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X = np.random.default_rng(0).normal(size=(200, 4))
    y = X[:, 0] * 3 - X[:, 1]
    model = make_pipeline(StandardScaler(), GradientBoostingRegressor(n_estimators=20, random_state=0)).fit(X, y)
    assert "numpy.random.mtrand.RandomState" in artifacts.referenced_types(artifacts.dump(model))
    loaded = artifacts.load(artifacts.dump(model))
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_a_generator_rebuilt_on_a_numpy_function_instead_of_a_bit_generator_is_refused_before_loading():
    from sklearn.ensemble import HistGradientBoostingRegressor

    X = np.random.default_rng(0).normal(size=(300, 3))
    data = artifacts.dump(HistGradientBoostingRegressor(max_iter=5, early_stopping=True).fit(X, X[:, 0]))
    assert r'\"PCG64\"' in zipfile.ZipFile(io.BytesIO(data)).read("schema.json").decode()
    evil = _rewrite_schema(data, lambda text: text.replace(r'\"PCG64\"', r'\"seed\"'))
    with pytest.raises(UntrustedModel) as caught:
        artifacts.load(evil)
    assert "numpy.random.seed" in caught.value.types
    assert "a random generator built on 'seed'" in str(caught.value)


def test_a_refused_object_is_never_instantiated():
    data = skops.io.dumps(Pipeline([("trip", Tripwire())]))
    INSTANTIATED.clear()
    with pytest.raises(UntrustedModel) as caught:
        artifacts.load(data)
    assert INSTANTIATED == []
    assert any(t.endswith(".Tripwire") for t in caught.value.types)


def test_an_unknown_skops_loader_is_refused():
    data = _rewrite_schema(artifacts.dump(_fitted("regression", "Ridge", np.arange(300.0), _mixed(300))),
                           lambda text: text.replace('"ObjectNode"', '"MethodNode"', 1))
    with pytest.raises(UntrustedModel) as caught:
        artifacts.load(data)
    assert "skops loader: MethodNode" in caught.value.types


@pytest.mark.parametrize(("algorithm", "field"), [("RandomForestRegressor", "left_child"),
                                                  ("HistGradientBoostingRegressor", "left")])
def test_trees_with_out_of_range_nodes_are_refused(algorithm, field):
    data = artifacts.dump(_fitted("regression", algorithm, np.arange(300.0), _mixed(300)))
    with pytest.raises(UntrustedModel, match="child nodes point outside the tree"):
        artifacts.load(_corrupt_first_tree(data, field))


def test_a_histogram_boosting_tree_with_category_splits_is_refused_saying_how_to_encode_them():
    from sklearn.ensemble import HistGradientBoostingRegressor

    X = np.random.default_rng(0).normal(size=(200, 3))
    data = artifacts.dump(HistGradientBoostingRegressor(max_iter=3).fit(X, X[:, 0]))
    with pytest.raises(UntrustedModel) as caught:
        artifacts.load(_corrupt_first_tree(data, "is_categorical", value=1))
    assert str(caught.value).startswith("this model contains a histogram gradient boosting tree whose splits use "
                                        "category sets, which modelyard does not load because")
    assert "OrdinalEncoder" in str(caught.value)


def test_a_tree_whose_splits_read_beyond_the_ensembles_inputs_is_refused():
    from sklearn.ensemble import GradientBoostingRegressor

    X = np.random.default_rng(0).normal(size=(100, 3))
    model = GradientBoostingRegressor(n_estimators=3, max_depth=2).fit(X, X[:, 0])
    data = _corrupt_first_tree(artifacts.dump(model), "feature", value=2_000)
    with pytest.raises(UntrustedModel, match="beyond the 3 the model takes"):
        artifacts.load(data)


def test_a_gradient_boosting_grid_wider_than_its_initial_prediction_is_refused():
    from sklearn.ensemble import GradientBoostingClassifier

    X = np.random.default_rng(0).normal(size=(90, 3))
    model = GradientBoostingClassifier(n_estimators=2, max_depth=1).fit(X, (X[:, 0] > 0).astype(int))
    model.estimators_ = np.repeat(model.estimators_, 3, axis=1)  # 3 trees per stage for a 1-column prediction
    with pytest.raises(UntrustedModel, match="tree grid has 3 column"):
        artifacts.load(artifacts.dump(model))


@pytest.mark.parametrize("field, value", [("_n_support", np.array([5, 500], dtype=np.int32)),
                                          ("_dual_coef_", np.zeros((1, 3))),
                                          ("_intercept_", np.zeros(4)),
                                          ("_impl", "epsilon_svr")])
def test_an_svm_whose_support_vectors_and_coefficients_disagree_is_refused(field, value):
    X = np.random.default_rng(0).normal(size=(60, 3))
    model = SVC().fit(X, (X[:, 0] > 0).astype(int))
    setattr(model, field, value)
    with pytest.raises(UntrustedModel) as caught:
        artifacts.load(artifacts.dump(model))
    assert str(caught.value).startswith("this model contains a support vector machine (SVC)")


def test_bytes_that_are_not_a_skops_file_are_refused():
    with pytest.raises(ModelFileError):
        artifacts.load(b"not a zip file")


def _rewrite_schema(data: bytes, change) -> bytes:
    return _rewrite(data, lambda name, content: change(content.decode()).encode() if name == "schema.json" else content)


def _corrupt_first_tree(data: bytes, field: str, value: int = 10 ** 6) -> bytes:
    done = []

    def change(name: str, content: bytes) -> bytes:
        if done or not name.endswith(".npy"):
            return content
        array = np.load(io.BytesIO(content), allow_pickle=False)
        if array.dtype.names is None or field not in array.dtype.names:
            return content
        inner = np.flatnonzero(array["left_child" if "left_child" in array.dtype.names else "left"] > 0)
        array[field][inner[0] if len(inner) else 0] = value
        done.append(name)
        buffer = io.BytesIO()
        np.save(buffer, array, allow_pickle=False)
        return buffer.getvalue()

    rewritten = _rewrite(data, change)
    assert done, "no tree found to corrupt"
    return rewritten


def _rewrite(data: bytes, change) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
        for name in source.namelist():
            target.writestr(name, change(name, source.read(name)))
    json.loads(zipfile.ZipFile(io.BytesIO(out.getvalue())).read("schema.json"))
    return out.getvalue()


def _trusted_estimators():
    from modelyard.training.trusted import FAMILIES

    needs_members = {"Pipeline", "FeatureUnion", "ColumnTransformer", "VotingClassifier", "VotingRegressor",
                     "StackingClassifier", "StackingRegressor", "Booster"}
    return [name for family, names in FAMILIES.items() if family.startswith(("Linear", "Support", "Trees", "Other",
                                                                             "Scalers", "Encoders", "Imputers"))
            for name in names if name.rsplit(".", 1)[-1] not in needs_members]


@pytest.mark.parametrize("dotted", _trusted_estimators(), ids=lambda d: d.rsplit(".", 1)[-1])
def test_every_trusted_estimator_and_transformer_round_trips_and_computes_the_same(dotted):
    import importlib
    import warnings

    module, name = dotted.rsplit(".", 1)
    cls = getattr(importlib.import_module(module), name)
    rng = np.random.default_rng(0)
    X = np.abs(rng.normal(size=(80, 3))) + 0.1
    y_reg, y_clf = X[:, 0] * 2 + X[:, 1], np.digitize(X[:, 0], [0.5, 1.0])
    model = cls(**({"random_state": 0} if "random_state" in cls().get_params() else {}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if name in ("LabelEncoder", "LabelBinarizer"):
            model.fit(y_clf)
            X, compute = y_clf, "transform"
        else:
            from sklearn.base import is_classifier

            target = y_clf if is_classifier(model) else y_reg  # transformers ignore it
            model.fit(X, target)
            compute = next(m for m in ("predict_proba", "predict", "transform") if hasattr(model, m))
        loaded = artifacts.load(artifacts.dump(model))
        np.testing.assert_array_equal(_dense(getattr(loaded, compute)(X)), _dense(getattr(model, compute)(X)))


def _dense(values):
    return values.toarray() if hasattr(values, "toarray") else np.asarray(values)
