"""Per-request attributions: how much each input moved this answer, from the model itself.

LightGBM: the booster's own SHAP values (``pred_contrib=True``). Linear models: coefficient x
standardised input, the exact additive decomposition of the score around the training mean. Both are
computed on the encoded row the compiled predictor reads (``serving.encoders.TrainedEncoder``), then
summed back per input column (the one-hot columns of a category add up to it) and per request field
(a derived column's share is split equally among the fields it is computed from). Binary models
explain the log-odds of class 1; multiclass ones the predicted class; regressions the predicted value.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from modelyard.gallery.declarations import Declaration
from modelyard.serving.encoders import TrainedEncoder


class Explainer:
    def __init__(self, pipeline: Any, signature: list[dict[str, Any]], decl: Declaration):
        self.encoder, self.model = TrainedEncoder.of(pipeline, signature)
        self.decl = decl
        self.owner = _owners(self.encoder)
        sources = {d.name: d.sources for d in decl.derived}
        self.shares = {
            col: ({s: 1.0 / len(sources[col]) for s in sources[col]} if col in sources else {col: 1.0})
            for col in set(self.owner.values())
        }

    def contributions(self, rows: list[dict[str, Any]], classes: list[int] | None = None) -> list[dict[str, float]]:
        """One {field: contribution} per row; ``classes`` picks the explained class of a multiclass model per row
        (default: its predicted class)."""
        X = self.encoder.encode_rows(rows)
        per_column = self._encoded(X, classes)
        out = []
        for row in per_column:
            fields: dict[str, float] = {}
            for index, value in enumerate(row):
                column = self.owner.get(index)
                if column is None or value == 0.0:
                    continue
                for name, share in self.shares[column].items():
                    fields[name] = fields.get(name, 0.0) + float(value) * share
            out.append({k: round(v, 6) for k, v in fields.items()})
        return out

    def _encoded(self, X: np.ndarray, classes: list[int] | None) -> np.ndarray:
        width = X.shape[1]
        if hasattr(self.model, "booster_"):
            raw = np.asarray(self.model.booster_.predict(X, pred_contrib=True, num_threads=1))
            if raw.shape[1] == width + 1:
                return raw[:, :width]
            k = raw.shape[1] // (width + 1)
            per_class = raw.reshape(len(X), k, width + 1)
            picked = classes if classes is not None else per_class.sum(axis=2).argmax(axis=1)
            return per_class[np.arange(len(X)), picked, :width]
        coef = np.asarray(self.model.coef_, dtype=float)
        if coef.ndim == 1 or coef.shape[0] == 1:
            return X * coef.reshape(-1)
        picked = classes if classes is not None else (X @ coef.T + self.model.intercept_).argmax(axis=1)
        return X * coef[picked]


def _owners(encoder: TrainedEncoder) -> dict[int, str]:
    """Encoded column index -> the input column it comes from."""
    owner: dict[int, str] = {}
    for branch in encoder.branches:
        tables = getattr(branch, "tables", None)
        if tables is None:  # numbers (and date parts, one column each in order)
            for j, name in enumerate(branch.columns):
                owner[branch.offset + j] = name
            continue
        for j, name in enumerate(branch.columns):
            for position in {*tables[j].values(), branch.unknown[j]}:
                if position >= 0:
                    owner[branch.offset + position] = name
    return owner
