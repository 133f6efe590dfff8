"""The gallery: built-in business models as ordinary registered models, trained by the platform.

``predict(name, record, viewer=)`` checks the record against the model's declaration (422
``INVALID_INPUT`` naming each bad field), fills defaults, and for tabular models runs the built-in's
deployed version through the one prediction pipeline (``PredictionPipeline.predict``: model cache,
compiled predictor, metrics and activity), its interval models (kept as companion artifacts of the
same version) through the same model cache, and the model's own attributions for key factors; then
maps it all into the contract's response (``model`` and ``prediction``; the route adds
``processing_time`` and ``credits_consumed``). Text models run their analyzers directly.

A built-in is trained the first time it is needed (``ensure_trained``, under ``training_lock``) or by
``modelyard gallery build``; ``retrain`` trains a new version from a labeled CSV; ``activate``
deploys a chosen version. Which version answers is the registry's deployed version of the built-in
model of that name, whoever asks: a user's own model of the same name never changes the gallery.
"""

from __future__ import annotations

import io
import logging
import secrets
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import select

from modelyard.auth.models import User
from modelyard.errors import AppError, BadRequest, Conflict, Forbidden, NotFound
from modelyard.gallery import cards, catalog, text
from modelyard.gallery.declarations import Declaration, Result
from modelyard.gallery.ownership import system_account, training_lock
from modelyard.gallery.schema import Checked, InvalidInput, check
from modelyard.gallery.training import Trained, fit, model_row
from modelyard.invalidation import REGISTRY
from modelyard.ops.predlog import digest
from modelyard.registry.models import ModelVersion, RegisteredModel
from modelyard.serving.versions import VersionRef

if TYPE_CHECKING:
    from modelyard.db import Database
    from modelyard.invalidation import Invalidation
    from modelyard.serving.pipeline import PredictionPipeline

log = logging.getLogger("modelyard.gallery")
MAX_RETRAIN_BYTES = 50 * 1024**2
BATCH_ROWS = 1000


class GalleryService:
    """One per process (built in ``runtime.py``): it keeps the resolved built-ins and their explainers."""

    def __init__(
        self,
        db: "Database",
        blobs: Any,
        pipeline: "PredictionPipeline",
        invalidation: "Invalidation",
        *,
        home: Path,
        rows: dict[str, int] | None = None,
    ):
        self._db, self._blobs, self._pipeline, self._home = db, blobs, pipeline, Path(home)
        self._resolved = invalidation.cache(REGISTRY, maxsize=256)
        self._explainers: dict[str, Any] = {}
        self._lock = threading.Lock()
        self.training_rows = dict(
            rows or {}
        )  # rows of synthetic data per model (default: its declaration's; tests use fewer)

    # Reading ------------------------------------------------------------------------------------

    def catalog(self) -> list[dict[str, Any]]:
        """Every built-in model with its metadata (untrained ones say so; nothing is trained here)."""
        with self._db.session() as session:
            models = {
                m.name: m for m in session.scalars(select(RegisteredModel).where(RegisteredModel.builtin.is_(True)))
            }
            return [cards.summary(d, models.get(d.name)) for d in catalog.DECLARATIONS]

    def describe(self, name: str) -> dict[str, Any]:
        """Metadata, input schema, metrics, versions, training data size, last retrained."""
        decl = catalog.lookup(name)
        with self._db.session() as session:
            return cards.details(decl, self._model(session, decl))

    def card(self, name: str, *, format: str = "markdown") -> str | dict[str, Any]:
        """The model card (purpose, inputs, outputs, synthetic-data statement, metrics, version)."""
        decl = catalog.lookup(name)
        with self._db.session() as session:
            facts = cards.details(decl, self._model(session, decl))
        return facts if format == "json" else cards.markdown(decl, facts)

    # Training -----------------------------------------------------------------------------------

    def ensure_trained(self, name: str) -> VersionRef | None:
        """The built-in's deployed version, training and registering it first if there is none (text models: None)."""
        decl = catalog.lookup(name)
        if decl.kind != "tabular":
            return None
        return self._deployed(decl)[0]

    def build(self, names: list[str] | None = None) -> list[dict[str, Any]]:
        """Train every missing built-in (or those named); what each one is now."""
        chosen = [catalog.lookup(n) for n in names] if names else catalog.tabular()
        out = []
        for decl in chosen:
            if decl.kind == "tabular":
                ref, _ = self._deployed(decl)
                out.append({"name": decl.name, "version": f"v{ref.number}.0", "version_id": ref.id})
        return out

    def retrain(self, name: str, csv: bytes | str, *, actor: User, activate: bool = True) -> dict[str, Any]:
        """A new version from a labeled CSV with the model's columns and its target (admins only)."""
        import pandas as pd

        decl = self._tabular(name)
        if not actor.is_admin:
            raise Forbidden("only an admin may retrain a built-in model")
        data = csv.encode() if isinstance(csv, str) else csv
        if len(data) > MAX_RETRAIN_BYTES:
            raise BadRequest(f"the CSV is larger than {MAX_RETRAIN_BYTES // 1024**2} MiB")
        try:
            frame = pd.read_csv(io.BytesIO(data))
        except Exception as exc:
            raise BadRequest(f"could not read the CSV: {type(exc).__name__}: {str(exc)[:200]}") from None
        frame = self._labeled(decl, frame)
        with self._db.session() as session:
            registered = self._model(session, decl) is not None
        if not registered:  # the built-in and its first version exist before a second one is added
            self._deployed(decl)
        trained = fit(decl, frame)
        source = {"source": "uploaded CSV", "rows": len(frame), "uploaded_by": actor.username}
        ref = self._register(decl, trained, source, deploy=activate)
        return {
            "name": decl.name,
            "version": f"v{ref.number}.0",
            "version_id": ref.id,
            "activated": activate,
            "metrics": trained.metrics,
            "training_rows": trained.train_rows,
            "test_rows": trained.test_rows,
        }

    def activate(self, name: str, version: str, *, actor: User) -> dict[str, Any]:
        """Deploy a version of a built-in ("v2.0", "2" or a version id); admins only."""
        from modelyard.registry.service import RegistryService

        decl = self._tabular(name)
        with self._db.session() as session:
            model = self._model(session, decl)
            wanted = str(version).strip().lower().removeprefix("v").removesuffix(".0")
            found = next(
                (v for v in (model.versions if model else []) if wanted in (str(v.number), v.label, v.id.lower())), None
            )
            if found is None:
                raise NotFound(f"version {version} of gallery model", decl.name)
            RegistryService(session, self._blobs, on_deploy=self._pipeline.prepare).deploy(found, actor=actor)
            number = found.number
        self._resolved.clear()
        return {"name": decl.name, "version": f"v{number}.0", "status": "active"}

    # Predicting ---------------------------------------------------------------------------------

    def predict(self, name: str, record: Any, *, viewer: User) -> dict[str, Any]:
        """The contract's `{model, prediction}` for one request to a built-in model."""
        answer = self.predict_many(name, [record], viewer=viewer)[0]
        if isinstance(answer, AppError):
            raise answer
        return answer

    def predict_many(self, name: str, records: list[Any], *, viewer: User) -> list[dict[str, Any] | AppError]:
        """One answer per record, in order (batch and CSV routes): a record that fails its checks gets its
        `InvalidInput` in its place, and the others are predicted together (one pipeline call per 1,000)."""
        decl = catalog.lookup(name)
        answers: list[dict[str, Any] | AppError | None] = [None] * len(records)
        valid = []
        for index, record in enumerate(records):
            try:
                valid.append((index, check(decl.fields, record)))
            except InvalidInput as exc:
                answers[index] = exc
        if decl.kind == "text":
            started = time.perf_counter()
            for index, checked in valid:
                answers[index] = text.respond(decl, checked.values)
            if valid:  # the pipeline's record step (metrics, activity, the log) counts text models too
                confidence, summary = digest(answers[valid[0][0]])
                self._pipeline.record(
                    text.version_ref(decl.name),
                    user_id=viewer.id,
                    rows=len(valid),
                    seconds=time.perf_counter() - started,
                    confidence=confidence,
                    summary=summary,
                )
            return answers
        if valid:
            ref, artifacts = self._deployed(decl)
            for start in range(0, len(valid), BATCH_ROWS):
                chunk = valid[start : start + BATCH_ROWS]
                results = self._run(decl, ref, artifacts, [checked for _, checked in chunk], viewer)
                for (index, _), result in zip(chunk, results):
                    answers[index] = decl.respond(result)
        return answers

    def _run(
        self, decl: Declaration, ref: VersionRef, artifacts: dict[str, str], checked: list[Checked], viewer: User
    ) -> list[Result]:
        """Checked requests through the pipeline (and the interval models, and the explainer) to Results."""
        rows = [model_row(decl, c.values) for c in checked]
        outputs = self._pipeline.predict(ref, rows, viewer=viewer).outputs
        results = [Result(decl, c.values, c.supplied, f"v{ref.number}.0") for c in checked]
        picked = None
        if decl.task == "classification":
            for result, proba in zip(results, outputs.proba.tolist()):
                result.probabilities = dict(zip(outputs.labels, proba))
            if len(outputs.labels) > 2:
                picked = outputs.proba.argmax(axis=1).tolist()
        else:
            scale = np.array([float(c.values[decl.relative_to]) if decl.relative_to else 1.0 for c in checked])
            values = np.asarray(outputs.values, dtype=float) * scale
            bounds = (
                {key: self._companion(ref, artifacts, key, rows) * scale for key in ("lower", "upper")}
                if decl.interval
                else {}
            )
            for i, result in enumerate(results):
                result.value = float(values[i])
                if bounds:
                    result.lower = float(min(bounds["lower"][i], values[i]))
                    result.upper = float(max(bounds["upper"][i], values[i]))
        for result, contributions in zip(results, self._explainer(ref).contributions(rows, picked)):
            result.contributions = contributions
        return results

    # Internals ----------------------------------------------------------------------------------

    def _tabular(self, name: str) -> Declaration:
        decl = catalog.lookup(name)
        if decl.kind != "tabular":
            raise Conflict(f"{decl.name} is a text model: it has nothing to train or activate")
        return decl

    @staticmethod
    def _model(session, decl: Declaration) -> RegisteredModel | None:
        return session.scalar(
            select(RegisteredModel).where(RegisteredModel.name == decl.name, RegisteredModel.builtin.is_(True))
        )

    def _deployed(self, decl: Declaration) -> tuple[VersionRef, dict[str, str]]:
        found = self._resolved.get(decl.name) or self._read(decl)
        if found is None:
            with training_lock(self._db, self._home, decl.name):
                found = self._read(decl)
                if found is None:
                    self._train(decl)
                    found = self._read(decl)
        self._resolved.put(decl.name, found)
        return found

    def _read(self, decl: Declaration) -> tuple[VersionRef, dict[str, str]] | None:
        """The deployed version; None when the built-in was never registered (it is trained then). One whose
        versions an admin has all archived or undeployed is not retrained behind their back: 409."""
        from modelyard.registry.service import ModelNotDeployed

        with self._db.session() as session:
            model = self._model(session, decl)
            if model is None:
                return None
            if model.deployed_version_id is None:
                raise ModelNotDeployed(
                    f"built-in model {decl.name!r} has no active version; an admin can activate "
                    "one (GalleryService.activate) or retrain it"
                )
            version = session.get(ModelVersion, model.deployed_version_id)
            return VersionRef.of(version), dict(version.artifacts or {})

    def _train(self, decl: Declaration) -> None:
        rows = self.training_rows.get(decl.name, decl.rows)
        frame = decl.simulate(np.random.default_rng(decl.seed), rows)
        trained = fit(decl, frame)
        log.info("trained built-in model %s (%s, %d rows, %.2fs)", decl.name, trained.algorithm, rows, trained.seconds)
        self._register(
            decl, trained, {"source": "synthetic", "recipe": decl.name, "seed": decl.seed, "rows": rows}, deploy=True
        )

    def _register(self, decl: Declaration, trained: Trained, source: dict[str, Any], *, deploy: bool) -> VersionRef:
        from modelyard.registry.service import RegistryService
        from modelyard.training import artifacts

        extra: dict[str, str] = {}
        try:
            with self._db.session() as session:
                owner = system_account(session)
                registry = RegistryService(session, self._blobs, on_deploy=self._pipeline.prepare)
                model = registry.model_named(decl.name, owner=owner, create=True, description=decl.description)
                model.builtin = True
                for key, pipeline in trained.quantiles.items():
                    extra[key] = f"models/{model.id}/gallery/{key}-{secrets.token_hex(8)}.skops"
                    self._blobs.put(extra[key], artifacts.dump(pipeline))
                training_data = {
                    **source,
                    "train_rows": trained.train_rows,
                    "test_rows": trained.test_rows,
                    "features": decl.columns,
                    "target": decl.target,
                    "reference": trained.reference,
                }
                version = registry.create_version(
                    owner=owner,
                    name=decl.name,
                    artifact=artifacts.dump(trained.pipeline),
                    artifact_name="model.skops",
                    format="skops",
                    task=decl.task,
                    algorithm=trained.algorithm,
                    description=decl.description,
                    deploy=deploy,
                    signature=decl.signature,
                    target=decl.target,
                    classes=trained.classes,
                    metrics=trained.metrics,
                    params={**trained.params, "seed": decl.seed},
                    artifacts=extra,
                    feature_importances=trained.importances,
                    training_data=training_data,
                    training_seconds=trained.seconds,
                )
                ref = VersionRef.of(version)
        except BaseException:
            for key in extra.values():
                self._blobs.delete(key)
            raise
        self._resolved.clear()
        return ref

    def _companion(
        self, ref: VersionRef, artifacts: dict[str, str], key: str, rows: list[dict[str, Any]]
    ) -> np.ndarray:
        """A companion model of the version (an interval bound), from the same model cache and compiled predictor;
        the rows have passed the pipeline's checks already."""
        if key not in artifacts:
            raise Conflict(f"version {ref.label} of {ref.name} has no {key} model; retrain it")
        companion = replace(ref, id=f"{ref.id}#{key}", artifact_key=artifacts[key], serving=None)
        return np.asarray(self._pipeline.model(companion).predictor.predict_rows(rows).values, dtype=float)

    def _fitted(self, ref: VersionRef):
        """The fitted pipeline of a version, from its artifact, bound to its signature as serving binds it."""
        from modelyard.registry import formats
        from modelyard.registry.adapters import bind

        return bind(formats.LOADERS[ref.format](self._blobs.read_bytes(ref.artifact_key)), list(ref.signature or []))

    def _explainer(self, ref: VersionRef):
        from modelyard.gallery.explain import Explainer

        with self._lock:
            explainer = self._explainers.get(ref.id)
        if explainer is None:
            estimator = self._pipeline.model(ref).estimator
            if estimator is None:  # loaded from its compiled bundle (another process built it): no pipeline
                estimator = self._fitted(ref)
            explainer = Explainer(estimator, ref.signature, catalog.lookup(ref.name))
            with self._lock:
                if len(self._explainers) > 64:
                    self._explainers.clear()
                self._explainers[ref.id] = explainer
        return explainer

    @staticmethod
    def _labeled(decl: Declaration, frame) -> Any:
        """A retraining CSV checked row by row against the declaration (defaults filled), plus its target."""
        import pandas as pd

        if decl.target not in frame.columns:
            raise BadRequest(f"the CSV needs the target column {decl.target!r} ({decl.explains})")
        missing = [n for n in decl.required if n not in frame.columns]
        if missing:
            raise BadRequest(f"the CSV lacks required column(s): {', '.join(missing)}")
        counts = [f.name for f in decl.fields if f.kind == "object"]  # a CSV holds these as the count of true keys
        rows = []
        for number, record in enumerate(frame.astype(object).where(frame.notna(), None).to_dict(orient="records"), 1):
            kept = {name: record.pop(name, None) for name in counts}
            try:
                values = check(decl.fields, record).values
            except AppError as exc:
                raise BadRequest(f"row {number} of the CSV: {exc.message}", details=exc.details) from None
            values.update({name: int(kept[name] or 0) for name in counts})
            rows.append({**values, decl.target: record[decl.target]})
        labeled = pd.DataFrame(rows).dropna(subset=[decl.target])
        if len(labeled) < 50:
            raise BadRequest(f"the CSV has {len(labeled)} labeled rows; at least 50 are needed")
        return labeled
