"""Input signature and the preprocessing half of every training pipeline.

Signature types (inferred per column, in input order): ``integer``, ``number``, ``boolean``,
``string``, ``datetime``. Text columns count as numbers when at least 80% of their values parse as
numbers (the rest is junk that becomes missing), as booleans when every value is true/false, and
as datetimes when at least 90% look like ISO dates (``2024-01-31``, ``2024-01-31T12:00:00``).

Preprocessing roles (one ``ColumnTransformer``; unknown columns are dropped):

- numeric (integer, number): ``pd.to_numeric(errors="coerce")``, then median imputation;
- categorical (string, boolean): normalised text, most-frequent imputation, one-hot encoding
  (at most 30 levels per column, rare levels pooled, unseen levels ignored at predict time);
- datetime: parsed and turned into numbers (days since 1970, year, month, day of week, hour),
  median-imputed, then cut into 16 quantile bins (ordinal codes). The bins keep dates outside
  the training range, such as every future date, in the edge bins instead of letting a linear
  model extrapolate the trend without limit;
- ignored: entirely empty columns, string columns whose values are (nearly) unique per row
  (at least 95% distinct among at least 10 values: ids, free text), and integer columns named
  like an id (``id``, ``user_id``, ``orderId``) whose values are all distinct. They stay in the signature, since clients send them, but the
  model never sees them.

The transformer functions are module-level so that skops can store them by name; the artifact
allowlist (``artifacts.TRUSTED_TYPES``) names each of them.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, KBinsDiscretizer, OneHotEncoder

KINDS = ("integer", "number", "boolean", "string", "datetime")
MAX_CATEGORIES = 30
SAMPLE_VALUES = 5000
NUMERIC_SHARE = 0.8
DATETIME_SHARE = 0.9
UNIQUE_SHARE = 0.95
DATE_BINS = 16
_ISO_DATE = r"^\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?(?:Z|[+-]\d{2}:?\d{2})?$"
_ID_WORD = re.compile(r"(?:^|[_\W])id$|^id[_\W]", re.IGNORECASE)  # id, user_id, "order id", id_2
_ID_CAMEL = re.compile(r"[a-z0-9](?:Id|ID)$")  # orderId, userID (but not "paid" or "valid")
_BOOL_WORDS = {"true": "true", "false": "false"}
_EPOCH = pd.Timestamp("1970-01-01", tz="UTC")


@dataclass
class ColumnPlan:
    """Which input columns feed which preprocessing branch, and which are ignored (and why)."""

    numeric: list[str] = field(default_factory=list)
    categorical: list[str] = field(default_factory=list)
    datetime: list[str] = field(default_factory=list)
    ignored: dict[str, str] = field(default_factory=dict)

    @property
    def used(self) -> list[str]:
        return self.numeric + self.categorical + self.datetime

    @property
    def width(self) -> int:
        """A rough count of encoded columns (one-hot levels, date parts), for cost estimates."""
        return len(self.numeric) + 10 * len(self.categorical) + 5 * len(self.datetime)


def infer_kind(column: pd.Series) -> str:
    """The signature type of one column, judged on (a sample of) its non-empty values."""
    if pd.api.types.is_bool_dtype(column):
        return "boolean"
    if pd.api.types.is_datetime64_any_dtype(column):
        return "datetime"
    values = _sample(column)
    if pd.api.types.is_numeric_dtype(column):
        return "integer" if pd.api.types.is_integer_dtype(column) or _integral(values) else "number"
    if values.empty:
        return "string"
    if all(isinstance(v, (bool, np.bool_)) for v in values):
        return "boolean"
    text = values.astype(str).str.strip()
    if text.str.lower().isin(_BOOL_WORDS).all():
        return "boolean"
    numbers = pd.to_numeric(text, errors="coerce")
    if numbers.notna().mean() >= NUMERIC_SHARE:
        return "integer" if _integral(numbers.dropna()) else "number"
    if text.str.match(_ISO_DATE).mean() >= DATETIME_SHARE:
        return "datetime"
    return "string"


def signature(frame: pd.DataFrame) -> list[dict[str, str]]:
    """``[{"name", "type"}]`` for every column of ``frame``, in order."""
    return [{"name": str(name), "type": infer_kind(frame[name])} for name in frame.columns]


def plan_columns(frame: pd.DataFrame, features: list[dict[str, str]]) -> ColumnPlan:
    """Assign each signature column a preprocessing role (see the module docstring)."""
    plan = ColumnPlan()
    for feature in features:
        name, kind = feature["name"], feature["type"]
        column = frame[name]
        present = int(column.notna().sum())
        if present == 0:
            plan.ignored[name] = "empty"
        elif kind in ("string", "integer") and _unique_per_row(column, present, kind, name):
            plan.ignored[name] = "unique per row"
        elif kind in ("integer", "number"):
            plan.numeric.append(name)
        elif kind == "datetime":
            plan.datetime.append(name)
        else:
            plan.categorical.append(name)
    return plan


def preprocessor(plan: ColumnPlan, *, n_rows: int) -> ColumnTransformer:
    """The unfitted ``ColumnTransformer`` for ``plan``, sized for about ``n_rows`` training rows."""
    branches = []
    if plan.numeric:
        numeric = Pipeline([
            ("coerce", FunctionTransformer(to_numbers, feature_names_out="one-to-one")),
            ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
        ])
        branches.append(("numeric", numeric, list(plan.numeric)))
    if plan.categorical:
        categorical = Pipeline([
            ("text", FunctionTransformer(to_categories, feature_names_out="one-to-one")),
            ("impute", SimpleImputer(strategy="most_frequent", keep_empty_features=True)),
            ("onehot", OneHotEncoder(
                handle_unknown="ignore", max_categories=MAX_CATEGORIES,
                min_frequency=5 if n_rows >= 1000 else 2, sparse_output=False, dtype=np.float32,
            )),
        ])
        branches.append(("categorical", categorical, list(plan.categorical)))
    if plan.datetime:
        dates = Pipeline([
            ("parts", FunctionTransformer(to_date_parts)),
            ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
            ("bins", KBinsDiscretizer(n_bins=DATE_BINS, encode="ordinal", strategy="quantile",
                                      quantile_method="averaged_inverted_cdf", random_state=0)),
        ])
        branches.append(("datetime", dates, list(plan.datetime)))
    return ColumnTransformer(branches, remainder="drop", sparse_threshold=0.0)


def to_numbers(X) -> np.ndarray:
    """Columns as floats; text that is not a number (``"n/a"``, ``"?"``) and infinities become NaN."""
    frame = pd.DataFrame(X)
    out = np.empty(frame.shape, dtype=np.float64)
    for i, (_, column) in enumerate(frame.items()):
        if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
            out[:, i] = column.to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            out[:, i] = pd.to_numeric(column.astype(object), errors="coerce").to_numpy(
                dtype=np.float64, na_value=np.nan)
    out[~np.isfinite(out)] = np.nan
    return out


def to_categories(X) -> np.ndarray:
    """Columns as stripped text (booleans as ``"true"``/``"false"``), missing as NaN, dtype object."""
    frame = pd.DataFrame(X)
    out = np.empty(frame.shape, dtype=object)
    for i, (_, column) in enumerate(frame.items()):
        missing = column.isna().to_numpy()
        text = column.astype(object).astype(str).str.strip()
        lowered = text.str.lower()
        text = text.where(~lowered.isin(_BOOL_WORDS), lowered)
        values = text.to_numpy(dtype=object)
        values[missing | (text == "").to_numpy()] = np.nan
        out[:, i] = values
    return out


def to_date_parts(X) -> np.ndarray:
    """Five numbers per datetime column: days since 1970, year, month, day of week, hour."""
    frame = pd.DataFrame(X)
    parts = []
    for _, column in frame.items():
        if pd.api.types.is_datetime64_any_dtype(column):
            stamps = pd.to_datetime(column, utc=True)
        else:
            stamps = pd.to_datetime(column.astype(object), errors="coerce", utc=True, format="ISO8601")
        days = (stamps - _EPOCH) / pd.Timedelta(days=1)
        for values in (days, stamps.dt.year, stamps.dt.month, stamps.dt.day_of_week, stamps.dt.hour):
            parts.append(pd.Series(values).to_numpy(dtype=np.float64, na_value=np.nan))
    return np.column_stack(parts) if parts else np.empty((len(frame), 0))


def _sample(column: pd.Series) -> pd.Series:
    values = column.dropna()
    if len(values) > SAMPLE_VALUES:
        positions = np.linspace(0, len(values) - 1, SAMPLE_VALUES).astype(int)
        values = values.iloc[positions]
    return values


def _integral(values: pd.Series) -> bool:
    numbers = values.to_numpy(dtype=np.float64, na_value=np.nan)
    numbers = numbers[np.isfinite(numbers)]
    return bool(len(numbers)) and bool(np.all(numbers == np.floor(numbers)))


def _unique_per_row(column: pd.Series, present: int, kind: str, name: str) -> bool:
    if present < 10 or (kind == "integer" and not (_ID_WORD.search(name) or _ID_CAMEL.search(name))):
        return False
    distinct = column.nunique(dropna=True)
    return distinct == present if kind == "integer" else distinct >= UNIQUE_SHARE * present
