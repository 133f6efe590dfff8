"""One built-in model, declared once: inputs, training-data recipe, estimator, output mapping.

Everything the gallery does with a model (validate a request, generate its training data, train,
register, predict, explain, answer, describe) reads it from its ``Declaration``; the catalog
(``catalog.py``) lists them. Tabular models are trained by the platform on their recipe's seeded
synthetic data and served by the registry and the prediction pipeline like any other model; text
models (``kind="text"``) are lexicon/statistics based and have nothing to train.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pandas as pd

from modelyard.gallery.schema import Field

DEFAULT_ROWS = 3000
TEST_SHARE = 0.2
INTERVAL = (0.025, 0.975)  # the 95% interval of the forecasting models, from quantile models


@dataclass(frozen=True)
class Derived:
    """A model column computed from request fields (in training and at predict time alike). Its
    attribution is shared equally by its ``sources`` when key factors are named."""

    name: str
    compute: Callable[[Any], Any]  # a dict of scalars or a DataFrame -> value(s)
    sources: tuple[str, ...]
    description: str = ""


@dataclass(frozen=True)
class Estimator:
    """How the model is fitted: ``kind`` is lgbm or linear (both explainable per input, both served
    by a compiled predictor: LightGBM through its booster, linear models through ONNX)."""

    kind: str = "lgbm"  # lgbm | linear
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def scaled(self) -> bool:
        return self.kind == "linear"


@dataclass
class Result:
    """What the model said about one request, handed to the declaration's ``respond``."""

    declaration: "Declaration"
    values: dict[str, Any]  # the request's fields, defaults filled
    supplied: list[str]
    version: str  # "v1.0"
    probabilities: dict[Any, float] | None = None  # classification
    value: float | None = None  # regression, in the answer's units (scaled back when relative)
    lower: float | None = None
    upper: float | None = None
    contributions: dict[str, float] = field(default_factory=dict)  # per request field, toward the answer
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def positive(self) -> float:
        """A binary model's probability of class 1."""
        return float(self.probabilities.get(1, self.probabilities.get("1", 0.0)))

    @property
    def label(self) -> Any:
        return max(self.probabilities, key=self.probabilities.get)

    def factors(self, n: int = 3, *, sign: int = 0) -> list[str]:
        """The fields that moved this answer most (sign +1: up only, -1: down only, 0: either way)."""
        items = [(k, v) for k, v in self.contributions.items() if v * sign > 0 or (sign == 0 and v != 0)]
        items.sort(key=lambda kv: (-abs(kv[1]), kv[0]))
        return [k for k, _ in items[:n]]


@dataclass(frozen=True)
class Declaration:
    name: str  # the gallery name and the registered model's name
    title: str
    description: str
    kind: str  # tabular | text
    fields: tuple[Field, ...]
    respond: Callable[[Result], dict[str, Any]]
    contract_id: str  # the contract's `model` stem: lead_scoring -> "lead_scoring_v1"
    credits: int = 1
    industry: str | None = None
    path: str = ""  # the contract's route
    example: dict[str, Any] = field(default_factory=dict)
    # tabular only ---------------------------------------------------------------------------------
    task: str = "classification"  # classification | regression
    target: str = "target"
    simulate: Callable[[np.random.Generator, int], pd.DataFrame] | None = None
    estimator: Estimator = field(default_factory=Estimator)
    derived: tuple[Derived, ...] = ()
    relative_to: str | None = None  # regression target learned as a ratio to this field
    interval: bool = False  # train the 2.5% and 97.5% quantile models too
    rows: int = DEFAULT_ROWS
    seed: int = 0
    explains: str = ""  # what the target means, for the model card

    @property
    def columns(self) -> list[str]:
        """The model's input columns: the request fields, then the derived ones."""
        return [f.name for f in self.fields] + [d.name for d in self.derived]

    @property
    def signature(self) -> list[dict[str, str]]:
        return [{"name": f.name, "type": f.signature_type} for f in self.fields] + [
            {"name": d.name, "type": "number"} for d in self.derived
        ]

    def field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)

    @property
    def required(self) -> list[str]:
        return [f.name for f in self.fields if f.required]
