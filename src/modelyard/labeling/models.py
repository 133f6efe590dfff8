"""Labeling tables: requests, their images, QC results, labeler tasks and labels."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from modelyard.db.base import Base, OwnedMixin, utcnow

REQUEST_STATUSES = ("new", "uploading", "qc_done", "in_labeling", "labeled")
TASK_STATUSES = ("assigned", "in_progress", "done")


class LabelingRequest(OwnedMixin, Base):
    """A customer's request to label a set of images with a fixed list of classes."""

    __tablename__ = "labeling_request"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # lreq_<hex>
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text, default=None)
    classes: Mapped[list[str]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20), default="new", index=True)
    qc_job_id: Mapped[str | None] = mapped_column(String(40), default=None)  # the latest QC run (or a claim)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class LabelingImage(OwnedMixin, Base):
    """One stored image: it passed every check before this row (and its blob) existed.

    `phash`/`dhash` hold one 64-bit perceptual hash per view (full image, centre 90 %, centre 80 %)
    as 16 hex digits each: what near-duplicate search indexes. "Earlier" means a smaller
    (created_at, id). A request may hold several images with the same bytes (copies sent in one
    batch are all stored, so that QC reports them); see labeling/uploads.py.
    """

    __tablename__ = "labeling_image"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # img_<hex>
    request_id: Mapped[str] = mapped_column(String(40), ForeignKey("labeling_request.id", ondelete="CASCADE"),
                                            index=True)
    filename: Mapped[str] = mapped_column(String(255))  # as the client named it; never a path
    blob_key: Mapped[str] = mapped_column(String(300))
    thumb_key: Mapped[str | None] = mapped_column(String(300), default=None)
    upload_key: Mapped[str | None] = mapped_column(String(300), default=None, index=True)  # presigned origin
    content_type: Mapped[str] = mapped_column(String(40))  # sniffed from the bytes
    size: Mapped[int] = mapped_column(BigInteger)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    etag: Mapped[str | None] = mapped_column(String(100), default=None)
    phash: Mapped[str] = mapped_column(String(48))
    dhash: Mapped[str] = mapped_column(String(48))


class QcResult(Base):
    """The latest QC verdict for one image (a new run replaces it)."""

    __tablename__ = "labeling_qc_result"

    image_id: Mapped[str] = mapped_column(String(40), ForeignKey("labeling_image.id", ondelete="CASCADE"),
                                          primary_key=True)
    request_id: Mapped[str] = mapped_column(String(40), ForeignKey("labeling_request.id", ondelete="CASCADE"),
                                            index=True)
    job_id: Mapped[str | None] = mapped_column(String(40), default=None)
    duplicate_score: Mapped[float] = mapped_column(Float, default=0.0)
    ai_generated_score: Mapped[float] = mapped_column(Float, default=0.0)
    source_image_id: Mapped[str | None] = mapped_column(
        String(40), ForeignKey("labeling_image.id", ondelete="SET NULL"), default=None)
    flags: Mapped[list[str]] = mapped_column(JSON, default=list)
    evidence: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LabelingTask(OwnedMixin, Base):
    """A request assigned to one labeler; its owner is that labeler. Done when every image has labels."""

    __tablename__ = "labeling_task"
    __table_args__ = (UniqueConstraint("request_id", "owner_id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # task_<hex>
    request_id: Mapped[str] = mapped_column(String(40), ForeignKey("labeling_request.id", ondelete="CASCADE"),
                                            index=True)
    status: Mapped[str] = mapped_column(String(20), default="assigned")
    assigned_by: Mapped[int | None] = mapped_column(Integer, ForeignKey("user.id", ondelete="SET NULL"),
                                                    default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ImageLabel(Base):
    """The labels one task gave one image; labeling again replaces them."""

    __tablename__ = "labeling_label"

    task_id: Mapped[str] = mapped_column(String(40), ForeignKey("labeling_task.id", ondelete="CASCADE"),
                                         primary_key=True)
    image_id: Mapped[str] = mapped_column(String(40), ForeignKey("labeling_image.id", ondelete="CASCADE"),
                                          primary_key=True, index=True)
    labeler_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("user.id", ondelete="SET NULL"),
                                                   default=None)
    labels: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
