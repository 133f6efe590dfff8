"""What several pages share: the signed-in session, paged tables, job progress, images from signed URLs."""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
import streamlit as st

from modelyard.client.api import TERMINAL, ApiClient, ApiError

PAGE_SIZE = 20


@dataclass
class Account:
    username: str
    role: str  # admin | user | labeler | universal
    token: str


def account() -> Account | None:
    return st.session_state.get("account")


def api() -> ApiClient:
    """The signed-in user's client, one per browser session."""
    if "client" not in st.session_state:
        current = account()
        st.session_state["client"] = ApiClient(token=current.token if current else None)
    return st.session_state["client"]


def sign_in(username: str, role: str, token: str) -> None:
    st.session_state["account"] = Account(username=username, role=role, token=token)
    st.session_state.pop("client", None)


def sign_out() -> None:
    for key in list(st.session_state.keys()):
        del st.session_state[key]


def paged_table(rows: list[dict] | pd.DataFrame, *, key: str, columns: list[str] | None = None,
                page_size: int = PAGE_SIZE) -> None:
    """A table that shows `page_size` rows at a time, with a page picker under it when there are more."""
    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows)
    if frame.empty:
        st.caption("nothing yet")
        return
    if columns:
        frame = frame[[c for c in columns if c in frame.columns]]
    pages = max(1, -(-len(frame) // page_size))
    page = st.session_state.get(f"{key}-page", 1) if pages > 1 else 1
    start = (min(page, pages) - 1) * page_size
    st.dataframe(frame.iloc[start:start + page_size], hide_index=True)
    if pages > 1:
        st.pagination(pages, key=f"{key}-page")
        st.caption(f"{len(frame)} rows, {page_size} per page")


def api_paged_table(read: Callable[[int, int], tuple[list[dict], int]], *, key: str, columns: list[str] | None = None,
                    page_size: int = PAGE_SIZE) -> list[dict]:
    """A table of a listing the API pages: `read(limit, offset)` answers one page's rows and the total, and only
    the page shown is fetched. Answers the rows shown."""
    page = max(1, st.session_state.get(f"{key}-page", 1))
    rows, total = read(page_size, (page - 1) * page_size)
    pages = max(1, -(-total // page_size))
    if page > pages:  # fewer rows than when the page was picked
        page = st.session_state[f"{key}-page"] = pages
        rows, total = read(page_size, (page - 1) * page_size)
    if not rows:
        st.caption("nothing yet")
        return rows
    frame = pd.DataFrame(rows)
    if columns:
        frame = frame[[c for c in columns if c in frame.columns]]
    st.dataframe(frame, hide_index=True)
    if pages > 1:
        st.pagination(pages, key=f"{key}-page")
        st.caption(f"{total} rows, {page_size} per page")
    return rows


def credit_history(*, key: str, user_id: int | None = None) -> None:
    """A credit ledger, newest first and paged by the API: the caller's own, or (admins) a user's."""
    history = {}

    def read(limit: int, offset: int) -> tuple[list[dict], int]:
        history.update(api().credit_history(limit=limit, offset=offset, user_id=user_id))
        return history["events"], history["total"]

    api_paged_table(read, key=key, columns=["at", "delta", "balance", "reason", "detail", "actor_id"])
    if history:
        st.caption(f"{history['total']} change(s); {history['credits_remaining']:,} credits remain")


def follow_job(read: Callable[[], dict], *, label: str, timeout: float = 3600.0, interval: float = 0.5) -> dict:
    """Poll `read()` (a job body with status/progress/current_step) with a live progress bar until it ends."""
    bar = st.progress(0.0, text=f"{label}: queued")
    deadline = time.monotonic() + timeout
    job = read()
    while job["status"] not in TERMINAL and time.monotonic() < deadline:
        progress = float(job.get("progress") or 0) / 100
        bar.progress(min(progress, 1.0), text=f"{label}: {job.get('current_step') or job['status']} "
                                              f"({progress:.0%})")
        time.sleep(interval)
        job = read()
    if job["status"] == "completed":
        bar.progress(1.0, text=f"{label}: completed")
        return job
    bar.empty()
    if job["status"] in TERMINAL:
        raise ApiError(f"{label} {job['status']}: {job.get('error') or 'no reason given'}")
    raise ApiError(f"{label} is still {job['status']} after {timeout:.0f} s; open this page again to keep watching")


def image(url: str | None, cache_key: str | None = None) -> bytes | None:
    """An image's bytes by a signed URL the API gave. With `cache_key` (thumbnails) they are kept for the
    session, since signed URLs change and images do not; full-size images are fetched each time."""
    if not url:
        return None
    if cache_key is None:
        return api().fetch(url)
    cache: dict[str, bytes] = st.session_state.setdefault("image-cache", {})
    if cache_key not in cache:
        cache[cache_key] = api().fetch(url)
    return cache[cache_key]


def choose(label: str, items: list[dict], text: Callable[[dict], str], *, id_key: str = "id", index: int = 0,
           key: str | None = None) -> dict:
    """A selectbox over items by their ids (stable while their labels change, e.g. progress), shown as `text`."""
    by_id = {item[id_key]: item for item in items}
    picked = st.selectbox(label, list(by_id), index=min(index, len(by_id) - 1), key=key,
                          format_func=lambda ref: text(by_id[ref]))
    return by_id[picked]


def choose_many(label: str, items: list[dict], text: Callable[[dict], str], *, default: int = 2) -> list[dict]:
    by_id = {item["id"]: item for item in items}
    picked = st.multiselect(label, list(by_id), default=list(by_id)[:default], format_func=lambda ref: text(by_id[ref]))
    return [by_id[ref] for ref in picked]


def chosen(files) -> bool:
    """Whether a submitted form carries its file(s); otherwise says so (the form was sent without one)."""
    if files:
        return True
    st.warning("Choose a file first.")
    return False
