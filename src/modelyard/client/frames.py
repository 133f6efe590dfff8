"""pandas in and out of the predict API: rows as JSON records, predictions as a DataFrame."""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pandas loads on first use: `modelyard --help` stays quick
    import pandas as pd


def records(frame: "pd.DataFrame") -> list[dict[str, Any]]:
    """A DataFrame's rows as JSON-ready dicts: missing values become null, numpy numbers plain numbers,
    timestamps ISO 8601 strings (pandas' own JSON writer does all three)."""
    return json.loads(frame.to_json(orient="records", date_format="iso", date_unit="s"))


def predictions_frame(predictions: list[dict[str, Any]], index: "pd.Index") -> "pd.DataFrame":
    """`prediction`, `confidence` (classifiers) and one `probability_<class>` column per class, on the
    input's index, so `frame.join(...)` lines each prediction up with its row."""
    import pandas as pd

    out = pd.DataFrame({"prediction": [p.get("prediction") for p in predictions]}, index=index)
    if any(p.get("confidence") is not None for p in predictions):
        out["confidence"] = [p.get("confidence") for p in predictions]
    classes: list[str] = []
    for p in predictions:
        for name in p.get("probabilities") or {}:
            if name not in classes:
                classes.append(name)
    for name in classes:
        out[f"probability_{name}"] = [(p.get("probabilities") or {}).get(name) for p in predictions]
    return out
