"""Jobs of the csv-scoring contract: batch scoring in chunks, and retraining from new labels."""
from __future__ import annotations

import io
import logging
import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import numpy as np
import pandas as pd

from modelyard.auth.models import User
from modelyard.data.csvio import CsvDialect, iter_frames, read_frame
from modelyard.data.safe_csv import neutralize_frame
from modelyard.jobs.context import JobContext
from modelyard.registry.models import ModelVersion, RegisteredModel
from modelyard.scoring.compare import headline, score_metrics
from modelyard.scoring.models import ScoringUpload
from modelyard.serving.pipeline import ANY_LIVE, PredictionPipeline

log = logging.getLogger("modelyard.scoring")
CHUNK_ROWS = 20_000  # rows per chunk in flight: 50,000 peaked 30 MB higher for no speed (bench/score_csv.py)
SCORING_THREADS = max(1, min(os.cpu_count() or 1, 4))


def in_order(work, items, *, workers: int):
    """work(index, item) for each item on `workers` threads, results yielded in input order.

    At most workers + 1 items are in flight, so memory stays bounded by a few chunks; reading the next
    chunk, predicting (numpy, onnxruntime and LightGBM release the GIL) and encoding CSV overlap."""
    pending: deque = deque()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="modelyard-score") as pool:
        for index, item in enumerate(items):
            pending.append(pool.submit(work, index, item))
            if len(pending) > workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _csv_bytes(frame: pd.DataFrame, *, header: bool) -> bytes:
    """pyarrow's CSV writer: an order of magnitude faster than DataFrame.to_csv on text columns.

    Cells are quoted only when they must be (RFC 4180: a delimiter, quote or line break inside), as
    pandas and spreadsheets write them: the uploaded columns are read as text, and pyarrow's default
    would quote every one of them, numbers included. A chunk with such a cell goes through pandas."""
    import csv

    import pyarrow as pa
    import pyarrow.csv as pc

    head = io.StringIO()
    if header:
        csv.writer(head, lineterminator="\n").writerow([str(c) for c in frame.columns])
    out = io.BytesIO()
    out.write(head.getvalue().encode())
    try:
        pc.write_csv(pa.Table.from_pandas(frame, preserve_index=False), out,
                     pc.WriteOptions(include_header=False, quoting_style="none"))
    except pa.ArrowInvalid:
        body = frame.to_csv(index=False, header=False, lineterminator="\n")
        return head.getvalue().encode() + body.encode()
    return out.getvalue()


def result_key(owner_id: int, job_id: str) -> str:
    return f"results/{owner_id}/{job_id}.csv"


# Byte-scanning a CSV for record boundaries needs an encoding in which '"' and '\n' are single bytes.
_SPLITTABLE = {"utf-8", "utf_8", "utf-8-sig", "utf8", "ascii", "latin-1", "latin1", "iso-8859-1", "cp1252",
               "windows-1252"}


def record_boundaries(chunks, every: int) -> tuple[int, list[int]]:
    """(end of the header record, offsets where a part may start) of a CSV stream, about `every` bytes apart.

    A line break ends a record only outside quotes: with RFC 4180 quoting (a quote inside a field is
    doubled), that is where the count of '"' bytes before it is even. Counting is done by bytes.count
    over whole blocks, so scanning a file costs about as much as reading it."""
    header_end, cuts = None, []
    offset, quotes, target = 0, 0, 0  # bytes and quote bytes before this block; where the next cut is wanted
    for block in chunks:
        position = max(0, target - offset)
        seen = quotes + block.count(b'"', 0, position)  # quote bytes before `position`
        while position < len(block) and (newline := block.find(b"\n", position)) >= 0:
            seen += block.count(b'"', position, newline)
            if seen % 2 == 0:
                boundary = offset + newline + 1
                if header_end is None:
                    header_end = boundary
                else:
                    cuts.append(boundary)
                target = boundary + every
                position = min(len(block), target - offset)
                seen += block.count(b'"', newline, position)
            else:
                position = newline + 1
        quotes += block.count(b'"')
        offset += len(block)
    return (header_end if header_end is not None else offset), cuts


def _scorer(ctx: JobContext, predictions: PredictionPipeline, params: dict):
    """The version to score with, and a function scoring one chunk of rows into CSV bytes."""
    version = predictions.version(params["version_id"])
    predictions.authorize(version, statuses=ANY_LIVE)
    model = predictions.model(version)
    price = predictions.price(version)

    def scored(index: int, chunk: pd.DataFrame, *, header: bool) -> tuple[bytes, int]:
        outputs = predictions.predict_frame(version, chunk, user_id=ctx.owner_id, model=model)
        if price:  # each chunk is charged before its results are written (402 fails the job, naming it),
            # once per job: an attempt that crashed already paid for the chunks it scored
            predictions.charge(ctx.owner_id, price * len(chunk), detail=f"csv:{version.name} {ctx.job_id}#{index}",
                               once=True)
        out = neutralize_frame(chunk)
        out["prediction"] = outputs.predictions
        for i, name in enumerate(outputs.label_names if outputs.proba is not None else []):
            out[f"probability_{name}"] = np.round(outputs.proba[:, i], 6)
        return _csv_bytes(out, header=header and index == 0), len(chunk)

    return version, scored


def _source(ctx: JobContext, upload_id: str) -> tuple[str, CsvDialect, int]:
    with ctx.db.session() as session:
        dataset = session.get(ScoringUpload, upload_id).dataset
        return dataset.blob_key, CsvDialect(dataset.encoding, dataset.delimiter), max(1, dataset.rows)


def score_upload(ctx: JobContext, *, predictions: PredictionPipeline) -> dict:
    """Stream the upload through the model chunk by chunk, writing the results as they come.

    With a shared queue and a file over `scoring_part_bytes`, the file is split into parts at record
    boundaries and scored by every live worker (`score_part`), then assembled here in order."""
    source_key, dialect, total = _source(ctx, ctx.params["upload_id"])
    key = result_key(ctx.owner_id, ctx.job_id)
    split = ctx.settings.scoring_part_bytes
    if split and not ctx.settings.is_embedded_queue and dialect.encoding.lower() in _SPLITTABLE \
            and ctx.blobs.stat(source_key).size > split:
        return _score_in_parts(ctx, predictions, source_key, total, key)
    version, scored = _scorer(ctx, predictions, ctx.params)
    done = 0

    def results():
        nonlocal done
        chunks = iter_frames(ctx.blobs.open(source_key), dialect, chunk_rows=CHUNK_ROWS, dtype=str)
        for data, rows in in_order(partial(scored, header=True), chunks, workers=SCORING_THREADS):
            yield data
            done += rows
            ctx.progress(min(99.0, 100 * done / total), f"Scored {done:,} of {total:,} rows")

    ctx.progress(1, "Scoring")
    info = ctx.blobs.put(key, results(), content_type="text/csv")
    return {"result_key": key, "rows": done, "size": info.size, "model_id": version.id,
            "model_name": version.name, "model_version": version.number, "upload_id": ctx.params["upload_id"],
            "parts": 1}


def _score_in_parts(ctx: JobContext, predictions: PredictionPipeline, source_key: str, total: int, key: str) -> dict:
    ctx.progress(1, "Finding record boundaries to split the file")
    size = ctx.blobs.stat(source_key).size
    header_end, cuts = record_boundaries(ctx.blobs.open(source_key), ctx.settings.scoring_part_bytes)
    edges = [header_end, *[c for c in cuts if c < size], size]
    spans = [(a, b) for a, b in zip(edges, edges[1:]) if b > a]
    parts = [{"upload_id": ctx.params["upload_id"], "version_id": ctx.params["version_id"], "header_end": header_end,
              "start": a, "end": b, "index": i, "key": f"{key.removesuffix('.csv')}.part{i:04d}.csv"}
             for i, (a, b) in enumerate(spans)]
    body = max(1, size - header_end)

    def report(states) -> None:
        done = sum(s.progress / 100 * (p["end"] - p["start"]) for s, p in zip(states, parts))
        rows = min(total, int(total * done / body))
        finished = sum(s.status == "completed" for s in states)
        ctx.progress(1 + min(97.0, 97 * done / body),
                     f"Scored about {rows:,} of {total:,} rows in {len(parts)} parts ({finished} done)")

    try:
        states = ctx.fan_out("scoring.part", parts, on_poll=report, max_attempts=ctx.settings.job_max_attempts)
        ctx.progress(99, f"Assembling {len(parts)} parts in order")
        info = ctx.blobs.put(key, (data for p in parts for data in ctx.blobs.open(p["key"])), content_type="text/csv")
    finally:  # the parts are scratch space, whatever the outcome
        for p in parts:
            try:
                ctx.blobs.delete(p["key"])
            except Exception:
                log.warning("could not delete part %s of job %s", p["key"], ctx.job_id, exc_info=True)
    first = states[0].result
    workers = sorted({":".join((s.worker or "?").split(":")[:2]) for s in states})
    return {"result_key": key, "rows": sum(s.result["rows"] for s in states), "size": info.size,
            "model_id": first["model_id"], "model_name": first["model_name"], "model_version": first["model_version"],
            "upload_id": ctx.params["upload_id"], "parts": len(parts), "workers": workers}


def score_part(ctx: JobContext, *, predictions: PredictionPipeline) -> dict:
    """One part of a split scoring job: bytes [start, end) of the upload, under the file's header row."""
    p = ctx.params
    source_key, dialect, _ = _source(ctx, p["upload_id"])
    version, scored = _scorer(ctx, predictions, p)
    span = max(1, p["end"] - p["start"])
    read = 0

    def source():
        nonlocal read
        yield from ctx.blobs.open(source_key, end=p["header_end"])
        for block in ctx.blobs.open(source_key, start=p["start"], end=p["end"]):
            read += len(block)
            yield block

    def results():
        chunks = iter_frames(source(), dialect, chunk_rows=CHUNK_ROWS, dtype=str)
        rows = 0
        for data, n in in_order(partial(scored, header=p["index"] == 0), chunks, workers=SCORING_THREADS):
            rows += n
            yield data
            ctx.progress(min(99.0, 100 * read / span), f"Scored {rows:,} rows")
        counted.append(rows)

    counted: list[int] = []
    info = ctx.blobs.put(p["key"], results(), content_type="text/csv")
    return {"key": p["key"], "rows": counted[0] if counted else 0, "size": info.size, "model_id": version.id,
            "model_name": version.name, "model_version": version.number}


def _labeled_frame(ctx: JobContext, session, version: ModelVersion) -> pd.DataFrame:
    """All labeled rows: the version's own training data plus every labeled scoring upload."""
    columns = [f["name"] for f in version.signature] + [version.target]
    frames = []
    from modelyard.data.models import Dataset

    sources = [session.get(Dataset, (version.training_data or {}).get("file_id") or "")]
    sources += [session.get(ScoringUpload, u).dataset for u in ctx.params["upload_ids"] if session.get(ScoringUpload, u)]
    for dataset in filter(None, sources):
        frame = read_frame(ctx.blobs.open(dataset.blob_key), CsvDialect(dataset.encoding, dataset.delimiter))
        if set(columns) <= set(frame.columns):
            frame = frame[columns]
            frames.append(frame[frame[version.target].notna() & (frame[version.target].astype(str) != "")])
    if not frames:
        raise ValueError("no labeled rows with the model's columns were found")
    return pd.concat(frames, ignore_index=True)


def activation(task: str, activate: str, figures: dict[str, dict], rows: int) -> tuple[bool, str]:
    """Whether the new version becomes the active one, and why, in words for the admin."""
    metric = "R²" if task == "regression" else "accuracy"
    new, current = headline(task, figures["new"]), headline(task, figures["current"])
    compared = f"its {metric} on {rows} held-out row(s) is {new:.4g} against {current:.4g} for the current version"
    if activate == "always":
        return True, f"activated because activate was 'always' ({compared})"
    if activate == "never":
        return False, f"not activated because activate was 'never' ({compared})"
    if new >= current:
        return True, f"activated because it is not worse: {compared}"
    return False, f"not activated because it is worse: {compared}"


def retrain(ctx: JobContext, *, predictions: PredictionPipeline) -> dict:
    """Train a new version on all labeled data; keep it active only if it is not worse on common held-out rows.

    Both versions are scored on the held-out rows through the prediction pipeline, as they will serve."""
    from sklearn.model_selection import train_test_split

    from modelyard.ops.settings import SettingsService
    from modelyard.registry.service import RegistryService
    from modelyard.training import artifacts
    from modelyard.training.trainer import train

    ctx.progress(2, "Gathering labeled data")
    with ctx.db.session() as session:
        base = session.get(ModelVersion, ctx.params["base_version_id"])
        frame = _labeled_frame(ctx, session, base)
        budget = SettingsService(session).section("training").defaultTimeout
        task, target, model_id = base.task, base.target, base.model_id
    learn, holdout = train_test_split(frame, test_size=0.2, random_state=42)
    result = train(learn.reset_index(drop=True), target=target, task=task, time_budget=float(budget),
                   progress=lambda pct, step: ctx.progress(5 + pct * 0.8, step))
    ctx.progress(86, "Registering the new version")
    with ctx.db.session() as session:
        model = session.get(RegisteredModel, model_id)
        owner = session.get(User, model.owner_id)
        new_id = RegistryService(session, ctx.blobs).create_version(
            owner=owner, name=model.name, artifact=artifacts.dump(result.pipeline), artifact_name="model.skops",
            format="skops", task=result.task, algorithm=result.algorithm, signature=result.features,
            target=result.target, classes=result.classes, metrics=dict(result.metrics), params=result.params,
            feature_importances=result.feature_importances,
            training_data={"retrained_from": base.id, "rows": len(frame), "holdout_rows": len(holdout),
                           "upload_ids": ctx.params["upload_ids"]},
            training_job_id=ctx.job_id, training_seconds=result.seconds).id
    ctx.progress(90, "Comparing with the current version on common held-out rows")
    rows = holdout.astype(object).where(holdout.notna(), None)
    figures = {}
    for label, version_id in (("new", new_id), ("current", base.id)):
        version = predictions.version(version_id)
        outputs = predictions.model(version).predictor.predict_frame(rows)
        figures[label] = score_metrics(task, holdout[target], outputs.predictions)
    deploy, reason = activation(task, ctx.params.get("activate", "if_not_worse"), figures, len(holdout))
    with ctx.db.session() as session:
        version = session.get(ModelVersion, new_id)
        version.metrics = {**result.metrics, "holdout": figures["new"]}
        session.commit()
        if deploy:
            RegistryService(session, ctx.blobs).deploy(version)
        outcome = "activated" if deploy else "kept current version"
        return {"outcome": outcome, "activated": deploy, "reason": reason,
                "new_model_id": version.id, "new_version": version.number,
                "current_model_id": base.id, "metrics_new": figures["new"], "metrics_current": figures["current"],
                "compared_on_rows": len(holdout), "trained_on_rows": len(learn), "algorithm": result.algorithm}
