"""The signed-in account (prediction-platform contract): plan, credits and their history, and API keys.

A new or rotated key is shown once, as the API answers it; afterwards only its prefix is known. Revoking
asks for a confirmation first, since every program using the key stops working at its next request.
"""
from __future__ import annotations

import streamlit as st

from modelyard.ui import widgets
from modelyard.ui.widgets import api, choose, credit_history, paged_table


def _key_text(key: dict) -> str:
    return f"{key['name']} ({key['prefix']}…, made {key['created_at'][:10]})"


def _uses(key: dict) -> bool:
    """Whether this session signed in with this key (its token starts with the key's prefix)."""
    current = widgets.account()
    return current is not None and current.token.startswith(key["prefix"])


def _show_new_key() -> None:
    shown = st.session_state.get("new-api-key")
    if not shown:
        return
    st.success(f"{shown['what']} **{shown['name']}**. Copy it now (the copy icon at the right of the box): "
               "it is not shown again.")
    st.code(shown["api_key"], language=None)
    if st.button("I have copied it: hide the key"):
        st.session_state.pop("new-api-key")
        st.rerun()


def account() -> None:
    st.title("Account")
    me = api().me()
    plan, credits, role = st.columns(3)
    plan.metric("Plan", me["plan"])
    credits.metric("Credits remaining", f"{me['credits_remaining']:,}")
    role.metric("Role", me["role"])
    st.caption(f"{me['username']}" + (f" · {me['email']}" if me.get("email") else "")
               + f" · account since {me['created_at'][:10]} · an admin allocates credits")
    st.subheader("API keys")
    st.caption("Send a key as `X-API-Key: …` or `Authorization: Bearer …`.")
    _show_new_key()
    if st.session_state.get("revoked-api-key"):
        st.success(f"Revoked {st.session_state.pop('revoked-api-key')}")
    with st.form("new-api-key-form", clear_on_submit=True):
        name = st.text_input("Name of a new key", placeholder="e.g. crm-integration")
        if st.form_submit_button("Create key", type="primary"):
            made = api().create_api_key(name.strip() or "default")
            st.session_state["new-api-key"] = {**made, "what": "New key"}
            st.rerun()
    _keys(api().api_keys())
    st.subheader("Credit history")
    st.caption("Every change of your credits, newest first: predictions (negative), allocations, starting credits.")
    credit_history(key="my-credit-history")


def _keys(keys: list[dict]) -> None:
    if not keys:
        st.caption("No API keys yet.")
        return
    paged_table(keys, key="api-keys", columns=["name", "prefix", "created_at", "last_used_at", "id"])
    key = choose("Key", keys, _key_text, key="api-key-choice")
    rotate, revoke = st.columns(2)
    with rotate:
        st.caption("Rotate: a new key with the same name; this one stops working at once.")
        if st.button("Rotate", key=f"rotate-{key['id']}"):
            made = api().rotate_api_key(key["id"])
            if _uses(key):
                widgets.sign_in(widgets.account().username, widgets.account().role, made["api_key"])
            st.session_state["new-api-key"] = {**made, "what": "Rotated: the new key of"}
            st.rerun()
    with revoke:
        sure = st.checkbox(f"Yes, revoke {key['name']} ({key['prefix']}…): programs using it stop working",
                           key=f"sure-{key['id']}")
        if st.button("Revoke", key=f"revoke-{key['id']}", disabled=not sure):
            api().revoke_api_key(key["id"])  # this session's own key: the next call signs it out with a note
            st.session_state["revoked-api-key"] = _key_text(key)
            st.rerun()
