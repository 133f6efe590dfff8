"""`POST /api/predict/{ref}`: the one predict resolver's route (DESIGN). `ref` is a version id or a model
name (its deployed version). The body `{"data": [...]}` gets the mlops-dashboard dialect; the prediction
platform's dialect for gallery models will be another adapter here, on the same pipeline.

Mounted before every other router: it is the hottest route, and routes are matched in order."""
from __future__ import annotations

from fastapi import APIRouter, Depends

from modelyard.api.deps import CurrentUser, RuntimeDep, current_user
from modelyard.api.serving import JSONBody, OrjsonRoute, predict_ref
from modelyard.serving.schemas import PredictIn, PredictOut

router = APIRouter(tags=["mlops-dashboard"], dependencies=[Depends(current_user)], route_class=OrjsonRoute)


@router.post("/api/predict/{model_ref}", response_model=PredictOut)
async def predict(model_ref: str, body: PredictIn, user: CurrentUser, runtime: RuntimeDep):
    """Rows in, one prediction per row out (mlops-dashboard dialect of the one prediction pipeline)."""
    return JSONBody(PredictOut.body(await predict_ref(runtime, model_ref, body.data, viewer=user)))
