"""Many calls to built-in models at once: the enterprise batch (items of any models) and the CSV batch
(rows of one model). Each item or row is checked on its own, so one bad one is a failed entry with its
error, not a failed batch; the valid ones of each model go through the pipeline together
(``GalleryService.predict_many``). Credits: the declared price of every item or row that succeeded,
taken in one atomic charge after predicting; when too few remain the whole call is refused with 402
and nothing is charged.
"""
from __future__ import annotations

import math
import time
from collections import defaultdict
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from modelyard.auth.models import User
from modelyard.errors import AppError, NotFound
from modelyard.gallery import catalog
from modelyard.gallery.declarations import Declaration

if TYPE_CHECKING:
    from modelyard.gallery.service import GalleryService
    from modelyard.jobs.context import JobContext
    from modelyard.serving.pipeline import PredictionPipeline

OUTLIER_IQR = 3.0  # Tukey's "far out": beyond Q1 - 3·IQR or Q3 + 3·IQR of the file's own column


def _now() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


def _error(exc: AppError) -> dict[str, Any]:
    return {"code": exc.code, "message": exc.message, **({"details": exc.details} if exc.details else {})}


def run_batch(gallery: "GalleryService", pipeline: "PredictionPipeline", items: list[dict[str, Any]], *,
              viewer: User) -> dict[str, Any]:
    """`{"requests": [{"model", "input"}]}` → the contract's `results`, `batch_stats`, `credits_consumed`."""
    started = time.perf_counter()
    results: list[dict[str, Any] | None] = [None] * len(items)
    groups: dict[str, list[int]] = defaultdict(list)
    for index, item in enumerate(items):
        try:
            groups[catalog.lookup(str(item["model"])).name].append(index)
        except AppError as exc:
            results[index] = {"index": index, "model": item["model"], "status": "failed", "error": _error(exc)}
    cost = 0
    for name, indexes in groups.items():
        decl = catalog.lookup(name)
        group_started = time.perf_counter()
        answers = gallery.predict_many(name, [items[i]["input"] for i in indexes], viewer=viewer)
        each = (time.perf_counter() - group_started) / max(1, len(indexes))
        for index, answer in zip(indexes, answers):
            if isinstance(answer, AppError):
                results[index] = {"index": index, "model": items[index]["model"], "status": "failed",
                                  "error": _error(answer), "processing_time": round(each, 6)}
            else:
                cost += decl.credits
                results[index] = {"index": index, "model": items[index]["model"], "prediction": answer["prediction"],
                                  "processing_time": round(each, 6), "status": "success"}
    pipeline.charge(viewer.id, cost, detail="batch")
    total = time.perf_counter() - started
    ok = sum(r["status"] == "success" for r in results)
    return {"results": results,
            "batch_stats": {"total_requests": len(items), "successful": ok, "failed": len(items) - ok,
                            "success_rate": round(100 * ok / max(1, len(items)), 2),
                            "total_processing_time": round(total, 4),
                            "avg_request_time": round(total / max(1, len(items)), 6),
                            "requests_per_second": round(len(items) / total, 2) if total > 0 else None},
            "credits_consumed": cost, "timestamp": _now()}


def _cell(value: Any) -> Any:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) or str(value).strip() == "" \
        else str(value).strip()


def _number(text: str) -> float | None:
    try:
        value = float(text.replace(",", ""))
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _summary(rows: int, processed: int, started: float) -> dict[str, Any]:
    return {"total_rows": rows, "processed_rows": processed, "failed_rows": rows - processed,
            "success_rate": round(100 * processed / max(1, rows), 2),
            "processing_time": round(time.perf_counter() - started, 4)}


def records_of(decl: Declaration, frame: pd.DataFrame) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """A CSV's rows (text cells) as requests to `decl`, and the file's data quality.

    Empty cells are left out (a default applies, or a required field is reported missing); number cells
    are read as numbers where they parse (thousands separators allowed) and kept as text where not, so the
    row's check names them. Data quality counts, over the model's columns present in the file: missing
    values (empty cells), invalid formats (number cells that do not parse), outliers (numbers beyond
    Q1 − 3·IQR or Q3 + 3·IQR of their column in this file); quality_score is 100 × the share of cells
    with none of these."""
    present = [f for f in decl.fields if f.name in frame.columns]
    records: list[dict[str, Any]] = [{} for _ in range(len(frame))]
    missing = invalid = outliers = 0
    for spec in present:
        cells = [_cell(v) for v in frame[spec.name].tolist()]
        numbers: list[float | None] = [None] * len(cells)
        for i, text in enumerate(cells):
            if text is None:
                missing += 1
                continue
            if spec.kind in ("number", "integer"):
                numbers[i] = _number(text)
                if numbers[i] is None:
                    invalid += 1
                records[i][spec.name] = text if numbers[i] is None else numbers[i]
            else:
                records[i][spec.name] = text
        values = np.array([v for v in numbers if v is not None], dtype=float)
        if len(values) >= 4:
            q1, q3 = np.percentile(values, [25, 75])
            low, high = q1 - OUTLIER_IQR * (q3 - q1), q3 + OUTLIER_IQR * (q3 - q1)
            outliers += int(((values < low) | (values > high)).sum())
    cells_total = max(1, len(frame) * len(present))
    quality = {"missing_values": missing, "invalid_formats": invalid, "outliers": outliers,
               "quality_score": round(100 * (1 - (missing + invalid + outliers) / cells_total), 1),
               "rule": f"outliers: beyond Q1 - {OUTLIER_IQR:g}·IQR or Q3 + {OUTLIER_IQR:g}·IQR of the column",
               "columns_used": [f.name for f in present],
               "columns_ignored": [str(c) for c in frame.columns if c not in {f.name for f in decl.fields}]}
    return records, quality


def score_csv(gallery: "GalleryService", pipeline: "PredictionPipeline", decl: Declaration, frame: pd.DataFrame,
              *, viewer: User, file_id: str) -> dict[str, Any]:
    """Every row of an uploaded CSV through one built-in model: per-row results, summary, data quality."""
    started = time.perf_counter()
    records, quality = records_of(decl, frame)
    answers = gallery.predict_many(decl.name, records, viewer=viewer)
    results = []
    for row, answer in enumerate(answers, start=1):
        if isinstance(answer, AppError):
            results.append({"row": row, "status": "failed", "error": _error(answer)})
        else:
            results.append({"row": row, "status": "success", "prediction": answer["prediction"]})
    processed = sum(r["status"] == "success" for r in results)
    cost = processed * decl.credits
    pipeline.charge(viewer.id, cost, detail=f"csv:{decl.name}")
    return {"message": "File processed successfully", "model": decl.name, "results": results,
            "summary": _summary(len(results), processed, started),
            "data_quality": quality, "credits_consumed": cost, "file_id": file_id}


JOB_KIND = "platform.csv"
JOB_CHUNK_ROWS = 5_000


def results_key(owner_id: int, job_id: str) -> str:
    return f"results/{owner_id}/{job_id}-platform.csv"


def _merge_quality(total: dict[str, Any], part: dict[str, Any], cells: int) -> None:
    for key in ("missing_values", "invalid_formats", "outliers"):
        total[key] = total.get(key, 0) + part[key]
    total["cells"] = total.get("cells", 0) + cells
    total.setdefault("rule", part["rule"] + " (per chunk of 5,000 rows)")
    total.setdefault("columns_used", part["columns_used"])
    total.setdefault("columns_ignored", part["columns_ignored"])


def score_csv_job(ctx: "JobContext", *, gallery: "GalleryService", pipeline: "PredictionPipeline") -> dict[str, Any]:
    """A CSV too large to answer at once: rows in chunks through the built-in model, each chunk charged
    before its results are written (once per job: a retried attempt does not pay again for a chunk); the
    results file has one line per row (row, status, prediction as JSON, error). When credits run out the
    job fails, saying after how many rows, and keeps nothing."""
    import csv
    import io
    import json

    from modelyard.data.csvio import CsvDialect, iter_frames
    from modelyard.data.models import Dataset

    decl = catalog.lookup(ctx.params["model"])
    with ctx.db.session() as session:
        viewer = session.get(User, ctx.owner_id)
        dataset = session.get(Dataset, ctx.params["file_id"])
        if viewer is None or dataset is None:
            raise NotFound("upload", ctx.params["file_id"])
        session.expunge(viewer)
        source, dialect, total = dataset.blob_key, CsvDialect(dataset.encoding, dataset.delimiter), max(1, dataset.rows)
    started = time.perf_counter()
    counts = {"rows": 0, "processed": 0, "credits": 0}
    quality: dict[str, Any] = {}

    def lines():
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["row", "status", "prediction", "error"])
        chunks = iter_frames(ctx.blobs.open(source), dialect, chunk_rows=JOB_CHUNK_ROWS, dtype=str)
        for index, frame in enumerate(chunks):
            frame = frame.astype(object).where(frame.notna(), None)
            records, part = records_of(decl, frame)
            _merge_quality(quality, part, len(frame) * len(part["columns_used"]))
            answers = gallery.predict_many(decl.name, records, viewer=viewer)
            processed = sum(not isinstance(a, AppError) for a in answers)
            # Once per chunk of this job: an attempt that crashed already paid for the chunks it scored.
            pipeline.charge(viewer.id, processed * decl.credits, detail=f"csv:{decl.name} {ctx.job_id}#{index}",
                            once=True)
            for answer in answers:
                counts["rows"] += 1
                if isinstance(answer, AppError):
                    writer.writerow([counts["rows"], "failed", "", f"{answer.code}: {answer.message}"])
                else:
                    writer.writerow([counts["rows"], "success", json.dumps(answer["prediction"]), ""])
            counts["processed"] += processed
            counts["credits"] += processed * decl.credits
            yield out.getvalue().encode()
            out.seek(0)
            out.truncate()
            ctx.progress(min(99.0, 100 * counts["rows"] / total), f"Scored {counts['rows']:,} of {total:,} rows")

    key = results_key(ctx.owner_id, ctx.job_id)
    info = ctx.blobs.put(key, lines(), content_type="text/csv")
    cells = max(1, quality.pop("cells", 0))
    quality["quality_score"] = round(100 * (1 - (quality.get("missing_values", 0) + quality.get("invalid_formats", 0)
                                                  + quality.get("outliers", 0)) / cells), 1)
    rows, processed = counts["rows"], counts["processed"]
    return {"model": decl.name, "results_key": key, "size": info.size, "file_id": ctx.params["file_id"],
            "summary": _summary(rows, processed, started),
            "data_quality": quality, "credits_consumed": counts["credits"]}
