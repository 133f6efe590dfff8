"""The catalog: every built-in model's declaration, and lookup by any of the names clients use.

A model is found by its gallery name (``lead-score``, ``risk-assessment``), its industry path
(``healthcare/risk-assessment``), or its contract id (``lead_scoring``, ``churn_prediction``).
"""

from __future__ import annotations

from modelyard.errors import NotFound
from modelyard.gallery.core_models import CORE
from modelyard.gallery.declarations import Declaration
from modelyard.gallery.industries import INDUSTRY
from modelyard.gallery.text import TEXT

DECLARATIONS: tuple[Declaration, ...] = (*CORE, *TEXT, *INDUSTRY)


class GalleryModelNotFound(NotFound):
    code = "MODEL_NOT_FOUND"

    def __init__(self, ref: str):
        super().__init__("gallery model", ref, details={"available": [d.name for d in DECLARATIONS]})


def _index() -> dict[str, Declaration]:
    index: dict[str, Declaration] = {}
    for d in DECLARATIONS:
        for key in (
            d.name,
            d.contract_id,
            d.contract_id.replace("_", "-"),
            f"{d.industry}/{d.name}" if d.industry else None,
        ):
            if key:
                assert index.setdefault(key, d) is d, f"two built-in models answer to {key!r}"
    return index


INDEX = _index()


def lookup(ref: str) -> Declaration:
    found = INDEX.get((ref or "").strip().strip("/").lower())
    if found is None:
        raise GalleryModelNotFound(ref)
    return found


def industry(industry: str, name: str) -> Declaration:
    """The model behind ``/api/industry/{industry}/{name}``."""
    found = INDEX.get(f"{industry}/{name}".lower())
    if found is None or found.industry != industry.lower():
        raise GalleryModelNotFound(f"{industry}/{name}")
    return found


def tabular() -> list[Declaration]:
    return [d for d in DECLARATIONS if d.kind == "tabular"]
