"""Data scientist pages about data: datasets and their profiles, batch scoring of a CSV, feature tables."""
from __future__ import annotations

import io

import pandas as pd
import streamlit as st

from modelyard.client.api import ApiError
from modelyard.ui.widgets import api, choose, chosen, follow_job, paged_table


def _dataset_text(dataset: dict) -> str:
    return f"{dataset['filename']} ({dataset['file_id']})"


def show_profile(dataset: dict) -> None:
    """Shape, warnings and the per-column summary of an uploaded CSV."""
    profile = dataset.get("profile") or {}
    rows, columns, dupes = st.columns(3)
    rows.metric("Rows", dataset["rows"])
    columns.metric("Columns", dataset["columns"])
    dupes.metric("Duplicated rows", profile.get("duplicated_rows", 0))
    for warning in dataset["validation"]["warnings"]:
        st.warning(warning)
    if not dataset["validation"]["warnings"]:
        st.success("No warnings: the file looks ready to train on.")
    if profile.get("likely_target"):
        st.caption(f"Likely target: **{profile['likely_target']}**"
                   + (f"; id-like columns: {', '.join(profile['likely_id_columns'])}"
                      if profile.get("likely_id_columns") else ""))
    table = pd.DataFrame(profile.get("column_profiles") or [])
    if not table.empty:
        paged_table(table.astype(str), key=f"profile-{dataset['file_id']}")


def datasets() -> None:
    st.title("Datasets")
    with st.form("upload-csv", clear_on_submit=True):
        file = st.file_uploader("CSV file with a header row", type=["csv"])
        if st.form_submit_button("Upload CSV", type="primary") and chosen(file):
            with st.spinner(f"Uploading {file.name}…"):
                st.session_state["dataset"] = api().upload_dataset(file.name, file.getvalue())
            st.success(f"Uploaded {file.name}")
    mine = api().datasets()
    if mine:
        st.subheader("Your datasets")
        paged_table(mine, key="datasets", columns=["file_id", "filename", "rows", "columns", "upload_time"])
    shown = st.session_state.get("dataset")
    if mine:
        newest = next((i for i, d in enumerate(mine) if shown and d["file_id"] == shown["file_id"]), 0)
        shown = choose("Profile of", mine, _dataset_text, id_key="file_id", index=newest)
    if shown:
        st.subheader(f"Profile: {shown['filename']}")
        show_profile(shown)


def batch_scoring() -> None:
    st.title("Batch scoring")
    try:
        active = api().active_model()
        st.caption(f"Scores with the active model **{active['model']}** (deployed version "
                   f"{active['deployed_version']}); an admin chooses it in Settings.")
    except ApiError as exc:
        st.info(f"No model scores CSVs yet: {exc.message}")
        return
    st.download_button("Download the template", api().scoring_template(), file_name="template.csv", mime="text/csv")
    with st.form("score-csv"):
        file = st.file_uploader("CSV laid out like the template", type=["csv"])
        submitted = st.form_submit_button("Validate and score", type="primary")
    if submitted and chosen(file):
        upload = api().scoring_upload(file.name, file.getvalue())
        report = api().scoring_validate(upload["upload_id"])
        if not report["valid"]:
            st.error(f"{file.name} does not fit the model's template:")
            st.dataframe(pd.DataFrame(report["issues"]).astype(str), hide_index=True)
            return
        job = api().scoring_predict(upload["upload_id"])
        follow_job(lambda: api().job(job["job_id"]), label=f"Scoring {report['rows']} rows")
        st.session_state["scored"] = {"name": file.name, "job_id": job["job_id"],
                                      "csv": api().scoring_results(job["job_id"])}
    scored = st.session_state.get("scored")
    if scored:
        st.success(f"{scored['name']} scored (job {scored['job_id']}).")
        st.download_button("Download results", scored["csv"], file_name=f"{scored['job_id']}-results.csv",
                           mime="text/csv", type="primary")
        st.dataframe(pd.read_csv(io.BytesIO(scored["csv"]), nrows=20), hide_index=True)


def feature_tables() -> None:
    st.title("Feature tables")
    with st.expander("New feature table"), st.form("new-table", clear_on_submit=True):
        name = st.text_input("Name")
        keys = st.text_input("Entity key columns", help="comma separated, e.g. customer_id,purchase_date_id")
        description = st.text_input("Description")
        file = st.file_uploader("CSV or Parquet", type=["csv", "parquet"])
        if st.form_submit_button("Create", type="primary") and chosen(file):
            api().create_feature_table(name=name, key_columns=keys, description=description,
                                       file=(file.name, file.getvalue(), file.type or "text/csv"))
            st.success(f"Feature table {name} created")
    tables = api().feature_tables()
    paged_table(tables, key="tables", columns=["name", "key_columns", "rows", "version", "created_at"])
    if tables:
        detail = api().feature_table(choose("Details of", tables, lambda t: t["name"])["id"])
        st.write(f"Columns: {', '.join(c['name'] for c in detail['columns'])}")
        st.write("Versions")
        st.dataframe(pd.DataFrame(detail["versions"]).astype(str), hide_index=True)
        if detail["models"]:
            st.write("Models that look rows up here")
            st.dataframe(pd.DataFrame(detail["models"]).astype(str), hide_index=True)
