"""The bare baseline of bench/serve.py: one Starlette endpoint calling the pipeline on a DataFrame.

    BENCH_MODEL=/path/pipeline.joblib python -m uvicorn starlette_app:app --port 3000

POST /predict with {"records": [{column: value, ...}]} answers labels and class probabilities;
GET /health answers 200. No validation, no auth: the floor a Python service can reach this way.
"""
import os

import joblib
import pandas as pd
from starlette.applications import Starlette
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

PIPELINE = joblib.load(os.environ["BENCH_MODEL"])


async def predict(request):
    records = (await request.json())["records"]
    proba = PIPELINE.predict_proba(pd.DataFrame.from_records(records))
    labels = PIPELINE.classes_[proba.argmax(axis=1)]
    return JSONResponse({"predictions": labels.tolist(), "probabilities": proba.tolist()})


async def health(request):
    return PlainTextResponse("ok")


app = Starlette(routes=[Route("/predict", predict, methods=["POST"]), Route("/health", health)])
