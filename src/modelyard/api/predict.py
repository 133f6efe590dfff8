"""`POST /api/predict/{ref}`: the one predict resolver's route (DESIGN), in two dialects told apart by
the body. `{"data": [rows]}` is the mlops-dashboard dialect: `ref` is a version id or a model name (its
deployed version; a user's own model of a built-in's name is theirs alone, registry/service.py). A flat
record of fields is the prediction-platform dialect for a built-in model (`lead-score`, `churn`, …):
the gallery's adapter answers `{model, prediction, processing_time, credits_consumed}`.

Mounted before every other router: it is the hottest route, and routes are matched in order."""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from modelyard.api.deps import CurrentUser, RuntimeDep, current_user
from modelyard.api.platform import run_builtin
from modelyard.api.serving import JSONBody, OrjsonRoute, predict_rows
from modelyard.errors import Unprocessable
from modelyard.gallery import catalog
from modelyard.gallery.schemas import BuiltinOut
from modelyard.serving.schemas import PredictIn, PredictOut

router = APIRouter(tags=["mlops-dashboard", "prediction-platform"], dependencies=[Depends(current_user)],
                   route_class=OrjsonRoute)

EXAMPLES = {
    "rows": {"summary": "mlops-dashboard: rows for any model", "value": {"data": [{"age": 40, "region": "north"}]}},
    "builtin": {"summary": "prediction-platform: a built-in model's fields",
                "value": {"company_size": "51-200", "budget": 50000, "industry_score": 8.5}},
}


@router.post("/api/predict/{model_ref}", response_model=PredictOut | BuiltinOut)
async def predict(model_ref: str, body: Annotated[dict[str, Any], Body(openapi_examples=EXAMPLES)],
                  user: CurrentUser, runtime: RuntimeDep):
    """Rows in, one prediction per row out; or a built-in model's fields in, its answer out."""
    if "data" in body or model_ref not in catalog.INDEX:
        try:
            rows = PredictIn.model_validate(body).data
        except ValidationError as exc:
            if "data" not in body:
                raise Unprocessable(f"send {{\"data\": [rows]}} for model {model_ref!r}; a flat record of fields is "
                                    "only for built-in models (GET /api/model-gallery/models)") from None
            raise RequestValidationError(exc.errors(include_url=False, include_context=False)) from None
        return JSONBody(await predict_rows(runtime, model_ref, rows, viewer=user))
    return JSONBody(await run_in_threadpool(run_builtin, runtime, model_ref, body, viewer=user))
