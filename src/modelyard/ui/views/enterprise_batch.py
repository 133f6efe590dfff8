"""Enterprise batch (POST /api/enterprise/batch/predict): several calls to built-in models in one request.

The batch is built here, one item at a time (a model and its input, first filled with the model's example
request) or pasted as JSON; each item is predicted on its own, so a bad one is a failed entry with its
error, not a failed batch. The answer's per-item results, statistics and credits used are shown.
"""
from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from modelyard.client.api import ApiError
from modelyard.ui.views.gallery import choose_model, refusal
from modelyard.ui.widgets import api, paged_table

ITEMS = "enterprise-batch-items"
STATS = [("total_requests", "Requests"), ("successful", "Successful"), ("failed", "Failed"),
         ("success_rate", "Success rate %"), ("total_processing_time", "Seconds")]


def _items() -> list[dict]:
    return st.session_state.setdefault(ITEMS, [])


def _add_item() -> None:
    model = choose_model("Built-in model", key="enterprise-batch-model")
    card = api().gallery_model(model["name"])
    example = json.dumps(card.get("example_request") or {}, indent=1)
    with st.form(f"enterprise-batch-add-{card['name']}", clear_on_submit=False):
        text = st.text_area(f"Input of {card['name']} (JSON; its example request to start from)", value=example,
                            height=180)
        if st.form_submit_button("Add to the batch"):
            try:
                record = json.loads(text)
            except ValueError as exc:
                st.error(f"The input is not JSON: {exc}")
                return
            _items().append({"model": card["name"], "input": record})
            st.rerun()


def _edit_as_json() -> None:
    with st.expander("The batch as JSON (edit or paste a whole batch)"):
        with st.form("enterprise-batch-json"):
            text = st.text_area('[{"model": …, "input": {…}}, …]', value=json.dumps(_items(), indent=1), height=220)
            if st.form_submit_button("Use this JSON"):
                try:
                    items = json.loads(text)
                except ValueError as exc:
                    st.error(f"The batch is not JSON: {exc}")
                    return
                if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
                    st.error('The batch must be a JSON list of {"model", "input"} objects.')
                    return
                st.session_state[ITEMS] = items
                st.rerun()


def _flat(result: dict) -> dict:
    error = result.get("error") or {}
    return {"index": result["index"], "model": result["model"], "status": result["status"],
            "prediction": json.dumps(result.get("prediction")) if result.get("prediction") is not None else "",
            "error": error.get("message", "") if isinstance(error, dict) else str(error),
            "seconds": result.get("processing_time")}


def _show(answer: dict) -> None:
    st.subheader("Results")
    stats = answer["batch_stats"]
    columns = st.columns(len(STATS) + 1)
    for column, (key, label) in zip(columns, STATS):
        column.metric(label, "—" if stats.get(key) is None else stats[key])
    columns[-1].metric("Credits used", answer["credits_consumed"])
    st.caption(f"answered at {answer['timestamp']}")
    paged_table(pd.DataFrame([_flat(r) for r in answer["results"]]).astype(str), key="enterprise-batch-results")


def enterprise_batch() -> None:
    st.title("Enterprise batch")
    st.caption("Several calls to built-in models in one request; each successful item costs its model's credits, "
               "a failed one nothing.")
    _add_item()
    items = _items()
    _edit_as_json()
    if items:
        st.markdown(f"**The batch: {len(items)} item(s)**")
        paged_table([{"index": i, "model": item.get("model"), "input": json.dumps(item.get("input"))}
                     for i, item in enumerate(items)], key="enterprise-batch-items")
        run, clear = st.columns(2)
        if clear.button("Empty the batch"):
            st.session_state[ITEMS] = []
            st.session_state.pop("enterprise-batch-answer", None)
            st.rerun()
        if run.button("Run the batch", type="primary"):
            try:
                st.session_state["enterprise-batch-answer"] = api().enterprise_batch(items)
            except ApiError as exc:
                refusal(exc)
    else:
        st.caption("The batch is empty: add an item above.")
    answer = st.session_state.get("enterprise-batch-answer")
    if answer:
        _show(answer)
