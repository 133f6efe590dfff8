"""What the industry models share: how one is declared, and the yes/no and choice response mappers."""

from __future__ import annotations

from modelyard.gallery import responses as out
from modelyard.gallery.declarations import Declaration, Estimator, Result
from modelyard.gallery.schema import Field

F, LGBM = Field, Estimator("lgbm")
PLANS = ("free", "basic", "pro", "enterprise")


def declare(industry: str, name: str, title: str, description: str, **kw) -> Declaration:
    """An industry model: its path, contract id and credits (2 unless given) follow from industry and name."""
    return Declaration(
        name=name,
        title=title,
        description=description,
        kind="tabular",
        industry=industry,
        contract_id=f"{industry}_{name.replace('-', '_')}",
        path=f"/api/industry/{industry}/{name}",
        credits=kw.pop("credits", 2),
        **kw,
    )


def yes_no(probability: str, *, cuts=(0.3, 0.6), level_name: str = "risk_level", extra=None):
    """The response of a binary model (responses.binary) plus the fields `extra(result)` adds."""

    def respond(r: Result) -> dict:
        block = out.binary(r, probability, cuts=cuts, level_name=level_name)
        return out.answer(r, {**block, **(extra(r) if extra else {})})

    return respond


def choice(label: str, extra=None):
    """The response of a multiclass model (responses.choice) plus the fields `extra(result)` adds."""

    def respond(r: Result) -> dict:
        return out.answer(r, {**out.choice(r, label), **(extra(r) if extra else {})})

    return respond
