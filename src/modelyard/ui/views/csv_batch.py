"""CSV batches of a built-in model (POST /api/upload/csv/{model}): summary, data quality, every row's result.

A file up to the server's row limit is answered at once; a larger one is a job (202) whose progress is
followed (GET /api/jobs/{id}) and whose results CSV is downloaded when it has completed.
"""
from __future__ import annotations

import csv
import io
import json
from typing import Any

import pandas as pd
import streamlit as st

from modelyard.client.api import ApiError
from modelyard.ui.views.gallery import choose_model, refusal
from modelyard.ui.widgets import api, chosen, follow_job, paged_table

SUMMARY = [("total_rows", "Rows"), ("processed_rows", "Processed"), ("failed_rows", "Failed"),
           ("success_rate", "Success rate %"), ("processing_time", "Seconds")]
QUALITY = [("quality_score", "Quality score"), ("missing_values", "Missing values"),
           ("invalid_formats", "Invalid formats"), ("outliers", "Outliers")]


def template(card: dict) -> bytes:
    """A CSV laid out for the model: every input as a column, one row from the model's example request."""
    example = card.get("example_request") or {}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([f["name"] for f in card["inputs"]])
    writer.writerow(["" if isinstance(example.get(f["name"]), (dict, type(None))) else example[f["name"]]
                     for f in card["inputs"]])
    return out.getvalue().encode()


def _flat(result: dict[str, Any]) -> dict[str, Any]:
    """One row's result as table cells: row, status, the prediction's fields, the error's message."""
    row = {"row": result["row"], "status": result["status"]}
    for name, value in (result.get("prediction") or {}).items():
        if isinstance(value, list):
            value = ", ".join(str(v) if not isinstance(v, dict) else json.dumps(v) for v in value)
        elif isinstance(value, dict):
            value = json.dumps(value)
        row[name] = value
    error = result.get("error")
    row["error"] = (error.get("message") if isinstance(error, dict) else error) or ""
    return row


def _job_rows(content: bytes) -> list[dict[str, Any]]:
    """The job's results CSV (row, status, prediction as JSON, error) as results like the immediate answer's."""
    rows = []
    for line in csv.DictReader(io.StringIO(content.decode())):
        rows.append({"row": int(line["row"]), "status": line["status"],
                     "prediction": json.loads(line["prediction"]) if line["prediction"] else None,
                     "error": line["error"] or None})
    return rows


def _score(model: str, file) -> dict:
    with st.spinner(f"Uploading and scoring {file.name}…"):
        answer = api().csv_batch(model, (file.name, file.getvalue(), "text/csv"))
    if "job_id" not in answer:
        rows = [_flat(r) for r in answer["results"]]
        return {"file": file.name, "model": answer["model"], "summary": answer["summary"],
                "data_quality": answer["data_quality"], "credits": answer["credits_consumed"], "rows": rows,
                "csv": pd.DataFrame(rows).to_csv(index=False).encode(), "job_id": None}
    st.info(f"{answer['rows']:,} rows: more than are answered at once, so job {answer['job_id']} scores them.")
    job = follow_job(lambda: api().job(answer["job_id"]), label=f"Scoring {answer['rows']:,} rows")
    content = api().csv_batch_results(answer["job_id"])
    result = job["result"]
    return {"file": file.name, "model": result["model"], "summary": result["summary"],
            "data_quality": result["data_quality"], "credits": result["credits_consumed"],
            "rows": [_flat(r) for r in _job_rows(content)], "csv": content, "job_id": answer["job_id"]}


def _show(scored: dict) -> None:
    st.subheader(f"{scored['file']} scored with {scored['model']}"
                 + (f" (job {scored['job_id']})" if scored["job_id"] else ""))
    summary, quality = scored["summary"], scored["data_quality"]
    columns = st.columns(len(SUMMARY) + 1)
    for column, (key, label) in zip(columns, SUMMARY):
        column.metric(label, summary.get(key, "—"))
    columns[-1].metric("Credits used", scored["credits"])
    st.markdown("**Data quality**")
    for column, (key, label) in zip(st.columns(len(QUALITY)), QUALITY):
        column.metric(label, quality.get(key, "—"))
    st.caption(" · ".join(filter(None, [
        quality.get("rule"), "columns used: " + ", ".join(quality.get("columns_used") or []),
        ("columns ignored: " + ", ".join(quality["columns_ignored"])) if quality.get("columns_ignored") else ""])))
    st.download_button("Download results", scored["csv"], file_name=f"{scored['model']}-results.csv",
                       mime="text/csv", type="primary")
    rows = scored["rows"]
    if st.checkbox("Only failed rows", key="csv-batch-failed"):
        rows = [r for r in rows if r["status"] != "success"]
    paged_table(pd.DataFrame(rows).astype(str), key="csv-batch-rows")


def csv_batch() -> None:
    st.title("CSV batch")
    model = choose_model("Built-in model", key="batch-model")
    card = api().gallery_model(model["name"])
    required = [f["name"] for f in card["inputs"] if f["required"]]
    optional = [f["name"] for f in card["inputs"] if not f["required"]]
    st.caption(f"One prediction per row; each processed row costs {card['credits']} credit(s). Required columns: "
               f"{', '.join(required) or 'none'}; optional: {', '.join(optional) or 'none'} (an empty cell takes "
               "the default). Large files are scored by a job with progress.")
    st.download_button("Download a CSV template", template(card), file_name=f"{card['name']}-template.csv",
                       mime="text/csv")
    with st.form(f"csv-batch-{card['name']}"):
        file = st.file_uploader("CSV with a header row", type=["csv"])
        submitted = st.form_submit_button("Score the CSV", type="primary")
    if submitted and chosen(file):
        try:
            st.session_state["csv-batch"] = _score(card["name"], file)
        except ApiError as exc:
            refusal(exc)
            return
    scored = st.session_state.get("csv-batch")
    if scored:
        _show(scored)
