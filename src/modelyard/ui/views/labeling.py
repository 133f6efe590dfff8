"""Labeling pages: a customer's requests, uploads, QC review and export; a labeler's tasks and labeling."""
from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from modelyard.client.api import ApiError
from modelyard.ui.widgets import api, choose, chosen, follow_job, image, paged_table

IMAGE_TYPES = ["jpg", "jpeg", "png", "webp"]
UPLOAD_BATCH = 20  # images per request: a progress step each, and bodies far below the upload limit
PRESIGNED_FROM = 50  # from this many images on, each goes straight to storage (the contract's presigned flow)
GRID_COLUMNS, GRID_PAGE = 4, 12


def _pick_request(label: str = "Request") -> dict | None:
    found = api().requests()
    if not found:
        st.info("No labeling requests yet: create one on the Labeling requests page.")
        return None
    return choose(label, found, lambda r: f"{r['title']} ({r['id']})")


def _upload_images(request: dict, files: list) -> None:
    """Small sets as multipart uploads to the API; large ones through presigned URLs (each file to storage
    directly, then one `/uploads/complete` per batch), both in batches with progress."""
    presigned = len(files) >= PRESIGNED_FROM
    bar = st.progress(0.0, text=f"Uploading {len(files)} images" + (" through presigned URLs…" if presigned else "…"))
    send = api().upload_images_presigned if presigned else api().upload_images
    stored, skipped, errors = 0, 0, []
    for start in range(0, len(files), UPLOAD_BATCH):
        batch = files[start:start + UPLOAD_BATCH]
        report = send(request["id"], [(f.name, f.getvalue(), f.type or "image/jpeg") for f in batch])
        stored, skipped, errors = stored + report["uploaded"], skipped + report["skipped"], errors + report["errors"]
        done = min(start + UPLOAD_BATCH, len(files))
        bar.progress(done / len(files), text=f"Uploaded {done} of {len(files)}")
    st.success(f"{stored} image(s) stored, {skipped} skipped")
    for error in errors:
        st.warning(error if isinstance(error, str) else json.dumps(error))


def customer_requests() -> None:
    st.title("Labeling requests")
    with st.expander("New request"), st.form("new-request", clear_on_submit=True):
        title = st.text_input("Title")
        description = st.text_area("Description")
        classes = st.text_input("Classes", help="comma separated, e.g. cat, dog")
        if st.form_submit_button("Create", type="primary"):
            made = api().create_request(title, description, [c.strip() for c in classes.split(",") if c.strip()])
            st.success(f"Request {made['title']} created ({made['id']})")
    requests = api().requests()
    paged_table(requests, key="requests", columns=["title", "status", "classes", "images_count", "owner",
                                                   "created_at", "id"])
    request = _pick_request("Work on")
    if request is None:
        return
    with st.form("upload-images", clear_on_submit=True):
        files = st.file_uploader("Images (many at once)", type=IMAGE_TYPES, accept_multiple_files=True)
        if st.form_submit_button("Upload images", type="primary") and chosen(files):
            _upload_images(request, files)
            request = api().request(request["id"])  # its image count changed
    labeled = json.loads(api().export_labels(request["id"], "json"))
    total = max(request["images_count"], 1)
    st.progress(min(len(labeled) / total, 1.0),
                text=f"{len(labeled)} of {request['images_count']} images labeled · status {request['status']}")
    csv_col, json_col = st.columns(2)
    csv_col.download_button("Export labels (CSV)", api().export_labels(request["id"], "csv"),
                            file_name=f"labels-{request['id']}.csv", mime="text/csv")
    json_col.download_button("Export labels (JSON)", json.dumps(labeled, indent=1),
                             file_name=f"labels-{request['id']}.json", mime="application/json")


def flagged(results: list[dict], dup_threshold: float, ai_threshold: float) -> list[dict]:
    """The contract's rule, applied here: duplicate if score ≥ its threshold, AI-generated likewise."""
    return [r for r in results if r["duplicate_score"] >= dup_threshold or r["ai_generated_score"] >= ai_threshold]


def quality_control() -> None:
    st.title("Quality control")
    request = _pick_request()
    if request is None:
        return
    if st.button("Run QC", type="primary"):
        started = api().run_qc(request["id"])
        follow_job(lambda: api().job(started["job_id"]), label="QC")
    results = api().qc_results(request["id"])
    if not results:
        st.info("No QC results yet: run QC after uploading images.")
        return
    dup_col, ai_col = st.columns(2)
    dup = dup_col.slider("Duplicate threshold", 0.0, 1.0, 0.9, 0.01)
    ai = ai_col.slider("AI-generated threshold", 0.0, 1.0, 0.5, 0.01)
    hits = flagged(results, dup, ai)
    st.write(f"**{len(hits)}** of {len(results)} images flagged")
    uploads = api().images(request["id"])
    previews = {i["image_id"]: i["preview_url"] for i in uploads}
    names = {i["image_id"]: i["filename"] for i in uploads}
    pages = max(1, -(-len(hits) // GRID_PAGE))
    page = st.session_state.get("qc-page", 1) if pages > 1 else 1
    shown = hits[(min(page, pages) - 1) * GRID_PAGE:][:GRID_PAGE]
    for start in range(0, len(shown), GRID_COLUMNS):
        for column, result in zip(st.columns(GRID_COLUMNS), shown[start:start + GRID_COLUMNS]):
            with column, st.container(border=True):
                picture = image(previews.get(result["image_id"]), f"thumb-{result['image_id']}")
                if picture:
                    st.image(picture)
                st.caption(f"{result.get('filename') or result['image_id']}  \n"
                           f"duplicate {result['duplicate_score']:.2f} · AI {result['ai_generated_score']:.2f}  \n"
                           f"{', '.join(result['flags'])}")
                source = previews.get(result.get("source_image_id"))
                if source:
                    st.image(image(source, f"thumb-{result['source_image_id']}"), width=64,
                             caption=f"duplicate of {names.get(result['source_image_id'])}")
    if pages > 1:
        st.pagination(pages, key="qc-page")


def my_tasks() -> None:
    st.title("My tasks")
    tasks = api().tasks()
    if not tasks:
        st.info("No tasks assigned to you yet.")
        return
    frame = pd.DataFrame(tasks)
    frame["progress"] = frame["labeled_count"] / frame["images_count"].clip(lower=1)
    st.dataframe(frame[["request_title", "status", "labeled_count", "images_count", "progress", "id"]],
                 hide_index=True, column_config={"progress": st.column_config.ProgressColumn(
                     "Progress", min_value=0.0, max_value=1.0, format="percent")})


def _save(task_id: str, image_id: str, label: str) -> None:
    """A class button's callback: it runs before the page does, so its error is shown by the page."""
    try:
        api().save_labels(task_id, image_id, [label])
    except ApiError as exc:
        st.session_state["label-error"] = exc.message


def label_images() -> None:
    st.title("Label images")
    tasks = api().tasks()
    if not tasks:
        st.info("No tasks assigned to you yet.")
        return
    chosen_task = choose("Task", tasks, lambda t: f"{t['request_title']} ({t['labeled_count']}/{t['images_count']})")
    task = api().task(chosen_task["id"])
    st.progress(task["labeled_count"] / max(task["images_count"], 1),
                text=f"{task['labeled_count']} of {task['images_count']} labeled")
    todo = [i for i in task["images"] if not i["labels"]]
    if not todo:
        st.success("Every image of this task is labeled.")
        return
    if "label-error" in st.session_state:
        st.error(st.session_state.pop("label-error"))
    current = todo[0]
    st.caption(f"{current.get('filename') or current['image_id']} · keys 1–{min(len(task['classes']), 9)} pick "
               "a class")
    buttons = st.columns(len(task["classes"]) or 1)
    for n, (column, label) in enumerate(zip(buttons, task["classes"]), start=1):
        column.button(label, key=f"class-{label}", type="primary", on_click=_save,
                      args=(task["id"], current["image_id"], label), shortcut=str(n) if n <= 9 else None,
                      width="stretch")
    picture = image(current["url"])
    if picture:
        st.image(picture, width=480)
