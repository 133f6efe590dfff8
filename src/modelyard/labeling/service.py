"""Labeling requests: create, list, look up (or 404), and the status they move through.

Visibility: a customer sees the requests they own; admins and `universal` see all; anything
else is a 404, never a 403, so ids reveal nothing.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from modelyard.auth.models import User
from modelyard.db.base import new_id, utcnow
from modelyard.errors import NotFound
from modelyard.labeling.models import ImageLabel, LabelingImage, LabelingRequest, LabelingTask
from modelyard.storage.base import BlobStore


@dataclass(frozen=True)
class BlobUrls:
    """Signed, expiring URLs for blobs: served by modelyard (local store) or by S3 itself."""

    blobs: BlobStore
    base_url: str
    ttl: int

    def get(self, key: str | None) -> str | None:
        if not key:
            return None
        return self.blobs.signed_url(key, method="GET", expires_in=self.ttl, base_url=self.base_url).url

    def put(self, key: str, content_type: str | None):
        return self.blobs.signed_url(key, method="PUT", expires_in=self.ttl, content_type=content_type,
                                     base_url=self.base_url)


class LabelingService:
    def __init__(self, session: Session):
        self._session = session

    def create_request(self, owner: User, *, title: str, description: str, classes: list[str]) -> LabelingRequest:
        now = utcnow()
        request = LabelingRequest(id=new_id("lreq"), owner_id=owner.id, title=title, description=description,
                                  classes=classes, status="new", created_at=now, updated_at=now)
        self._session.add(request)
        self._session.commit()
        return request

    def get_request(self, request_id: str, *, viewer: User) -> LabelingRequest:
        request = self._session.get(LabelingRequest, request_id)
        if request is None or not viewer.can_see(request):
            raise NotFound("request", request_id)
        return request

    def list_requests(self, *, viewer: User, status: str | None = None, owner: str | None = None,
                      mine: bool = False, limit: int = 200, offset: int = 0) -> list[LabelingRequest]:
        """Newest first. Non-admins (and admins asking for `mine`) get their own only."""
        query = select(LabelingRequest)
        if mine or not viewer.is_admin:
            query = query.where(LabelingRequest.owner_id == viewer.id)
        elif owner:
            query = query.join(User, User.id == LabelingRequest.owner_id).where(User.username == owner)
        if status:
            query = query.where(LabelingRequest.status == status)
        query = query.order_by(LabelingRequest.created_at.desc(), LabelingRequest.id).limit(limit).offset(offset)
        return list(self._session.scalars(query))

    def image_counts(self, request_ids: list[str]) -> dict[str, int]:
        if not request_ids:
            return {}
        rows = self._session.execute(
            select(LabelingImage.request_id, func.count()).where(LabelingImage.request_id.in_(request_ids))
            .group_by(LabelingImage.request_id))
        return {request_id: count for request_id, count in rows}

    def usernames(self, user_ids: set[int]) -> dict[int, str]:
        if not user_ids:
            return {}
        rows = self._session.execute(select(User.id, User.username).where(User.id.in_(user_ids)))
        return {user_id: name for user_id, name in rows}

    # Status -------------------------------------------------------------

    def refresh_progress(self, request: LabelingRequest, *, event: str | None = None) -> None:
        """Recompute task statuses and move the request along new → uploading → qc_done →
        in_labeling → labeled. `event` is "uploaded" or "qc_done" for the early steps."""
        images = self.image_counts([request.id]).get(request.id, 0)
        tasks = list(self._session.scalars(select(LabelingTask).where(LabelingTask.request_id == request.id)))
        labeled = dict(self._session.execute(
            select(ImageLabel.task_id, func.count()).join(LabelingTask, LabelingTask.id == ImageLabel.task_id)
            .where(LabelingTask.request_id == request.id).group_by(ImageLabel.task_id)).all())
        for task in tasks:
            done = labeled.get(task.id, 0)
            status = "done" if images and done >= images else ("in_progress" if done else "assigned")
            if task.status != status:
                task.status, task.updated_at = status, utcnow()
        if tasks:
            covered = self._session.scalar(
                select(func.count(func.distinct(ImageLabel.image_id)))
                .join(LabelingImage, LabelingImage.id == ImageLabel.image_id)
                .where(LabelingImage.request_id == request.id)) or 0
            status = "labeled" if images and covered >= images else "in_labeling"
        elif event == "uploaded":
            status = "uploading"
        elif event == "qc_done":
            status = "qc_done"
        else:
            status = request.status
        if request.status != status:
            request.status = status
        request.updated_at = utcnow()
        self._session.commit()
