"""Prediction-platform pages over the built-in models: the gallery's cards and the playground.

The playground's form is built from the model's input schema (GET /api/model-gallery/models/{name}):
a field left empty is not sent, so the API fills an optional field's default and names a missing
required one in its 422. Refusals (402 credits, 422 fields, 429 limits) are shown as sentences.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pandas as pd
import streamlit as st

from modelyard.client.api import ApiError
from modelyard.ui.widgets import account, api, choose, chosen, paged_table

LIST_COLUMNS = ["display_name", "name", "industry", "task", "status", "version", "accuracy", "credits",
                "training_data_size", "last_retrained"]


def _model_text(model: dict) -> str:
    where = f"{model['industry']}/" if model.get("industry") else ""
    return f"{model['display_name']} ({where}{model['name']})"


def is_admin() -> bool:
    current = account()
    return current is not None and current.role in ("admin", "universal")


def choose_model(label: str, *, key: str) -> dict:
    """A built-in model picked from the gallery; the last one picked on any of these pages comes first."""
    models = api().gallery_models()["models"]
    names = [m["name"] for m in models]
    last = st.session_state.get("builtin-model")
    model = choose(label, models, _model_text, id_key="name", key=key,
                   index=names.index(last) if last in names else 0)
    st.session_state["builtin-model"] = model["name"]
    return model


def refusal(exc: ApiError) -> None:
    """An API refusal of a built-in model call as something to act on: which fields, how many credits, when."""
    details = getattr(exc, "details", None)
    if exc.status == 401:
        raise exc  # the session ended: the app signs out with a note
    if exc.status == 402:
        st.error(f"Not enough credits: {exc.message}")
    elif exc.status == 429:
        wait = getattr(exc, "retry_after", None)
        st.warning(f"Rate limit reached: {exc.message}" + (f" Try again in {_duration(wait)}." if wait else ""))
    elif exc.status == 422 and isinstance(details, dict) and details.get("errors"):
        lines = [f"- **{e.get('field') or 'body'}**: {e.get('error')}"
                 + (f" (sent `{e['value']}`)" if e.get("value") is not None else "") for e in details["errors"]]
        st.error("The model cannot take this input:\n" + "\n".join(lines))
    else:
        st.error(exc.message)


def _duration(seconds: str) -> str:
    try:
        value = int(float(seconds))
    except ValueError:
        return f"{seconds} s"
    return f"{value} s" if value < 120 else f"{value // 60} min"


def _scalars(values: dict) -> dict:
    return {k: v for k, v in values.items() if isinstance(v, (int, float, str)) and not isinstance(v, bool)}


def show_card(card: dict) -> None:
    """A built-in model's card: what it does, its inputs, metrics, versions, and the synthetic-data note."""
    st.subheader(card["display_name"])
    st.write(card["description"])
    st.info(card["data_statement"])
    facts = {"Status": card["status"], "Version": card.get("version") or "—",
             "Training rows": f"{card['training_data_size']:,}" if card.get("training_data_size") else "—",
             "Credits per call": card["credits"]}
    for column, (label, value) in zip(st.columns(len(facts)), facts.items()):
        column.metric(label, value)
    st.caption(f"POST {card['endpoint']}" + (f" · {card['algorithm']}" if card.get("algorithm") else "")
               + (f" · served {card['serving']}" if card.get("serving") else "")
               + (f" · last retrained {card['last_retrained']}" if card.get("last_retrained") else ""))
    if card["status"] == "not trained":
        st.caption("Not trained yet: the platform trains it on its first prediction (a few seconds), or an admin "
                   "runs `modelyard gallery build`.")
    st.markdown("**Inputs**")
    inputs = pd.DataFrame([{"field": f["name"], "type": f["type"], "required": "yes" if f["required"] else "no",
                            "default": "" if f["required"] else str(f.get("default")), "range": _range(f),
                            "description": f.get("description", "")} for f in card["inputs"]])
    st.dataframe(inputs, hide_index=True)
    metrics = _scalars(card.get("metrics") or {})
    if metrics:
        st.markdown("**Metrics** (held-out rows of the synthetic recipe)")
        st.dataframe(pd.DataFrame([metrics]), hide_index=True)
    if card.get("feature_importances"):
        st.markdown("**Feature importance**")
        st.bar_chart(pd.Series(card["feature_importances"], name="importance").sort_values(ascending=False),
                     horizontal=True)
    if card.get("versions"):
        st.markdown("**Versions**")
        st.dataframe(pd.DataFrame([{"version": v["version"], "status": v["status"], "created_at": v["created_at"],
                                    "training_rows": v.get("training_rows"), "source": v.get("source"),
                                    **_scalars(v.get("metrics") or {})} for v in card["versions"]]), hide_index=True)
    with st.expander("Target, recipe and an example request"):
        st.write(f"Target: **{card.get('target')}**" + (f" ({card['target_meaning']})" if card.get("target_meaning")
                                                          else ""))
        if card.get("recipe"):
            st.text(card["recipe"])
        st.json(card.get("example_request") or {})


def _range(field: dict) -> str:
    if field.get("choices"):
        return " | ".join(field["choices"])
    if field.get("keys"):
        return "yes/no for: " + ", ".join(field["keys"])
    low, high = field.get("minimum"), field.get("maximum")
    if low is None and high is None:
        return f"at most {field['max_length']:,} characters" if field.get("max_length") else ""
    return f"{'' if low is None else f'{low:g}'} … {'' if high is None else f'{high:g}'}"


def _admin_controls(card: dict) -> None:
    st.subheader("Admin: versions and retraining")
    if card.get("kind") == "text":
        st.caption("A text model (lexicon and statistics): nothing to train or activate.")
        return
    others = [v for v in card.get("versions", []) if v["status"] != "deployed"]
    if others:
        with st.form(f"activate-{card['name']}"):
            version = st.selectbox("Version", [v["version"] for v in others])
            if st.form_submit_button("Activate this version"):
                done = api().activate_gallery_version(card["name"], version)
                st.success(f"{done['name']} {done['version']} is active: predictions use it from now on")
    else:
        st.caption("No other version to activate.")
    columns = ", ".join(f["name"] for f in card["inputs"])
    with st.form(f"retrain-{card['name']}", clear_on_submit=True):
        st.caption(f"A labeled CSV with the inputs ({columns}; optional ones may be left out) and the target "
                   f"column **{card.get('target')}** trains a new version.")
        file = st.file_uploader("Labeled CSV", type=["csv"])
        activate = st.checkbox("Activate the new version", value=True)
        if st.form_submit_button("Retrain") and chosen(file):
            with st.spinner(f"Training {card['name']} on {file.name}…"):
                done = api().retrain_gallery_model(card["name"], (file.name, file.getvalue(), "text/csv"),
                                                   activate=activate)
            st.success(f"Trained {done['name']} {done['version']} on {done.get('training_rows', '?')} rows"
                       + (": active now" if done["activated"] else " (not activated)"))
            st.dataframe(pd.DataFrame([_scalars(done["metrics"])]), hide_index=True)


def gallery() -> None:
    st.title("Model gallery")
    listing = api().gallery_models()
    st.caption(f"{listing['total']} built-in models, {listing['active']} trained and active. Each call costs the "
               "model's credits; every model is trained on synthetic data (see its card).")
    paged_table(listing["models"], key="gallery", columns=LIST_COLUMNS)
    model = choose_model("Model card", key="gallery-model")
    card = api().gallery_model(model["name"])
    show_card(card)
    if is_admin():
        _admin_controls(card)


def _initial(field: dict, example: Any) -> Any:
    """A field's first widget value for an example value (None, or no keys: empty, so not sent)."""
    if field.get("choices"):
        return example if example in field["choices"] else None
    if field["type"] == "boolean":
        return None if example is None else bool(example)
    if field["type"] in ("number", "integer"):
        return None if example is None else (int if field["type"] == "integer" else float)(example)
    if field["type"] == "object":
        return [k for k, v in (example or {}).items() if v]
    return "" if example is None else str(example)


def _form_state(card: dict) -> dict:
    """Which filling the form shows (the example, or empty) and its generation: a new generation makes new
    widgets, so browsers show the new values (widgets keep what was typed otherwise)."""
    return st.session_state.setdefault(f"form-{card['name']}", {"generation": 0, "example": True})


def fill(card: dict, *, example: bool) -> None:
    state = _form_state(card)
    state.update(generation=state["generation"] + 1, example=example)


def _field_input(card: dict, field: dict, value: Any, generation: int) -> Any:
    """One widget for one input field, first showing `value`; None: not sent (the API's default applies)."""
    kind, required = field["type"], field["required"]
    key = f"in-{card['name']}-{generation}-{field['name']}"
    label = field["name"] + (" *" if required else "")
    hint = "required" if required else f"default: {field.get('default')}"
    helptext = " · ".join(filter(None, [field.get("description"), _range(field), hint]))
    if field.get("choices") or kind == "boolean":
        options = list(field["choices"]) if field.get("choices") else [True, False]
        return st.selectbox(label, options, index=None if value is None else options.index(value),
                            format_func=lambda v: ("yes" if v else "no") if isinstance(v, bool) else v,
                            placeholder=hint, help=helptext, key=key)
    if kind in ("number", "integer"):
        cast = int if kind == "integer" else float
        low, high = field.get("minimum"), field.get("maximum")
        return st.number_input(label, value=value, min_value=None if low is None else cast(low),
                               max_value=None if high is None else cast(high), step=1 if kind == "integer" else None,
                               format=None if kind == "integer" else "%g", placeholder=hint, help=helptext, key=key)
    if kind == "object":
        chosen_keys = st.multiselect(label, field.get("keys", []), default=value, help=helptext, key=key,
                                     placeholder=hint)
        return {k: k in chosen_keys for k in field.get("keys", [])} if chosen_keys or required else None
    if kind == "text":
        return st.text_area(label, value=value, max_chars=field.get("max_length"), help=helptext, placeholder=hint,
                            key=key) or None
    return st.text_input(label, value=value, help=helptext, placeholder=hint, key=key) or None


def input_form(card: dict) -> dict:
    """The fields of a model in two columns, first filled with its example request; the record to send."""
    state = _form_state(card)
    example = (card.get("example_request") or {}) if state["example"] else {}
    left, right = st.columns(2)
    record = {}
    for i, field in enumerate(card["inputs"]):
        with left if i % 2 == 0 else right:
            value = _field_input(card, field, _initial(field, example.get(field["name"])), state["generation"])
        if value is not None:
            record[field["name"]] = value
    return record


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.2f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def show_answer(answer: dict) -> None:
    """A built-in model's answer: its values as metrics, factors as text, distributions as charts."""
    prediction = answer["prediction"]
    scalars = {k: v for k, v in _scalars(prediction).items() if k != "model_version"}
    sentences = {k: scalars.pop(k) for k in list(scalars) if isinstance(scalars[k], str) and len(scalars[k]) > 20}
    for start in range(0, len(scalars), 4):
        row = list(scalars.items())[start:start + 4]
        for column, (name, value) in zip(st.columns(4), row):
            column.metric(name.replace("_", " "), _value(value))
    for name, value in sentences.items():
        st.markdown(f"**{name.replace('_', ' ')}**: {value}")
    for name, value in prediction.items():
        label = name.replace("_", " ")
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            st.markdown(f"**{label}**")
            st.dataframe(pd.DataFrame(value), hide_index=True)
        elif isinstance(value, list):
            st.markdown(f"**{label}**: " + (", ".join(str(v) for v in value) or "none"))
        elif isinstance(value, dict) and set(value) == {"lower", "upper"}:
            st.markdown(f"**{label}**: {_value(value['lower'])} – {_value(value['upper'])}")
        elif isinstance(value, dict) and value and all(isinstance(v, (int, float)) for v in value.values()):
            st.markdown(f"**{label}**")
            st.bar_chart(pd.Series(value, name=name), horizontal=True)
        elif isinstance(value, dict):
            st.markdown(f"**{label}**")
            st.json(value)
    cached = answer.get("_cached_at")
    when = (f"from the cache (computed {datetime.fromtimestamp(cached, timezone.utc):%H:%M:%S} UTC)" if cached
            else "computed now")
    st.caption(f"{answer['model']} · {prediction.get('model_version', '')} · {answer['processing_time'] * 1000:.1f} ms"
               f" · {answer['credits_consumed']} credit(s) · {when}")
    with st.expander("The answer as JSON"):
        st.json(answer)


def playground() -> None:
    st.title("Built-in model playground")
    model = choose_model("Model", key="playground-model")
    card = api().gallery_model(model["name"])
    st.caption(f"{card['description']} Each call costs {card['credits']} credit(s): POST {card['endpoint']}. "
               "Fields marked * are required; an empty optional field takes its default.")
    example, empty = st.columns(2)
    example.button("Fill in the example", on_click=fill, args=(card,), kwargs={"example": True})
    empty.button("Clear the form", on_click=fill, args=(card,), kwargs={"example": False})
    with st.form(f"builtin-{card['name']}"):
        record = input_form(card)
        submitted = st.form_submit_button("Predict", type="primary")
    if submitted:
        try:
            with st.spinner(f"Asking {card['display_name']}…" + (" (its first call trains it: a few seconds)"
                                                                  if card["status"] == "not trained" else "")):
                answer = api().predict_builtin(card["name"], record, industry=card.get("industry"))
        except ApiError as exc:
            refusal(exc)
            return
        show_answer(answer)
