"""Train the peers' model (run with a peer venv's Python by bench/serve.py).

    python train_pipeline.py CSV TARGET OUTDIR [--mlflow]

A scikit-learn pipeline equivalent to what modelyard serves: median-imputed numeric columns and
one-hot categorical columns (a ColumnTransformer), then HistGradientBoostingClassifier with the
hyper-parameters modelyard's trainer gives it. Writes OUTDIR/pipeline.joblib, and with --mlflow
also OUTDIR/mlflow-model (``mlflow.sklearn.save_model``, its default skops format, an inferred
signature). Prints one
JSON line: the training accuracy.
"""
import json
import sys
from pathlib import Path

import joblib
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder


def build(frame: pd.DataFrame) -> Pipeline:
    numeric = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])]
    categorical = [c for c in frame.columns if c not in numeric]
    prep = ColumnTransformer([
        ("num", SimpleImputer(strategy="median"), numeric),
        ("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), categorical),
    ])
    model = HistGradientBoostingClassifier(max_iter=100, learning_rate=0.1, min_samples_leaf=20, random_state=0)
    return Pipeline([("prep", prep), ("model", model)])


def main() -> None:
    csv, target, out = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    frame = pd.read_csv(csv)
    X, y = frame.drop(columns=[target]), frame[target].astype(str)
    pipeline = build(X).fit(X, y)
    out.mkdir(parents=True, exist_ok=True)
    joblib.dump(pipeline, out / "pipeline.joblib")
    if "--mlflow" in sys.argv:
        import mlflow.sklearn
        from mlflow.models import infer_signature

        signature = infer_signature(X, pipeline.predict(X))
        # MLflow's default format (skops) asks to name the types a HistGradientBoosting model holds;
        # we trained it ourselves, so they are trusted.
        mlflow.sklearn.save_model(pipeline, str(out / "mlflow-model"), signature=signature, skops_trusted_types=[
            "numpy.dtype", "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"])
    print(json.dumps({"train_accuracy": float((pipeline.predict(X) == y).mean())}))


if __name__ == "__main__":
    main()
