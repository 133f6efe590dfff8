"""Model artifacts as skops bytes, loaded only when every type in them is on our own allowlist.

skops trusts many types by default (every scikit-learn estimator, for one) and has had loader
bypasses, so ``load`` does not rely on its defaults: it reads the file's schema first, collects
every type and node loader named anywhere in it, and refuses the file (``UntrustedModel``)
unless all of them are listed below. Nothing in a refused file is imported or instantiated. Only
then does ``skops.io.loads`` run, with exactly ``TRUSTED_TYPES`` as its trusted list.

Two allowed types hold raw node indices that scikit-learn follows without bounds checks
(``sklearn.tree._tree.Tree`` and HistGradientBoosting's ``TreePredictor``; skops warns about
both). After loading, every such tree is checked before anyone can call ``predict``: child
indices must point forward inside the tree (no out-of-range reads, no cycles) and split features
must exist; otherwise the file is refused. LightGBM boosters are parsed by LightGBM itself.

``TRUSTED_TYPES`` is what ``training.trainer`` can produce; a test trains every candidate on
every kind of column and target and checks each pipeline loads, so a new type shows up there.
"""
from __future__ import annotations

import io
import json
import zipfile
from typing import Any, Iterable

import numpy as np
import skops.io
from skops.io.exceptions import UntrustedTypesFoundException

TRUSTED_TYPES: list[str] = [
    # containers and primitives as skops stores them
    "builtins.dict", "builtins.list", "builtins.slice", "builtins.str", "builtins.tuple",
    "collections.OrderedDict", "collections.defaultdict",
    # numpy
    "numpy.bool", "numpy.dtype", "numpy.float32", "numpy.float64", "numpy.int64", "numpy.ndarray",
    "numpy.uint64", "numpy.random._generator.Generator",
    # our preprocessing functions (training.features)
    "modelyard.training.features.to_categories",
    "modelyard.training.features.to_date_parts",
    "modelyard.training.features.to_numbers",
    # scikit-learn preprocessing and pipeline
    "sklearn.compose._column_transformer.ColumnTransformer",
    "sklearn.impute._base.SimpleImputer",
    "sklearn.pipeline.Pipeline",
    "sklearn.preprocessing._data.StandardScaler",
    "sklearn.preprocessing._discretization.KBinsDiscretizer",
    "sklearn.preprocessing._encoders.OneHotEncoder",
    "sklearn.preprocessing._function_transformer.FunctionTransformer",
    "sklearn.preprocessing._label.LabelEncoder",
    # linear models
    "sklearn.linear_model._logistic.LogisticRegression",
    "sklearn.linear_model._ridge.Ridge",
    # LightGBM
    "lightgbm.basic.Booster",
    "lightgbm.sklearn.LGBMClassifier",
    "lightgbm.sklearn.LGBMRegressor",
    # random forests
    "sklearn.ensemble._forest.RandomForestClassifier",
    "sklearn.ensemble._forest.RandomForestRegressor",
    "sklearn.tree._classes.DecisionTreeClassifier",
    "sklearn.tree._classes.DecisionTreeRegressor",
    "sklearn.tree._tree.Tree",
    # histogram gradient boosting and its losses
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingRegressor",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn._loss._loss.CyHalfBinomialLoss",
    "sklearn._loss._loss.CyHalfMultinomialLoss",
    "sklearn._loss._loss.CyHalfSquaredError",
    "sklearn._loss.link.IdentityLink",
    "sklearn._loss.link.Interval",
    "sklearn._loss.link.LogitLink",
    "sklearn._loss.link.MultinomialLogit",
    "sklearn._loss.loss.HalfBinomialLoss",
    "sklearn._loss.loss.HalfMultinomialLoss",
    "sklearn._loss.loss.HalfSquaredError",
]

TRUSTED_LOADERS = frozenset({
    "CachedNode", "DTypeNode", "DefaultDictNode", "DictNode", "FunctionNode", "JsonNode",
    "ListNode", "LossNode", "NdArrayNode", "ObjectNode", "RandomGeneratorNode", "SliceNode",
    "TreeNode", "TupleNode", "TypeNode",
})


class ModelFileError(ValueError):
    """The bytes are not a readable skops model file."""


class UntrustedModel(ModelFileError):
    """The model file names types (or skops loaders) outside the allowlist; it was not loaded."""

    def __init__(self, types: Iterable[str]):
        self.types = sorted(set(types))
        super().__init__(f"Model file contains untrusted types: {', '.join(self.types)}")


def dump(pipeline: Any) -> bytes:
    """The pipeline as skops bytes."""
    return skops.io.dumps(pipeline)


def load(data: bytes) -> Any:
    """The pipeline stored in ``data``; ``UntrustedModel`` if it names anything not allowlisted."""
    untrusted = sorted(set(referenced_types(data)) - set(TRUSTED_TYPES))
    if untrusted:
        raise UntrustedModel(untrusted)
    try:
        loaded = skops.io.loads(data, trusted=list(TRUSTED_TYPES))
    except UntrustedTypesFoundException as exc:  # belt and braces: our scan should catch it first
        raise UntrustedModel([str(exc)]) from exc
    _check_trees(loaded)
    return loaded


def referenced_types(data: bytes) -> list[str]:
    """Every type (``module.Name``) named in the file's schema, plus ``skops loader: X`` entries
    for node loaders outside ``TRUSTED_LOADERS``. Reads JSON only; imports nothing."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ModelFileError("A model file must be bytes.")
    try:
        with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
            schema = json.loads(archive.read("schema.json"))
    except (zipfile.BadZipFile, KeyError, ValueError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"Not a skops model file: {exc}") from exc
    found: set[str] = set()
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if "__module__" in node or "__class__" in node:
                found.add(f"{node.get('__module__')}.{node.get('__class__')}")
            loader = node.get("__loader__")
            if loader is not None and loader not in TRUSTED_LOADERS:
                found.add(f"skops loader: {loader}")
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return sorted(found)


def _check_trees(pipeline: Any) -> None:
    """Refuse trees whose node indices would make ``predict`` read out of bounds or loop."""
    steps = getattr(pipeline, "steps", None) or [(None, pipeline)]
    for _, step in steps:
        n_features = getattr(step, "n_features_in_", None)
        for tree in getattr(step, "estimators_", None) or []:
            inner = getattr(tree, "tree_", None)
            if inner is not None:
                _check_nodes(inner.children_left, inner.children_right, inner.feature,
                             inner.children_left == -1, n_features)
        for per_iteration in getattr(step, "_predictors", None) or []:
            for predictor in per_iteration:
                nodes = predictor.nodes
                if np.any(nodes["is_categorical"]):
                    raise UntrustedModel(["categorical HistGradientBoosting splits"])
                _check_nodes(nodes["left"], nodes["right"], nodes["feature_idx"],
                             nodes["is_leaf"].astype(bool), n_features)


def _check_nodes(left, right, feature, leaf, n_features: int | None) -> None:
    index = np.arange(len(left))
    inner = ~np.asarray(leaf, dtype=bool)
    for child in (np.asarray(left)[inner], np.asarray(right)[inner]):
        if np.any(child <= index[inner]) or np.any(child >= len(left)):
            raise UntrustedModel(["tree with out-of-range child nodes"])
    used = np.asarray(feature)[inner]
    if used.size and (used.min() < 0 or (n_features is not None and used.max() >= n_features)):
        raise UntrustedModel(["tree with out-of-range split features"])
