"""What the gallery says about a model: list entries, details, and the model card (JSON or markdown)."""

from __future__ import annotations

from typing import Any

from modelyard.gallery.declarations import Declaration
from modelyard.registry.models import RegisteredModel

SYNTHETIC = (
    "Trained on synthetic data only: modelyard generates it from a seeded recipe with a stated "
    "ground-truth relationship plus noise. No real customer, patient or market data was used; the "
    "metrics measure how well the model recovers that recipe, not real-world accuracy."
)


def _iso(value) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def _deployed(model: RegisteredModel | None):
    if model is None or model.deployed_version_id is None:
        return None
    return next((v for v in model.versions if v.id == model.deployed_version_id), None)


def catalog_number(decl: Declaration) -> int:
    """The contract's integer `id`: the model's place in the catalog, from 1 (stable: models are appended)."""
    from modelyard.gallery.catalog import DECLARATIONS

    return DECLARATIONS.index(decl) + 1


def summary(decl: Declaration, model: RegisteredModel | None) -> dict[str, Any]:
    """The contract's gallery list entry (plus gallery fields)."""
    version = _deployed(model)
    metrics = (version.metrics or {}) if version else {}
    accuracy = metrics.get("accuracy")
    data = (version.training_data or {}) if version else {}
    status = "active" if decl.kind == "text" or version is not None else "not trained"
    return {
        "id": catalog_number(decl),
        "model_id": model.id if model else None,
        "name": decl.name,
        "display_name": decl.title,
        "version": f"v{version.number}.0" if version else "v1.0" if decl.kind == "text" else None,
        "status": status,
        "accuracy": round(100 * accuracy, 1) if accuracy is not None else None,
        "r2": metrics.get("r2"),
        "created_at": _iso(model.created_at) if model else None,
        "description": decl.description,
        "features": [f.name for f in decl.fields],
        "training_data_size": data.get("rows"),
        "last_retrained": _iso(version.created_at) if version else None,
        "industry": decl.industry,
        "endpoint": decl.path,
        "credits": decl.credits,
        "kind": decl.kind,
        "task": decl.task if decl.kind == "tabular" else "text",
    }


def details(decl: Declaration, model: RegisteredModel | None) -> dict[str, Any]:
    """Everything describe() answers: the summary, the input schema, metrics and every version."""
    version = _deployed(model)
    out = summary(decl, model)
    out.update(
        inputs=[f.describe() for f in decl.fields],
        example_request=decl.example,
        metrics=(version.metrics or {}) if version else {},
        feature_importances=(version.feature_importances or {}) if version else {},
        algorithm=version.algorithm
        if version
        else ("VADER" if decl.name == "sentiment" else "YAKE" if decl.name == "keywords" else None),
        training_data=(version.training_data or {}) if version else None,
        serving=(version.serving or {}).get("predictor") if version else None,
        versions=[
            {
                "version": f"v{v.number}.0",
                "id": v.id,
                "status": v.status,
                "created_at": _iso(v.created_at),
                "metrics": v.metrics,
                "training_rows": (v.training_data or {}).get("rows"),
                "source": (v.training_data or {}).get("source"),
            }
            for v in (model.versions if model else [])
        ],
    )
    if decl.kind == "tabular":
        out.update(
            target=decl.target,
            target_meaning=decl.explains,
            recipe=(decl.simulate.__doc__ or "").strip(),
            derived=[{"name": d.name, "from": list(d.sources)} for d in decl.derived],
            data_statement=SYNTHETIC,
        )
    return out


def markdown(decl: Declaration, facts: dict[str, Any]) -> str:
    """The model card as markdown."""
    lines = [
        f"# {decl.title} (`{decl.name}`)",
        "",
        decl.description,
        "",
        f"- Endpoint: `POST {decl.path}`; credits per call: {decl.credits}",
        f"- Version: {facts.get('version') or 'not trained yet (trained on first use)'}; status: {facts['status']}",
    ]
    if decl.kind == "tabular":
        lines += [
            f"- Estimator: {facts.get('algorithm') or 'LightGBM / linear (see docs/gallery.md)'}; task: {decl.task}",
            f"- Target: `{decl.target}` — {decl.explains}",
            "",
            "## Training data",
            "",
            SYNTHETIC,
            "",
            f"Recipe: {facts.get('recipe')}",
            "",
            f"Rows: {facts.get('training_data_size')} (seed {decl.seed}; 80% training, 20% held out)",
            "",
            "## Metrics (held-out synthetic data)",
            "",
        ]
        metrics = facts.get("metrics") or {}
        lines += [f"- {k}: {v}" for k, v in metrics.items() if not isinstance(v, (list, dict))] or ["- not trained yet"]
    else:
        lines += ["", "Lexicon and statistics based: nothing is trained; see docs/gallery.md for the rules."]
    lines += [
        "",
        "## Inputs",
        "",
        "| field | type | required | default | range / choices | meaning |",
        "|---|---|---|---|---|---|",
    ]
    for f in facts["inputs"]:
        limits = " – ".join(str(f[k]) for k in ("minimum", "maximum") if k in f) or ", ".join(
            f.get("choices", []) or f.get("keys", [])
        )
        lines.append(
            f"| {f['name']} | {f['type']} | {'yes' if f['required'] else 'no'} | {f.get('default', '')} | "
            f"{limits} | {f['description']} |"
        )
    return "\n".join(lines) + "\n"
