"""CSV cells that a spreadsheet would run as a formula are neutralised in every CSV we return."""
from __future__ import annotations

import numpy as np
import pandas as pd

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralize(value: str) -> str:
    """Prefix a quote so that '=HYPERLINK(...)' is shown as text, never evaluated (OWASP's advice)."""
    return "'" + value if value and value.startswith(FORMULA_START) else value


def neutralize_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Neutralise every text column (numbers stay numbers: -5 is not a formula)."""
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object or pd.api.types.is_string_dtype(out[column].dtype):
            values = out[column]
            text = values.astype("string")
            risky = text.str.startswith(FORMULA_START).fillna(False).to_numpy(dtype=bool)
            if risky.any():
                numeric = pd.to_numeric(text, errors="coerce").notna().to_numpy()
                flip = risky & ~numeric
                if flip.any():
                    column_values = values.astype(object).to_numpy(copy=True)
                    column_values[flip] = np.array(["'" + v for v in text[flip].tolist()], dtype=object)
                    out[column] = column_values
    return out
