"""The one prediction pipeline (DESIGN): every prediction in modelyard goes through here.

    resolve (cached per process, emptied on any registry change in any process)
      -> authorize (who may see it; which statuses serve; pickle only while allowed)
      -> model from the cache (its compiled predictor when that was found faithful)
      -> input checked and built from the signature
      -> predict
      -> record (Prometheus metrics, the prediction log; the activity feed summarizes the log)

A call from outside (``call``) wraps that in the prediction platform's rules, the same on every route:

      limit (the caller's "predictions" limit: one per call)
      -> the prediction cache (an identical request to the same version: its stored answer, `_cached_at`)
      -> predict (above), stored in the cache
      -> charge (the model's price × rows: a built-in's declared credits; a user's own model costs 0)

Online JSON (``/api/predict``, both dialects), inference by entity keys (``/inference``) and the
built-in models go through ``call``; CSV scoring jobs, the enterprise batch and the CSV batch count one
call (or one per item) against the limit and charge per row scored, without the cache (a file or a
batch is predicted in one pass). Each contract's response shape is an adapter at its router.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from modelyard.auth.models import User
from modelyard.errors import AppError, Conflict, Unprocessable
from modelyard.invalidation import REGISTRY, Invalidation
from modelyard.ops import metrics
from modelyard.ops.predlog import digest
from modelyard.serving.cache import PredictionCache
from modelyard.serving.inputs import check_rows
from modelyard.serving.outputs import Outputs
from modelyard.serving.versions import VersionRef

if TYPE_CHECKING:
    import pandas as pd

    from modelyard.auth.limits import UserLimits
    from modelyard.db import Database
    from modelyard.ops.predlog import PredictionLog
    from modelyard.serving.loader import LoadedModel, ModelCache

log = logging.getLogger("modelyard.serving")
SERVING = frozenset({"deployed"})
ANY_LIVE = frozenset({"deployed", "trained"})


@dataclass
class Prediction:
    version: VersionRef
    outputs: Outputs
    ignored_columns: list[str]
    seconds: float


@dataclass
class Served:
    """A call's answer, and whether it came from the prediction cache (its Unix time) and what it cost."""

    answer: dict[str, Any]
    cached_at: int | None
    credits: int


class PredictionPipeline:
    def __init__(self, db: "Database", models: "ModelCache", invalidation: Invalidation,
                 *, max_rows: int, allow_pickle: Callable[[], bool], limits: "UserLimits", log: "PredictionLog",
                 cache: "PredictionCache | None" = None):
        self._db = db
        self.log = log
        # Told of every successful call (the `prediction.completed` webhook, runtime.py); must not block.
        self.completed: Callable[[VersionRef, User, Served, float], None] | None = None
        self.limits = limits
        self.cache = cache if cache is not None else PredictionCache(seconds=0)
        self._models = models
        self._resolved = invalidation.cache(REGISTRY)
        self._max_rows = max_rows
        self._allow_pickle = allow_pickle

    # Resolve ------------------------------------------------------------------------------------

    def resolve(self, ref: str, *, viewer: User) -> VersionRef:
        """A version id, or a model name meaning its deployed version."""
        from modelyard.registry.service import RegistryService

        return self._cached((viewer.id, "ref", ref),
                            lambda session: RegistryService(session, None).resolve(ref, viewer=viewer))

    def ready(self, ref: str, *, viewer: User) -> VersionRef | None:
        """The resolved version when serving it needs no I/O at all (resolved and loaded here, not a
        pickle); None otherwise. Lets the API answer small requests without leaving the event loop."""
        return self._ready((viewer.id, "ref", ref))

    def ready_named(self, name: str, label: str | None, *, viewer: User) -> VersionRef | None:
        """`ready` for the model-registry dialect of `resolve_named` (V2 inference's fast path)."""
        return self._ready((viewer.id, "named", name, label))

    def _ready(self, key: tuple) -> VersionRef | None:
        if self.limits.blocking or self.cache.remote:
            return None
        version = self._resolved.get(key)
        if version is None or version.format == "pickle" or not self._models.holds(version.id):
            return None
        return version

    def resolve_named(self, name: str, label: str | None, *, viewer: User) -> VersionRef:
        """The model-registry dialect: a model name and a version label (none: the deployed version)."""
        from modelyard.registry.uploads import version_named

        return self._cached((viewer.id, "named", name, label),
                            lambda session: version_named(session, name, label, viewer=viewer))

    def version(self, version_id: str) -> VersionRef:
        """A version by id, read now (jobs: no viewer, no cache)."""
        from modelyard.registry.models import ModelVersion
        from modelyard.registry.service import ModelNotFound

        with self._db.session() as session:
            version = session.get(ModelVersion, version_id)
            if version is None:
                raise ModelNotFound(version_id)
            return VersionRef.of(version)

    def _cached(self, key: tuple, load: Callable[[Any], Any]) -> VersionRef:
        ref = self._resolved.get(key)
        if ref is None:
            with self._db.session() as session:
                ref = VersionRef.of(load(session))
            self._resolved.put(key, ref)
        return ref

    # A call from outside ----------------------------------------------------------------------------

    def call(self, version: VersionRef, request: Any, answer: Callable[[], dict[str, Any]], *, viewer: User,
             rows: int = 1, statuses: frozenset[str] = SERVING, check: Callable[[], Any] | None = None) -> Served:
        """One prediction call by the rules of every route: counted against the caller's "predictions"
        limit (429 when spent); the version must still serve (`statuses`); `check` (if given) refuses bad
        input before anything is charged; answered from the prediction
        cache when an identical request to this version was answered within
        MODELYARD_PREDICTION_CACHE_SECONDS, else by `answer()` (stored).
        The version's price × `rows` is charged before the model runs (402 INSUFFICIENT_CREDITS, nothing
        taken and nothing predicted, when too few credits remain) and given back when it fails to
        predict, so a refused call is one error in the log, never a prediction made and then refused."""
        started = time.perf_counter()
        try:
            self.limits.count(viewer, "predictions")
            self.authorize(version, statuses=statuses)
            if check is not None:
                check()
            credits = self.price(version) * rows
            if credits:
                self.charge(viewer.id, credits, detail=version.name)
            try:
                found = self.cache.get(version.id, request)
                if found is None:
                    result, cached_at = answer(), None
                    self.cache.put(version.id, request, result)
                else:
                    result, cached_at = found
                    confidence, summary = digest(result)
                    self.record(version, user_id=viewer.id, rows=rows,
                                seconds=time.perf_counter() - started, cached=True, confidence=confidence,
                                summary=summary)
            except Exception:
                if credits:
                    self.refund(viewer.id, credits, detail=version.name)
                raise
        except AppError as exc:  # refused or failed calls are in the log too (error rates are computed from it)
            self.log.add(user_id=viewer.id, model_name=version.name, version_id=version.id, version=version.number,
                         rows=rows, seconds=time.perf_counter() - started, status="error", error_code=exc.code)
            raise
        served = Served(result, cached_at, credits)
        if self.completed is not None:
            try:
                self.completed(version, viewer, served, time.perf_counter() - started)
            except Exception:  # an announcement never fails the prediction it announces
                log.warning("could not announce a prediction of %s", version.name, exc_info=True)
        return served

    @staticmethod
    def price(version: VersionRef) -> int:
        """Credits per row predicted: a built-in model's declared price; a user's own model costs nothing."""
        if not version.builtin:
            return 0
        from modelyard.gallery import catalog

        return catalog.lookup(version.name).credits

    def charge(self, user_id: int, credits: int, *, detail: str, once: bool = False) -> int:
        """Take what a call costs from a user's credits (one atomic statement, auth/credits.py); the
        balance after. Raises 402 INSUFFICIENT_CREDITS and takes nothing when too few remain. `once`: not
        again when the ledger already holds a charge with this `detail` (a retried job's chunk)."""
        from modelyard.auth.credits import CreditService

        with self._db.session() as session:
            return CreditService(session).charge(user_id, credits, detail=detail, once=once)

    def refund(self, user_id: int, credits: int, *, detail: str) -> None:
        """Give back what a call was charged when its model did not answer."""
        from modelyard.auth.credits import CreditService

        with self._db.session() as session:
            CreditService(session).allocate(user_id, credits, reason="refund", detail=detail)

    # Predict ------------------------------------------------------------------------------------

    def predict(self, version: VersionRef, rows: list[dict[str, Any]], *, viewer: User,
                statuses: frozenset[str] = SERVING) -> Prediction:
        """Predict JSON rows with a version the viewer resolved; records metrics and activity."""
        self.authorize(version, statuses=statuses)
        ignored = check_rows(rows, version.signature, max_rows=self._max_rows)
        model = self.model(version)
        started = time.perf_counter()
        outputs = self._guarded(version, lambda: model.predictor.predict_rows(rows))
        seconds = time.perf_counter() - started
        self.record(version, user_id=viewer.id, rows=len(rows), seconds=seconds,
                    outputs=outputs, inputs=rows)
        return Prediction(version, outputs, ignored, seconds)

    def predict_frame(self, version: VersionRef, frame: "pd.DataFrame", *, user_id: int,
                      model: "LoadedModel | None" = None) -> Outputs:
        """Predict a chunk of CSV text (batch scoring, evaluation); records metrics and activity."""
        model = model or self.model(version)
        started = time.perf_counter()
        outputs = self._guarded(version, lambda: model.predictor.predict_frame(frame))
        self.record(version, user_id=user_id, rows=len(frame),
                    seconds=time.perf_counter() - started, outputs=outputs, inputs=frame)
        return outputs

    def authorize(self, version: VersionRef, *, statuses: frozenset[str] = SERVING) -> None:
        from modelyard.registry.service import ModelNotDeployed

        if version.status not in statuses:
            raise ModelNotDeployed(f"model {version.id} is {version.status}, not deployed; "
                                   f"deploy it with POST /api/models/{version.id}/deploy")
        if version.format == "pickle" and not self._allow_pickle():
            raise Conflict(f"model {version.name!r} version {version.label!r} is a pickle, and pickle models are "
                           "served only while the admin setting registry.allowPickle is on")

    def model(self, version: VersionRef) -> "LoadedModel":
        return self._models.get(version)

    def record(self, version: VersionRef, *, user_id: int, rows: int, seconds: float,
               outputs: Outputs | None = None, cached: bool = False, confidence: float | None = None,
               summary: str | None = None, inputs: Any = None) -> None:
        """A prediction made (or answered from the cache): metrics and the prediction log (which counts
        `inputs`, JSON rows or a DataFrame, for drift when the version has a training reference)."""
        metrics.observe_prediction(version.name, version.label, seconds, rows)
        self.log.add(user_id=user_id, model_name=version.name, version_id=version.id, version=version.number,
                     rows=rows, seconds=seconds, confidence=confidence, summary=summary, cached=cached,
                     outputs=outputs, inputs=inputs,
                     reference=version.training_data.get("reference") if version.training_data else None)

    @staticmethod
    def _guarded(version: VersionRef, run: Callable[[], Outputs]) -> Outputs:
        try:
            return run()
        except AppError:
            raise
        except Exception as exc:  # the model refused these inputs: the caller's 4xx, not our 500
            reason = str(exc).splitlines()[0][:300] if str(exc) else ""
            raise Unprocessable(f"model {version.name!r} version {version.label!r} could not predict these rows: "
                                f"{type(exc).__name__}: {reason}") from None

    # Deploy -------------------------------------------------------------------------------------

    def prepare(self, version_id: str) -> dict[str, Any]:
        """Load a version and settle its predictor now (at deploy), so the first request is fast."""
        return self._models.get(self.version(version_id)).report
