"""The signed-in account's webhooks (prediction-platform contract, docs/webhooks.md): list, configure, edit,
send a test, delete, and each one's delivery log.

A generated (or rotated) secret is shown once, as the API answers it; afterwards only its last four
characters are known. Deleting asks for a confirmation first: the delivery log goes with the webhook.
"""
from __future__ import annotations

import streamlit as st

from modelyard.client.api import ApiError
from modelyard.ui.widgets import api, api_paged_table, choose, paged_table

EVENTS = ["prediction.completed", "model.updated", "alert.triggered", "user.credit_low"]
DELIVERY_COLUMNS = ["created_at", "event", "status", "status_code", "attempts", "max_attempts", "error",
                    "duration_ms", "finished_at", "delivery_id"]


def _hook_text(hook: dict) -> str:
    return f"{hook['url']} ({', '.join(hook['events'])}{'' if hook['active'] else ', paused'})"


def _show_secret() -> None:
    shown = st.session_state.get("webhook-secret")
    if not shown:
        return
    st.success(f"The secret of {shown['url']}: copy it now (it signs every delivery and is not shown again).")
    st.code(shown["secret"], language=None)
    if st.button("I have copied it: hide the secret"):
        st.session_state.pop("webhook-secret")
        st.rerun()


def _refused(exc: ApiError) -> None:
    """A refused change as the API's sentence (it names each refused field), in place of the form's result."""
    if exc.status == 401:
        raise exc  # the session ended: the app signs out with a note
    st.error(exc.message)


def _answered(call) -> None:
    """Make the call; keep the API's message (and a secret shown once) for the next run and run the page again."""
    try:
        answer = call()
    except ApiError as exc:
        _refused(exc)
        return
    st.session_state["webhook-done"] = answer["message"]
    if answer.get("secret_shown_once"):
        st.session_state["webhook-secret"] = {"url": answer["url"], "secret": answer["secret"]}
    st.rerun()


def _configure(events: list[str]) -> None:
    with st.form("new-webhook", clear_on_submit=True):
        url = st.text_input("URL", placeholder="https://hooks.example.com/modelyard")
        chosen = st.multiselect("Events", events, default=events[:1])
        secret = st.text_input("Secret (optional, 16 to 200 characters; generated and shown once when empty)",
                               type="password")
        description = st.text_input("Description (optional)", max_chars=200)
        if st.form_submit_button("Configure", type="primary"):
            _answered(lambda: api().configure_webhook(url.strip(), chosen, secret=secret or None,
                                                      description=description.strip() or None))


def _edit(hook: dict, events: list[str]) -> None:
    with st.form(f"edit-webhook-{hook['id']}"):
        url = st.text_input("URL", value=hook["url"])
        chosen = st.multiselect("Events", events, default=[e for e in hook["events"] if e in events])
        description = st.text_input("Description", value=hook.get("description") or "", max_chars=200)
        active = st.checkbox("Active (deliveries are sent)", value=hook["active"])
        rotate = st.checkbox("Generate a new secret (shown once)")
        if st.form_submit_button("Save changes"):
            changes = {"url": url.strip(), "events": chosen, "description": description.strip() or None,
                       "active": active}
            changes = {k: v for k, v in changes.items() if v != hook.get(k)}
            if rotate:
                changes["rotate_secret"] = True
            if not changes:
                st.info("Nothing changed.")
            else:
                _answered(lambda: api().update_webhook(hook["id"], **changes))


def _test_and_delete(hook: dict) -> None:
    test, delete = st.columns(2)
    with test:
        st.caption("A `webhook.test` event through the same signed, retried delivery (60 an hour).")
        if st.button("Send a test", key=f"test-{hook['id']}"):
            _answered(lambda: api().send_webhook_test(hook["id"]))
    with delete:
        sure = st.checkbox("Yes, delete this webhook and its delivery log", key=f"sure-webhook-{hook['id']}")
        if st.button("Delete", key=f"delete-{hook['id']}", disabled=not sure):
            api().delete_webhook(hook["id"])
            st.session_state["webhook-done"] = f"Deleted the webhook of {hook['url']}"
            st.rerun()


def _deliveries(hook: dict) -> None:
    st.subheader("Delivery log")
    if st.button("Refresh", key=f"refresh-{hook['id']}"):
        st.rerun()

    def read(limit: int, offset: int) -> tuple[list[dict], int]:
        page = api().webhook_deliveries(hook["id"], limit=limit, offset=offset)
        return page["deliveries"], page["total"]

    api_paged_table(read, key=f"deliveries-{hook['id']}", columns=DELIVERY_COLUMNS)


def webhooks() -> None:
    st.title("Webhooks")
    st.caption("A signed JSON POST to your URL when an event happens; failed deliveries are retried. "
               "Addresses that are not public are refused unless an admin allows them (Settings, `webhooks`).")
    _show_secret()
    if st.session_state.get("webhook-done"):
        st.success(st.session_state.pop("webhook-done"))
    listing = api().webhooks()
    events = [e for e in listing.get("events", EVENTS) if e in EVENTS] or EVENTS
    hooks = listing["webhooks"]
    with st.expander("Configure a new webhook", expanded=not hooks):
        _configure(events)
    if not hooks:
        st.caption("No webhooks yet.")
        return
    paged_table([{**h, "events": ", ".join(h["events"])} for h in hooks], key="webhooks",
                columns=["url", "events", "active", "description", "secret", "created_at", "owner_id", "id"])
    hook = choose("Webhook", hooks, _hook_text, key="webhook-choice")
    with st.expander("Edit"):
        _edit(hook, events)
    _test_and_delete(hook)
    _deliveries(hook)
