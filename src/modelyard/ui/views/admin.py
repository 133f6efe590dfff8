"""Admin pages: users and roles, assigning requests to labelers, settings, activity, the scoring dashboard,
credits."""
from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from modelyard.client.api import ApiError
from modelyard.ui.widgets import api, choose, credit_history, follow_job, paged_table

ROLES = ["user", "labeler", "admin", "universal"]
ACTIVITY_TYPES = ["upload", "training", "deployment", "prediction", "model", "settings", "user"]


def _role(user: dict) -> str:
    return {"customer": "user"}.get(user["role"], user["role"])  # /admin/users speaks the labeling contract


def users() -> None:
    st.title("Users and roles")
    with st.expander("New user"), st.form("new-user", clear_on_submit=True):
        username = st.text_input("Username")
        password = st.text_input("Password", type="password", help="at least 8 characters")
        role = st.selectbox("Role", ROLES)
        email = st.text_input("Email (optional)")
        if st.form_submit_button("Create", type="primary"):
            made = api().create_user(username, password, role, email or None)
            st.success(f"Created {made['username']} ({_role(made)})")
    everyone = api().users()
    paged_table([{**u, "role": _role(u)} for u in everyone], key="users",
                columns=["id", "username", "role", "is_active", "email", "created_at", "last_login_at"])
    user = choose("Change", everyone, lambda u: u["username"])
    with st.form(f"edit-user-{user['id']}"):
        role = st.selectbox("Role", ROLES, index=ROLES.index(_role(user)) if _role(user) in ROLES else 0)
        active = st.checkbox("Active", value=user["is_active"])
        if st.form_submit_button("Save"):
            updated = api().update_user(user["id"], role=role, is_active=active)
            st.success(f"{updated['username']}: {_role(updated)}, {'active' if updated['is_active'] else 'inactive'}")


def assignments() -> None:
    st.title("Assign requests to labelers")
    requests = api().admin_requests()
    labelers = [u["username"] for u in api().users() if _role(u) in ("labeler", "universal") and u["is_active"]]
    if not requests or not labelers:
        st.info("Assigning needs a labeling request and an active labeler account.")
    else:
        with st.form("assign"):
            request = choose("Request", requests, lambda r: f"{r['title']} · {r['owner']} ({r['id']})")
            labeler = st.selectbox("Labeler", labelers)
            if st.form_submit_button("Assign", type="primary"):
                answer = api().assign(request["id"], labeler)
                st.success(f"{request['title']} assigned to {labeler} (task {answer['task_id']})")
    st.subheader("Tasks")
    tasks = api().admin_tasks()
    for task in tasks:
        task["progress"] = f"{task['labeled_count']}/{task['images_count']}"
    paged_table(tasks, key="admin-tasks", columns=["request_id", "labeler", "status", "progress", "created_at", "id"])


def settings() -> None:
    st.title("Settings")
    if st.session_state.get("settings-saved"):
        st.success(st.session_state.pop("settings-saved"))
    current = api().settings()
    names = sorted({m["name"] for m in api().models(limit=200)["models"]})
    try:
        active = api().active_model()["model"]
    except ApiError:
        active = None
    st.subheader("CSV scoring: active model")
    if names:
        with st.form("active-model"):
            choice = st.selectbox("Model whose deployed version scores CSVs", names,
                                  index=names.index(active) if active in names else 0)
            if st.form_submit_button("Make active"):
                answer = api().set_active_model(choice)
                st.success(f"{answer['model']} scores CSVs (version {answer['deployed_version']})")
    else:
        st.caption("No models yet.")
    st.subheader("Model registry")
    allow = current["registry"]["allowPickle"]
    wanted = st.toggle("Allow pickle/joblib uploads (from admins; loading one runs the code it carries)", value=allow)
    if wanted != allow:
        api().update_settings({"registry": {"allowPickle": wanted}})
        st.success(f"Pickle uploads {'allowed' if wanted else 'refused'}")
    _section_editor(current)
    with st.expander("All settings"):
        st.json(current)


def _field(name: str, value):
    """One setting as a widget of its type; lists as comma-separated text, anything else as JSON."""
    if isinstance(value, bool):
        return st.checkbox(name, value=value)
    if isinstance(value, int):
        return int(st.number_input(name, value=value, step=1))
    if isinstance(value, float):
        return float(st.number_input(name, value=value, format="%g"))
    if isinstance(value, str):
        return st.text_input(name, value=value)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        text = st.text_input(f"{name} (comma-separated)", value=", ".join(value))
        return [v.strip() for v in text.split(",") if v.strip()]
    text = st.text_area(f"{name} (JSON)", value=json.dumps(value))
    try:
        return json.loads(text)
    except ValueError:
        return text  # the API says what is wrong with it


def _section_editor(current: dict) -> None:
    """Any settings section edited field by field (`alerts` first: the alert rules); the API validates."""
    st.subheader("Edit a section")
    names = sorted(current)
    name = st.selectbox("Section", names, index=names.index("alerts") if "alerts" in names else 0,
                        key="settings-section")
    values = current[name]
    with st.form(f"settings-{name}"):
        edited = {key: _field(key, value) for key, value in values.items()}
        if st.form_submit_button(f"Save {name}"):
            changes = {key: value for key, value in edited.items() if value != values[key]}
            if not changes:
                st.info("Nothing changed.")
                return
            try:
                api().update_settings({name: changes})
            except ApiError as exc:
                if exc.status == 401:
                    raise
                st.error(exc.message)
                return
            st.session_state["settings-saved"] = f"Saved {name}: {', '.join(sorted(changes))}"
            st.rerun()


def activity() -> None:
    st.title("Activity log")
    kind = st.selectbox("Type", ["all"] + ACTIVITY_TYPES)
    page = api().activity(limit=1000, type_=None if kind == "all" else kind)
    st.caption(f"{page['total']} entries (the newest {len(page['activities'])} shown)")
    paged_table(page["activities"], key="activity", columns=["timestamp", "type", "user", "message"])


def scoring_dashboard() -> None:
    st.title("CSV scoring dashboard")
    board = api().scoring_dashboard()
    totals = board["totals"]
    for column, (name, value) in zip(st.columns(max(len(totals), 1)), totals.items()):
        column.metric(name.replace("_", " "), value if isinstance(value, (int, float, str)) else str(value))
    if board.get("last_retrain"):
        st.write("Last retraining")
        st.json(board["last_retrain"], expanded=False)
    _retrain()
    uploads, logins = st.columns(2)
    with uploads:
        st.subheader("Recent uploads")
        st.dataframe(pd.DataFrame(board["recent_uploads"]).astype(str), hide_index=True)
    with logins:
        st.subheader("Recent logins")
        st.dataframe(pd.DataFrame(board["recent_logins"]).astype(str), hide_index=True)
    status = api().status()
    st.subheader(f"System: {status['status']}")
    for warning in status.get("warnings", []):
        st.warning(warning)
    st.caption(f"models {status['models_count']} · active jobs {status['active_jobs']} · CPU {status['cpu_usage']} · "
               f"memory {status['memory_usage']} · storage {status['storage_used']} · up {status['uptime']}")
    if api().has_monitoring():
        st.link_button("Monitoring", f"{api().base_url}/monitoring")
    else:
        st.caption("This deployment has no /monitoring page yet (it comes with the prediction platform).")


def _retrain() -> None:
    """POST /retrain: a new version of the active scoring model from the labeled rows, followed live."""
    with st.expander("Retrain the active scoring model"), st.form("retrain"):
        threshold = st.number_input("Retrain when at least this many new labeled rows exist", min_value=1, value=50,
                                    step=1)
        activate = st.selectbox("Activate the new version", ["if_not_worse", "always", "never"])
        if not st.form_submit_button("Retrain"):
            return
        answer = api().retrain(int(threshold), activate)
        st.info(answer["message"])
        if answer["status"] != "started":
            return

        def read() -> dict:
            status = api().retrain_status(answer["job_id"])
            return {**status, "current_step": status.get("step")}

        done = follow_job(read, label=f"Retraining {answer['model']}")
        st.success(f"{done.get('outcome') or 'done'}: version {done['new_version']} "
                   f"({'activated' if done.get('activated') else 'not activated'})")
        st.json(done["metrics"], expanded=False)


def credits() -> None:
    st.title("Credits")
    st.caption("Credits pay for the built-in models' predictions (POST /admin/users/{id}/credits).")
    everyone = api().users()
    with st.form("allocate-credits"):
        user = choose("User", everyone, lambda u: f"{u['username']} ({u['plan']} plan, id {u['id']})",
                      key="credit-user")  # keyed: the choice survives the rerun after an allocation
        amount = st.number_input("Credits to add (a negative number takes some back)", value=100, step=1)
        reason = st.text_input("Reason (optional)", max_chars=200)
        if st.form_submit_button("Allocate", type="primary"):
            done = api().allocate_credits(user["id"], int(amount), reason.strip() or None)
            st.success(f"{user['username']}: {done['credits_added']:+,} credits, {done['credits_remaining']:,} remain")
            everyone = api().users()
    paged_table([{**u, "role": _role(u)} for u in everyone], key="credit-users",
                columns=["id", "username", "role", "plan", "credits_remaining", "is_active"])
    st.subheader("Credit history")
    user = choose("History of", everyone, lambda u: f"{u['username']} (id {u['id']})", key="credit-history-user")
    credit_history(user_id=user["id"], key=f"credit-history-{user['id']}")
