"""Checks incoming rows against a model's signature and builds the frame the model reads."""
from __future__ import annotations

import math
from typing import Any

from modelyard.errors import Unprocessable

NUMERIC = {"integer", "number"}


def _number(value: Any) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return None if isinstance(value, float) and math.isnan(value) else float(value)
    if isinstance(value, str):
        return float(value.strip().replace(",", "")) if value.strip() else None
    raise ValueError


def frame_for(rows: list[dict[str, Any]], signature: list[dict[str, Any]]):
    """A DataFrame in signature order; missing columns and bad values are a 422 naming them."""
    import pandas as pd

    if not rows:
        raise Unprocessable("no rows to predict: send {\"data\": [{...}, ...]}")
    names = [f["name"] for f in signature]
    expected = set(names)
    missing = sorted({n for row in rows for n in names if n not in row})
    if missing:
        raise Unprocessable(f"missing column(s): {', '.join(missing)}", details={"missing_columns": missing})
    ignored = sorted({k for row in rows for k in row if k not in expected})
    columns: dict[str, list[Any]] = {}
    problems: list[dict[str, Any]] = []
    for field in signature:
        name, kind = field["name"], field.get("type", "string")
        values = []
        for index, row in enumerate(rows):
            value = row[name]
            if kind in NUMERIC:
                try:
                    value = _number(value)
                except (ValueError, TypeError):
                    problems.append({"row": index + 1, "column": name, "value": str(value)[:50], "expected": kind})
            elif value is not None and not isinstance(value, str):
                value = str(value)
            values.append(value)
        columns[name] = values
    if problems:
        first = problems[0]
        article = "an" if first["expected"][0] in "aeiou" else "a"
        raise Unprocessable(f"column {first['column']!r} expects {article} {first['expected']}, got {first['value']!r} "
                            f"(row {first['row']} of the data); {len(problems)} bad value(s) in all",
                            details={"errors": problems[:50]})
    frame = pd.DataFrame(columns, columns=names)
    for field in signature:
        if field.get("type") in NUMERIC:
            frame[field["name"]] = pd.to_numeric(frame[field["name"]], errors="coerce").astype("float64")
    return frame, ignored
