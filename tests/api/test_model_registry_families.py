"""Every trusted family of scikit-learn models, saved with skops, round-trips through /upload_model and
predicts through /api/predict exactly as the model does locally (docs/model-registry.md lists them)."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn import compose, ensemble, impute, linear_model, naive_bayes, pipeline, preprocessing, svm, tree

from modelyard.training.trusted import FAMILIES, TRUSTED_TYPES
from tests.support.registry_models import skops_bytes

NUMERIC = ["x1", "x2", "x3"]


def data(rows: int = 160, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"x1": rng.normal(size=rows), "x2": rng.uniform(0, 5, rows), "x3": rng.normal(2, 1, rows),
                          "color": rng.choice(["red", "green", "blue"], rows)})
    frame["amount"] = 3 * frame.x1 + frame.x2 ** 2 - frame.x3 + (frame.color == "red") * 2 + rng.normal(0, .1, rows)
    frame["label"] = np.where(frame.amount > frame.amount.median(), "high", "low")
    frame["grade"] = np.digitize(frame.amount, np.quantile(frame.amount, [1 / 3, 2 / 3])).astype(int)
    return frame


def encoded(model, scaler=None):
    """Numbers scaled, colors one-hot encoded, in front of `model`."""
    numbers = scaler or preprocessing.StandardScaler()
    prep = compose.ColumnTransformer([("num", numbers, NUMERIC),
                                      ("cat", preprocessing.OneHotEncoder(handle_unknown="ignore"), ["color"])])
    return pipeline.Pipeline([("prep", prep), ("model", model)])


def numeric(model):
    return pipeline.make_pipeline(preprocessing.StandardScaler(), model)


# (name, model, target column); targets: amount (regression), label (binary), grade (3 classes)
CASES = {
    "Linear models": [
        ("ridge", numeric(linear_model.Ridge()), "amount"),
        ("linear", encoded(linear_model.LinearRegression()), "amount"),
        ("elastic-net", numeric(linear_model.ElasticNet(alpha=0.01)), "amount"),
        ("huber", numeric(linear_model.HuberRegressor()), "amount"),
        ("sgd-regressor", numeric(linear_model.SGDRegressor(random_state=0)), "amount"),
        ("bayesian-ridge", numeric(linear_model.BayesianRidge()), "amount"),
        ("logistic", encoded(linear_model.LogisticRegression(max_iter=500)), "grade"),
        ("sgd-log", numeric(linear_model.SGDClassifier(loss="log_loss", random_state=0)), "label"),
        ("ridge-classifier", numeric(linear_model.RidgeClassifier()), "label"),
    ],
    "Support vector machines": [
        ("svc", numeric(svm.SVC(probability=True, random_state=0)), "grade"),
        ("svc-plain", numeric(svm.SVC()), "label"),
        ("nu-svc", numeric(svm.NuSVC(probability=True, random_state=0)), "label"),
        ("svr", encoded(svm.SVR()), "amount"),
        ("nu-svr", numeric(svm.NuSVR()), "amount"),
        ("linear-svc", numeric(svm.LinearSVC()), "grade"),
        ("linear-svr", numeric(svm.LinearSVR(random_state=0)), "amount"),
    ],
    "Trees and ensembles": [
        ("issue-example", numeric(ensemble.GradientBoostingRegressor(n_estimators=30, random_state=0)), "amount"),
        ("gb-classifier", encoded(ensemble.GradientBoostingClassifier(n_estimators=10, random_state=0)), "grade"),
        ("hist-gb", encoded(ensemble.HistGradientBoostingClassifier(max_iter=20, random_state=0)), "label"),
        ("tree", encoded(tree.DecisionTreeClassifier(max_depth=4, random_state=0)), "grade"),
        ("extra-tree", numeric(tree.ExtraTreeRegressor(random_state=0)), "amount"),
        ("forest", encoded(ensemble.RandomForestRegressor(n_estimators=10, random_state=0)), "amount"),
        ("extra-trees", numeric(ensemble.ExtraTreesClassifier(n_estimators=10, random_state=0)), "label"),
        ("ada", numeric(ensemble.AdaBoostClassifier(n_estimators=10, random_state=0)), "grade"),
        ("bagging", numeric(ensemble.BaggingRegressor(n_estimators=5, random_state=0)), "amount"),
        ("voting", numeric(ensemble.VotingClassifier([("lr", linear_model.LogisticRegression()),
                                                      ("nb", naive_bayes.GaussianNB())], voting="soft")), "label"),
        ("stacking", numeric(ensemble.StackingRegressor([("ridge", linear_model.Ridge()),
                                                         ("tree", tree.DecisionTreeRegressor(max_depth=3))],
                                                        cv=3)), "amount"),
    ],
    "Scalers, encoders and imputers": [
        ("robust-imputed", pipeline.Pipeline([("prep", compose.ColumnTransformer([
            ("num", pipeline.make_pipeline(impute.SimpleImputer(), preprocessing.RobustScaler()), NUMERIC),
            ("cat", preprocessing.OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1),
             ["color"])])), ("model", linear_model.Ridge())]), "amount"),
        ("knn-imputed", pipeline.Pipeline([("prep", compose.ColumnTransformer([
            ("num", pipeline.make_pipeline(impute.KNNImputer(n_neighbors=3), preprocessing.MinMaxScaler()), NUMERIC),
            ("missing", impute.MissingIndicator(features="all"), ["x1"]),
            ("cat", preprocessing.TargetEncoder(random_state=0), ["color"])])),
            ("model", linear_model.Ridge())]), "amount"),
        ("quantile", encoded(linear_model.Ridge(), preprocessing.QuantileTransformer(n_quantiles=20)), "amount"),
        ("power", encoded(linear_model.LogisticRegression(), preprocessing.PowerTransformer()), "label"),
        ("bins", encoded(linear_model.Ridge(), preprocessing.KBinsDiscretizer(n_bins=4, quantile_method="averaged_inverted_cdf")), "amount"),
        ("poly", encoded(linear_model.Ridge(), pipeline.make_pipeline(preprocessing.PolynomialFeatures(2),
                                                                      preprocessing.MaxAbsScaler())), "amount"),
        ("union", encoded(linear_model.Ridge(), pipeline.FeatureUnion([
            ("scaled", preprocessing.StandardScaler()), ("normal", preprocessing.Normalizer()),
            ("sign", preprocessing.Binarizer())])), "amount"),
        ("target-transform", compose.TransformedTargetRegressor(
            regressor=numeric(linear_model.Ridge()), transformer=preprocessing.StandardScaler()), "amount"),
    ],
}


def fitted(model, target: str, frame: pd.DataFrame):
    columns = NUMERIC + (["color"] if _uses_color(model) else [])
    training = frame[columns].copy()
    if "imputed" in str(model):
        training.loc[::9, "x1"] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(training, frame[target]), columns


def _uses_color(model) -> bool:
    return "color" in repr(model.get_params(deep=True)) or "OneHotEncoder" in repr(model)


def local(model, task: str, rows: pd.DataFrame) -> tuple[list, np.ndarray | None]:
    if task == "regression":
        return list(model.predict(rows)), None
    if not hasattr(model, "predict_proba"):
        return [v.item() if hasattr(v, "item") else v for v in model.predict(rows)], None
    proba = model.predict_proba(rows)
    labels = [model.classes_[i] for i in proba.argmax(axis=1)]
    return [v.item() if hasattr(v, "item") else v for v in labels], proba


@pytest.mark.parametrize("family", list(CASES))
def test_each_trusted_family_uploads_and_predicts_like_the_local_model(client, accounts, family):
    user = accounts["user"]
    frame, fresh = data(), data(12, seed=7)
    for name, model, target in CASES[family]:
        model, columns = fitted(model, target, frame)
        response = client.post("/upload_model", params={"model_name": name, "model_version": "1",
                                                        "deployment": "true"},
                               files=[("model_file", ("model.skops", skops_bytes(model), "application/octet-stream"))],
                               headers=user.headers)
        assert response.status_code == 200, (name, response.text)
        assert [f["name"] for f in response.json()["signature"]] == columns, name
        rows = fresh[columns]
        answer = client.post(f"/api/predict/{name}", json={"data": rows.to_dict(orient="records")},
                             headers=user.headers)
        assert answer.status_code == 200, (name, answer.text)
        got = answer.json()["predictions"]
        task = "regression" if target == "amount" else "classification"
        expected, proba = local(model, task, rows)
        if task == "regression":  # served compiled when faithful: within 1e-5 of max(1, |value|) (docs/performance.md)
            assert [p["prediction"] for p in got] == pytest.approx(expected, rel=1e-5, abs=1e-5), name
            continue
        assert [p["prediction"] for p in got] == expected, name
        if proba is not None:
            for row, local_row in zip(got, proba):
                assert list(row["probabilities"].values()) == pytest.approx(list(local_row), abs=1e-6), name


def test_the_documentation_lists_every_trusted_family_and_estimator():
    from pathlib import Path

    doc = (Path(__file__).parents[2] / "docs" / "model-registry.md").read_text()
    for family, names in FAMILIES.items():
        assert family in doc, family
        for name in names:
            assert f"`{name.rsplit('.', 1)[-1]}`" in doc, name
    assert {n for names in FAMILIES.values() for n in names} <= set(TRUSTED_TYPES)


def test_a_family_outside_the_list_is_refused_in_words_for_users(client, accounts):
    from sklearn.neighbors import KNeighborsRegressor

    frame = data()
    model = KNeighborsRegressor().fit(frame[NUMERIC], frame["amount"])
    response = client.post("/upload_model", params={"model_name": "knn", "model_version": "1"},
                           files=[("model_file", ("model.skops", skops_bytes(model), "application/octet-stream"))],
                           headers=accounts["user"].headers)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "UNTRUSTED_MODEL"
    assert body["message"].startswith("this model contains ")
    assert "KNeighborsRegressor (from scikit-learn), which modelyard does not load because" in body["message"]
    assert "sklearn." not in body["message"] and "modelyard." not in body["message"] and ".py" not in body["message"]
    assert "sklearn.neighbors.KNeighborsRegressor" in body["details"]["untrusted_types"]
