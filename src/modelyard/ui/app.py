"""The Streamlit app (`streamlit run` this file, or `modelyard ui`): sign-in, then the pages of the role.

It talks to modelyard only through the public HTTP API at BACKEND_URL (modelyard/client/api.py, the one
Python client), so it works against any deployment. API refusals are shown as the API's message; nothing
here shows a traceback.
"""
from __future__ import annotations

import streamlit as st

from modelyard.ui import widgets
from modelyard.client.api import ApiClient, ApiError, backend_url
from modelyard.ui.views import (
    account, admin, csv_batch, data, enterprise_batch, gallery, labeling, models, operations, webhooks,
)

FIRST_PAGE = {"user": "datasets", "labeler": "tasks", "admin": "users", "universal": "datasets"}


def pages_for(role: str) -> dict[str, list[st.Page]]:
    """The navigation of one role: admins see admin pages and a user's, universal sees every page."""
    first = FIRST_PAGE.get(role, "tasks")

    def page(run, title: str, path: str) -> st.Page:
        return st.Page(run, title=title, url_path=path, default=path == first)

    science = [page(data.datasets, "Datasets", "datasets"), page(models.train, "Train", "train"),
               page(models.compare, "Models", "models"), page(models.playground, "Predict", "predict"),
               page(data.batch_scoring, "Batch scoring", "batch"),
               page(data.feature_tables, "Feature tables", "features"),
               page(models.upload_model, "Upload model", "upload-model")]
    customer = [page(labeling.customer_requests, "Labeling requests", "requests"),
                page(labeling.quality_control, "Quality control", "qc")]
    platform = [page(account.account, "Account", "account"), page(gallery.gallery, "Model gallery", "gallery"),
                page(gallery.playground, "Playground", "playground"),
                page(csv_batch.csv_batch, "CSV batch", "csv-batch"),
                page(enterprise_batch.enterprise_batch, "Enterprise batch", "enterprise-batch"),
                page(webhooks.webhooks, "Webhooks", "webhooks")]
    labeler = [page(labeling.my_tasks, "My tasks", "tasks"), page(labeling.label_images, "Label images", "label")]
    admin_pages = [page(admin.users, "Users", "users"), page(admin.assignments, "Assignments", "assignments"),
                   page(admin.settings, "Settings", "settings"), page(admin.activity, "Activity", "activity"),
                   page(admin.scoring_dashboard, "Scoring dashboard", "dashboard"),
                   page(admin.credits, "Credits", "credits"),
                   page(operations.operations, "Alerts and operations", "operations")]
    sections = {"user": {"Data science": science, "Prediction platform": platform, "Labeling": customer},
                "labeler": {"Labeling": labeler, "Prediction platform": platform[:1]},
                "admin": {"Admin": admin_pages, "Data science": science, "Prediction platform": platform,
                          "Labeling": customer},
                "universal": {"Data science": science, "Prediction platform": platform,
                              "Labeling": customer + labeler, "Admin": admin_pages}}
    return sections.get(role, {"Labeling": labeler})  # roles as /api/auth/login and /api/auth/user name them


def login_page() -> None:
    st.title("modelyard")
    st.caption(f"API: {backend_url()}")
    by_password, by_key = st.tabs(["Username and password", "API key"])
    with by_password, st.form("login"):
        username = st.text_input("Username")
        password = st.text_input("Password", type="password")
        if st.form_submit_button("Log in", type="primary"):
            try:
                answer = ApiClient().login(username, password)
            except ApiError as exc:
                st.error(exc.message)
            else:
                widgets.sign_in(answer["username"], answer["role"], answer["access_token"])
                st.rerun()
    with by_key, st.form("login-key"):
        key = st.text_input("API key", type="password", help="an `mdy_…` key from POST /api/auth/keys")
        if st.form_submit_button("Use key", type="primary"):
            try:
                me = ApiClient(token=key.strip()).me()
            except ApiError as exc:
                st.error(exc.message)
            else:
                widgets.sign_in(me["username"], me["role"], key.strip())
                st.rerun()


def sidebar(account: widgets.Account) -> None:
    with st.sidebar:
        st.write(f"Signed in as **{account.username}** ({account.role})")
        if st.button("Log out"):
            widgets.sign_out()
            st.rerun()


def main() -> None:
    st.set_page_config(page_title="modelyard", layout="wide")
    account = widgets.account()
    if account is None:
        st.navigation([st.Page(login_page, title="Log in", url_path="login")], position="hidden").run()
        return
    page = st.navigation(pages_for(account.role), expanded=True)
    sidebar(account)
    try:
        page.run()
    except ApiError as exc:
        if exc.status == 401:
            widgets.sign_out()
            st.warning(f"Your session ended ({exc.message}); please log in again.")
            st.button("Log in again")
        else:
            st.error(exc.message)


main()
