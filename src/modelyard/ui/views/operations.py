"""Alerts and operations (admins; prediction-platform contract): alerts, each model's status, usage analytics
as charts, the predictions export, the cache and the in-place restart, and a link to /monitoring.

Alert rules are the admin settings' section `alerts` (Admin > Settings); the rules run every minute in the
workers (ops/alerts.py), so an alert shows here within a minute of its rule starting to hold.
"""
from __future__ import annotations

import csv
import io

import pandas as pd
import streamlit as st

from modelyard.ui.widgets import api, paged_table

ALERT_COLUMNS = ["status", "severity", "model", "rule", "message", "value", "threshold", "triggered_at",
                 "last_seen_at", "resolved_at", "id"]
STATUS_COLUMNS = ["model", "status", "health_score", "predictions_count", "error_rate", "avg_confidence",
                  "avg_processing_time", "cache_hit_rate", "deployment_status", "version", "last_trained",
                  "training_data_size"]


def _alerts() -> None:
    st.subheader("Alerts")
    shown = st.radio("Show", ["active and recent", "active", "resolved"], horizontal=True, key="alerts-status")
    listing = api().alerts(status=None if shown == "active and recent" else shown, limit=1000)
    st.metric("Active alerts", listing["active"])
    for alert in [a for a in listing["alerts"] if a["status"] == "active"][:5]:
        (st.error if alert["severity"] == "high" else st.warning)(f"{alert['severity']}: {alert['message']}")
    paged_table(listing["alerts"], key="alerts", columns=ALERT_COLUMNS)
    st.caption("The rules (thresholds, window, minimum calls) are the settings section `alerts` "
               "(Admin > Settings); they run every minute.")


def _model_status() -> list[str]:
    st.subheader("Model status")
    days = st.selectbox("Window", [1, 7, 30, 90], format_func=lambda d: f"last {d} day(s)", key="status-days")
    status = api().model_status(days=days)
    summary = status["system_summary"]
    total, healthy, score = st.columns(3)
    total.metric("Models", summary.get("total_models", 0))
    healthy.metric("Healthy", summary.get("healthy_models", 0))
    score.metric("Mean health score", summary.get("avg_health_score") if summary.get("avg_health_score")
                 is not None else "—")
    rows = [{"model": name, **figures} for name, figures in status["models"].items()]
    paged_table(rows, key="model-status", columns=STATUS_COLUMNS)
    for alert in status.get("alerts", []):
        st.warning(f"{alert['model']}: {alert['message']}")
    return list(status["models"])


def _usage(models: list[str]) -> None:
    st.subheader("Usage analytics")
    days_box, granularity_box, model_box = st.columns(3)
    days = days_box.number_input("Days back", min_value=1, max_value=365, value=7, step=1, key="usage-days")
    granularity = granularity_box.selectbox("Granularity", ["day", "hour", "week"], key="usage-granularity")
    model = model_box.selectbox("Model", ["every model"] + models, key="usage-model")
    usage = api().usage(days=int(days), granularity=granularity, model=None if model == "every model" else model)
    analytics = usage["analytics"]
    summary = analytics["summary"]
    for column, (key, label) in zip(st.columns(4), [("total_predictions", "Predictions"),
                                                     ("success_rate", "Success rate %"),
                                                     ("avg_confidence", "Mean confidence"),
                                                     ("avg_processing_time", "Mean seconds")]):
        column.metric(label, "—" if summary.get(key) is None else summary[key])
    if not summary["total_predictions"]:
        st.caption("No predictions in this window.")
        return
    trends = analytics["trends"]
    when = pd.to_datetime(trends["bucket_starts"])
    st.markdown(f"**Predictions per {trends['granularity']}**")
    st.bar_chart(pd.DataFrame({"predictions": trends["volume_trend"]}, index=when))
    st.markdown("**Mean confidence and seconds per call**")
    st.line_chart(pd.DataFrame({"confidence": trends["confidence_trend"],
                                "seconds per call": trends["performance_trend"]}, index=when))
    by_model, by_hour = st.columns(2)
    with by_model:
        st.markdown("**Predictions by model**")
        st.bar_chart(pd.Series({m: u["count"] for m, u in analytics["by_model"].items()}, name="predictions"))
    with by_hour:
        st.markdown("**Predictions by hour of day (UTC)**")
        st.bar_chart(pd.Series(analytics["hourly_distribution"], name="predictions"))


def _export() -> None:
    st.subheader("Export")
    days = st.number_input("Predictions of the last days", min_value=1, max_value=365, value=30, step=1,
                           key="export-days")
    if st.button("Prepare the CSV export"):
        st.session_state["export-csv"] = api().export_predictions(fmt="csv", days=int(days))
    content = st.session_state.get("export-csv")
    if content is not None:
        st.download_button("Download predictions.csv", content, file_name="predictions.csv", mime="text/csv",
                           type="primary")
        rows = max(sum(1 for _ in csv.reader(io.StringIO(content.decode("utf-8-sig")))) - 1, 0)
        st.caption(f"{rows:,} predictions, {len(content):,} bytes")


def _controls() -> None:
    st.subheader("Cache and restart")
    cache, restart = st.columns(2)
    with cache:
        st.caption("Drop every cached prediction (the next calls compute afresh).")
        if st.button("Clear the prediction cache"):
            answer = api().clear_cache()
            st.success(f"{answer['message']}: {answer['cleared'].get('predictions', 0)} prediction(s) "
                       f"({answer['backend']})")
    with restart:
        st.caption("Reload models and caches in place: no process stops, no request is refused.")
        sure = st.checkbox("Yes, restart in place", key="sure-restart")
        if st.button("Restart", disabled=not sure):
            answer = api().restart_system()
            st.success(f"{answer['message']} ({answer['took_ms']} ms)")
            st.json({"restarted": answer["restarted"], "not restarted": answer["not_restarted"]}, expanded=False)


def operations() -> None:
    st.title("Alerts and operations")
    st.link_button("Open /monitoring (live charts; it asks you to sign in)", f"{api().base_url}/monitoring")
    _alerts()
    _usage(_model_status())
    _export()
    _controls()
