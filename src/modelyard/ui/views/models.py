"""Data scientist pages about models: train with live progress, compare and deploy, predict, upload a file."""
from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from modelyard.ui.widgets import api, choose, choose_many, chosen, follow_job, paged_table

MODEL_TYPES = ["auto", "classification", "regression"]


def _version_label(model: dict) -> str:
    return f"{model['name']} v{model['version']} ({model['status']}, {model['id']})"


def _all_versions(status: str | None = None) -> list[dict]:
    """Every version this user may see, newest first, read page by page."""
    found, page = [], 1
    while True:
        answer = api().models(page=page, limit=200, status=status)
        found += answer["models"]
        if len(found) >= answer["total"] or not answer["models"]:
            return found
        page += 1


def train() -> None:
    st.title("Train a model")
    datasets = api().datasets()
    if not datasets:
        st.info("Upload a CSV on the Datasets page first.")
        return
    dataset = choose("Dataset", datasets, lambda d: f"{d['filename']} ({d['file_id']})", id_key="file_id")
    with st.form(f"train-{dataset['file_id']}"):
        columns = dataset["column_names"]
        likely = (dataset.get("profile") or {}).get("likely_target")
        target = st.selectbox("Target column", columns,
                              index=columns.index(likely) if likely in columns else len(columns) - 1)
        model_type = st.radio("Model type", MODEL_TYPES, horizontal=True)
        budget = st.slider("Time budget (seconds)", min_value=5, max_value=600, value=30, step=5)
        name = st.text_input("Model name", help="default: from the file and the target")
        if st.form_submit_button("Train", type="primary"):
            job = api().train(dataset["file_id"], target=target, model_type=model_type, budget=budget, name=name)
            st.session_state["training-job"] = job["job_id"]
    job_id = st.session_state.get("training-job")
    if job_id:
        done = follow_job(lambda: api().training(job_id), label="Training")
        st.session_state.pop("training-job")
        st.session_state["trained"] = api().model(done["model_id"])
    trained = st.session_state.get("trained")
    if trained:
        st.success(f"Trained {trained['name']} v{trained['version']}: {trained['algorithm']} ({trained['id']})")
        show_metrics([trained])
        deploy_button(trained)


def deploy_button(model: dict) -> None:
    if model["status"] == "deployed":
        st.caption(f"{model['name']} v{model['version']} is deployed: POST /api/predict/{model['name']}")
    elif st.button(f"Deploy {model['name']} v{model['version']}", key=f"deploy-{model['id']}", type="primary"):
        api().deploy(model["id"])
        st.success(f"{model['name']} v{model['version']} deployed")


def _scalar_metrics(model: dict) -> dict:
    return {k: v for k, v in model["metrics"].items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def show_metrics(details: list[dict]) -> None:
    """Metrics side by side, then each version's confusion matrix and feature importances as charts."""
    table = pd.DataFrame({f"{m['name']} v{m['version']}": _scalar_metrics(m) for m in details})
    st.dataframe(table)
    for column, model in zip(st.columns(len(details)), details):
        with column:
            st.markdown(f"**{model['name']} v{model['version']}** · {model['algorithm']}")
            matrix = model["metrics"].get("confusion_matrix")
            if matrix:
                classes = [str(c) for c in model.get("classes") or range(len(matrix))]
                cells = pd.DataFrame([{"actual": classes[i], "predicted": classes[j], "count": n}
                                      for i, row in enumerate(matrix) for j, n in enumerate(row)])
                heat = alt.Chart(cells).mark_rect().encode(
                    x="predicted:N", y="actual:N", color=alt.Color("count:Q", scale=alt.Scale(scheme="blues")),
                    tooltip=["actual", "predicted", "count"])
                st.caption("Confusion matrix (test split)")
                st.altair_chart(heat + heat.mark_text(fontSize=14).encode(text="count:Q", color=alt.value("black")),
                                height=80 + 40 * len(classes))
            importances = model.get("feature_importances") or {}
            if importances:
                st.caption("Feature importance")
                st.bar_chart(pd.Series(importances, name="importance").sort_values(ascending=False).head(20),
                             horizontal=True)


def compare() -> None:
    st.title("Models")
    versions = _all_versions()
    if not versions:
        st.info("No models yet: train one or upload a model file.")
        return
    paged_table(versions, key="models", columns=["name", "version", "type", "algorithm", "accuracy", "status",
                                                 "created_at", "id"])
    details = [api().model(v["id"]) for v in choose_many("Compare versions", versions, _version_label)]
    if details:
        show_metrics(details)
        for model in details:
            deploy_button(model)


def _input(column: dict):
    name, kind = column["name"], column.get("type", "string")
    if kind == "integer":
        return st.number_input(name, value=0, step=1)
    if kind == "number":
        return st.number_input(name, value=0.0, format="%g")
    if kind == "boolean":
        return st.checkbox(name)
    return st.text_input(name, help="leave empty for a missing value") or None


def playground() -> None:
    st.title("Prediction playground")
    versions = _all_versions()
    if not versions:
        st.info("No models yet: train one or upload a model file.")
        return
    deployed = [v for v in versions if v["status"] == "deployed"] + [v for v in versions if v["status"] != "deployed"]
    model = api().model(choose("Model", deployed, _version_label)["id"])
    with st.form(f"predict-{model['id']}"):
        left, right = st.columns(2)
        row = {}
        for i, column in enumerate(model["signature"]):
            with left if i % 2 == 0 else right:
                row[column["name"]] = _input(column)
        submitted = st.form_submit_button("Predict", type="primary")
    if submitted:
        answer = api().predict(model["id"], [row])["predictions"][0]
        st.metric("Prediction", str(answer["prediction"]),
                  help=None if answer.get("confidence") is None else f"confidence {answer['confidence']:.3f}")
        if answer.get("probabilities"):
            st.bar_chart(pd.Series(answer["probabilities"], name="probability"))


def upload_model() -> None:
    st.title("Upload a model file")
    st.caption("skops, ONNX, LightGBM or XGBoost files; pickle/joblib only when an admin allows it in Settings. "
               "A `signature.json` artifact names the model's inputs.")
    tables = {"(none)": None} | {t["name"]: t["name"] for t in api().feature_tables()}
    with st.form("upload-model", clear_on_submit=True):
        name = st.text_input("Model name")
        version = st.text_input("Version label", help="default: the next number")
        description = st.text_area("Description")
        model_file = st.file_uploader("Model file")
        artifacts = st.file_uploader("Artifact files", accept_multiple_files=True)
        table = tables[st.selectbox("Feature table for /inference", list(tables))]
        deploy = st.checkbox("Deploy this version")
        if st.form_submit_button("Upload model", type="primary") and chosen(model_file):
            answer = api().upload_model(
                name=name, version=version, description=description, deploy=deploy, feature_table=table,
                model_file=(model_file.name, model_file.getvalue(), "application/octet-stream"),
                artifacts=[(a.name, a.getvalue(), "application/octet-stream") for a in artifacts or []])
            st.success(f"Uploaded {answer['model_name']} version {answer['model_version']} "
                       f"({answer['format']}, {answer['task']}): {answer['status']}")
            st.json(answer, expanded=False)
