"""Labeler work: assigning requests, tasks and their images, saving labels, exporting them.

A task is one request assigned to one labeler (its owner). Labelers see only their tasks;
admins and `universal` see all; anyone else gets a 404.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from modelyard.auth.models import User
from modelyard.db.base import new_id, utcnow
from modelyard.errors import BadRequest, Conflict, NotFound
from modelyard.labeling.models import ImageLabel, LabelingImage, LabelingRequest, LabelingTask
from modelyard.labeling.service import LabelingService

CSV_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class TaskView:
    task: LabelingTask
    request: LabelingRequest
    images_count: int
    labeled_count: int
    labeler: str | None


@dataclass(frozen=True)
class ExportedLabel:
    image_id: str
    image_key: str
    filename: str
    labels: list[str]
    labeler: str | None
    labeled_at: object
    task_id: str


class AssignmentService:
    def __init__(self, session: Session):
        self._session = session
        self._requests = LabelingService(session)

    # Assignment ---------------------------------------------------------

    def assign(self, *, by: User, labeler_username: str, request_id: str | None = None,
               task_id: str | None = None) -> tuple[LabelingTask, bool]:
        """Create (or reuse) the task of a request for a labeler, or move a task to another labeler."""
        labeler = self._session.scalar(select(User).where(User.username == labeler_username))
        if labeler is None or not labeler.is_active:
            raise NotFound("labeler", labeler_username)
        if not labeler.has_role("labeler"):
            raise BadRequest(f"user {labeler_username!r} is not a labeler (role {labeler.role!r})")
        if task_id:
            task = self._session.get(LabelingTask, task_id)
            if task is None:
                raise NotFound("task", task_id)
            request = self._session.get(LabelingRequest, task.request_id)
            if task.owner_id != labeler.id:
                if self._task_of(request.id, labeler.id) is not None:
                    raise Conflict(f"{labeler_username!r} already has a task for request {request.id}")
                task.owner_id, task.assigned_by, task.updated_at = labeler.id, by.id, utcnow()
                self._session.commit()
            return task, False
        request = self._session.get(LabelingRequest, request_id)
        if request is None:
            raise NotFound("request", request_id)
        task = self._task_of(request.id, labeler.id)
        if task is not None:
            return task, False
        now = utcnow()
        task = LabelingTask(id=new_id("task"), request_id=request.id, owner_id=labeler.id, status="assigned",
                            assigned_by=by.id, created_at=now, updated_at=now)
        self._session.add(task)
        self._session.commit()
        self._requests.refresh_progress(request)
        return task, True

    def _task_of(self, request_id: str, labeler_id: int) -> LabelingTask | None:
        return self._session.scalar(select(LabelingTask).where(LabelingTask.request_id == request_id,
                                                               LabelingTask.owner_id == labeler_id))

    # Tasks --------------------------------------------------------------

    def get_task(self, task_id: str, *, viewer: User) -> LabelingTask:
        task = self._session.get(LabelingTask, task_id)
        if task is None or not viewer.can_see(task):
            raise NotFound("task", task_id)
        return task

    def list_tasks(self, *, viewer: User, everyone: bool = False, limit: int = 500, offset: int = 0) -> list[TaskView]:
        """The viewer's own tasks; with `everyone` (admins only), all tasks."""
        query = select(LabelingTask)
        if not (everyone and viewer.is_admin):
            query = query.where(LabelingTask.owner_id == viewer.id)
        tasks = list(self._session.scalars(query.order_by(LabelingTask.created_at.desc(), LabelingTask.id)
                                           .limit(limit).offset(offset)))
        return self.views(tasks)

    def views(self, tasks: list[LabelingTask]) -> list[TaskView]:
        if not tasks:
            return []
        request_ids = list({t.request_id for t in tasks})
        requests = {r.id: r for r in self._session.scalars(select(LabelingRequest)
                                                           .where(LabelingRequest.id.in_(request_ids)))}
        images = self._requests.image_counts(request_ids)
        labeled = dict(self._session.execute(
            select(ImageLabel.task_id, func.count()).where(ImageLabel.task_id.in_([t.id for t in tasks]))
            .group_by(ImageLabel.task_id)).all())
        names = self._requests.usernames({t.owner_id for t in tasks})
        return [TaskView(t, requests[t.request_id], images.get(t.request_id, 0), labeled.get(t.id, 0),
                         names.get(t.owner_id)) for t in tasks]

    def task_images(self, task: LabelingTask, *, limit: int = 1000, offset: int = 0,
                    ) -> list[tuple[LabelingImage, list[str]]]:
        rows = self._session.execute(
            select(LabelingImage, ImageLabel.labels)
            .outerjoin(ImageLabel, (ImageLabel.image_id == LabelingImage.id) & (ImageLabel.task_id == task.id))
            .where(LabelingImage.request_id == task.request_id)
            .order_by(LabelingImage.created_at, LabelingImage.id).limit(limit).offset(offset))
        return [(image, list(labels or [])) for image, labels in rows]

    # Labels -------------------------------------------------------------

    def save_labels(self, task: LabelingTask, *, image_id: str, labels: list[str], labeler: User) -> TaskView:
        """Replace this task's labels for one image; labels must be among the request's classes."""
        request = self._session.get(LabelingRequest, task.request_id)
        image = self._session.get(LabelingImage, image_id)
        if image is None or image.request_id != task.request_id:
            raise BadRequest(f"image {image_id} is not part of task {task.id}")
        chosen = list(dict.fromkeys(label.strip() for label in labels))
        if not chosen or "" in chosen:
            raise BadRequest("give at least one non-empty label")
        unknown = [label for label in chosen if label not in request.classes]
        if unknown:
            raise BadRequest(f"labels not among the request's classes: {', '.join(unknown[:10])}",
                             details={"unknown": unknown[:50], "classes": request.classes})
        now = utcnow()
        row = self._session.get(ImageLabel, (task.id, image.id))
        if row is None:
            self._session.add(ImageLabel(task_id=task.id, image_id=image.id, labeler_id=labeler.id,
                                         labels=chosen, created_at=now, updated_at=now))
        else:
            row.labels, row.labeler_id, row.updated_at = chosen, labeler.id, now
        self._session.commit()
        self._requests.refresh_progress(request)
        return self.views([task])[0]

    # Export -------------------------------------------------------------

    def export(self, request: LabelingRequest) -> list[ExportedLabel]:
        rows = self._session.execute(
            select(ImageLabel, LabelingImage, User.username)
            .join(LabelingImage, LabelingImage.id == ImageLabel.image_id)
            .outerjoin(User, User.id == ImageLabel.labeler_id)
            .where(LabelingImage.request_id == request.id)
            .order_by(LabelingImage.created_at, LabelingImage.id, ImageLabel.task_id))
        return [ExportedLabel(image.id, image.blob_key, image.filename, list(label.labels), username,
                              label.updated_at, label.task_id) for label, image, username in rows]


def export_csv(rows: list[ExportedLabel]) -> str:
    """CSV of the export; cells that a spreadsheet would run as a formula are quoted with '."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["image_id", "image_key", "filename", "labels", "labeler", "labeled_at", "task_id"])
    for row in rows:
        writer.writerow([_cell(row.image_id), _cell(row.image_key), _cell(row.filename),
                         _cell(";".join(row.labels)), _cell(row.labeler or ""),
                         row.labeled_at.isoformat() if row.labeled_at else "", _cell(row.task_id)])
    return out.getvalue()


def _cell(value: str) -> str:
    return "'" + value if value.startswith(CSV_FORMULA_START) else value
