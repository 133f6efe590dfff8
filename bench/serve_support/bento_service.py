"""The BentoML peer of bench/serve.py: the same scikit-learn pipeline behind one JSON endpoint.

    BENCH_MODEL=/path/pipeline.joblib bentoml serve bento_service:Churn --port 3000

POST /predict with {"records": [{column: value, ...}]} answers labels and class probabilities.
"""
import os
from typing import Any

import bentoml
import joblib
import pandas as pd


@bentoml.service(workers=1)
class Churn:
    def __init__(self) -> None:
        self.pipeline = joblib.load(os.environ["BENCH_MODEL"])

    @bentoml.api
    def predict(self, records: list[dict[str, Any]]) -> dict[str, Any]:
        frame = pd.DataFrame.from_records(records)
        proba = self.pipeline.predict_proba(frame)
        labels = self.pipeline.classes_[proba.argmax(axis=1)]
        return {"predictions": labels.tolist(), "probabilities": proba.tolist()}
