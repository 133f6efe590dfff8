"""Checks of a loaded model's own numbers that compiled scikit-learn code follows without bounds checks.

skops can only check that a file holds trusted types, not that their content is sane. Three trusted
kinds carry raw indices or counts that Cython/C code reads memory by:

- decision trees (``sklearn.tree._tree.Tree``: every tree of a forest, gradient boosting, AdaBoost,
  bagging) and histogram gradient boosting's ``TreePredictor`` nodes: each child index must point
  forward inside the tree (no out-of-range reads, no cycles) and each split feature must be a
  column the model is given. Forests and gradient boosting hand their (validated) input to their
  trees unchecked, so a tree's features are bounded by the ensemble's input width too;
- gradient boosting: the per-stage tree grid must be as wide as the initial prediction it adds to;
- libsvm models (SVC, NuSVC, SVR, NuSVR): support vectors, their per-class counts, dual
  coefficients, intercepts and probability parameters must agree in shape, with a standard kernel.

The walk visits every object reachable from the model (pipelines, column transformers, voting and
stacking members...), so a checked type is checked wherever it sits. ``UnsafeStructure`` names
what failed in words for the person uploading the file.
"""
from __future__ import annotations

import types
from typing import Any

import numpy as np

from modelyard.training.trusted import structural_refusal

KERNELS = ("linear", "poly", "rbf", "sigmoid")
SKIPPED = (str, bytes, int, float, bool, type, types.FunctionType, types.BuiltinFunctionType)


class UnsafeStructure(ValueError):
    def __init__(self, what: str, detail: str, why: str | None = None):
        self.what, self.detail = what, detail
        super().__init__(structural_refusal(what, detail, why))


def check(model: Any) -> None:
    """Raise ``UnsafeStructure`` unless every tree, boosting grid and SVM in ``model`` is consistent."""
    from sklearn.ensemble._forest import BaseForest
    from sklearn.ensemble._gb import BaseGradientBoosting
    from sklearn.ensemble._hist_gradient_boosting.gradient_boosting import BaseHistGradientBoosting
    from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor
    from sklearn.svm._base import BaseLibSVM
    from sklearn.tree import BaseDecisionTree
    from sklearn.tree._tree import Tree

    passes_input_on = (BaseForest, BaseGradientBoosting, BaseHistGradientBoosting, BaseDecisionTree)
    stack: list[tuple[Any, int | None]] = [(model, None)]
    seen: set[int] = set()
    while stack:
        obj, limit = stack.pop()
        if id(obj) in seen or obj is None or isinstance(obj, SKIPPED):
            continue
        seen.add(id(obj))
        if isinstance(obj, Tree):
            _check_tree(obj, _narrowest(limit, obj.n_features))
        elif isinstance(obj, TreePredictor):
            _check_predictor(obj, limit)
        elif isinstance(obj, dict):
            stack.extend((value, limit) for value in obj.values())
        elif isinstance(obj, (list, tuple)):
            stack.extend((value, limit) for value in obj)
        elif isinstance(obj, np.ndarray):
            if obj.dtype == object:
                stack.extend((value, limit) for value in obj.ravel())
        elif hasattr(obj, "__dict__"):
            width = obj.__dict__.get("n_features_in_")
            width = int(width) if isinstance(width, (int, np.integer)) else None
            if isinstance(obj, BaseLibSVM):
                _check_svm(obj)
            if isinstance(obj, BaseGradientBoosting):
                _check_boosting_grid(obj)
            inherited = _narrowest(limit, width) if isinstance(obj, passes_input_on) else None
            stack.extend((value, inherited) for value in vars(obj).values())


def _narrowest(*widths: int | None) -> int | None:
    known = [w for w in widths if w is not None]
    return min(known) if known else None


def _check_tree(tree: Any, n_features: int | None) -> None:
    if tree.node_count < 1 or tree.node_count > tree.capacity:
        raise UnsafeStructure("a decision tree", f"node count {tree.node_count} does not match its nodes")
    _check_nodes("a decision tree", tree.children_left, tree.children_right, tree.feature,
                 tree.children_left == -1, n_features)


def _check_predictor(predictor: Any, n_features: int | None) -> None:
    nodes = predictor.nodes
    if np.any(nodes["is_categorical"]):
        raise UnsafeStructure("a histogram gradient boosting tree", "splits use category sets",
                              "modelyard cannot check the indices of such splits; encode the categories as numbers "
                              "(e.g. with an OrdinalEncoder in the pipeline) before the model")
    _check_nodes("a histogram gradient boosting tree", nodes["left"], nodes["right"], nodes["feature_idx"],
                 nodes["is_leaf"].astype(bool), n_features)


def _check_nodes(what: str, left, right, feature, leaf, n_features: int | None) -> None:
    left, right = np.asarray(left), np.asarray(right)
    index = np.arange(len(left))
    inner = ~np.asarray(leaf, dtype=bool)
    for child in (left[inner], right[inner]):
        if np.any(child <= index[inner]) or np.any(child >= len(left)):
            raise UnsafeStructure(what, "child nodes point outside the tree or back up it")
    used = np.asarray(feature)[inner]
    if used.size and (used.min() < 0 or (n_features is not None and used.max() >= n_features)):
        raise UnsafeStructure(what, f"splits name input columns beyond the {n_features} the model takes")


def _check_boosting_grid(model: Any) -> None:
    """The stages' tree grid is added into the initial raw prediction in place, column by column."""
    stages = model.__dict__.get("estimators_")
    if stages is None:
        return
    what = f"a {type(model).__name__}"
    if not isinstance(stages, np.ndarray) or stages.ndim != 2:
        raise UnsafeStructure(what, "stages are not a grid of trees")
    width = model.__dict__.get("n_features_in_")
    try:
        initial = model._raw_predict_init(np.zeros((1, int(width)), dtype=np.float32))
    except (ValueError, TypeError, AttributeError, IndexError, KeyError) as exc:
        raise UnsafeStructure(what, f"initial prediction cannot be computed ({type(exc).__name__})") from None
    if initial.shape != (1, stages.shape[1]):
        raise UnsafeStructure(what, f"tree grid has {stages.shape[1]} column(s) for an initial prediction of "
                                    f"{initial.shape[-1]}")


def _check_svm(model: Any) -> None:
    what = f"a support vector machine ({type(model).__name__})"
    state = model.__dict__
    impl = state.get("_impl", type(model)._impl)
    if impl != type(model)._impl or state.get("_sparse") or model.kernel not in KERNELS:
        raise UnsafeStructure(what, "kind, kernel or storage differs from what scikit-learn writes")
    vectors = np.asarray(model.support_vectors_)
    count = vectors.shape[0] if vectors.ndim == 2 else -1
    counts = np.asarray(model._n_support)
    if vectors.ndim != 2 or vectors.shape[1] != int(model.n_features_in_) \
            or np.asarray(model.support_).shape != (count,):
        raise UnsafeStructure(what, "support vectors do not match the model's inputs")
    if impl in ("c_svc", "nu_svc"):
        classes = len(model.classes_)
        pairs = classes * (classes - 1) // 2
        expected = {"class counts": (counts.shape == (classes,) and counts.min(initial=0) >= 0
                                     and int(counts.sum()) == count),
                    "dual coefficients": np.asarray(model._dual_coef_).shape == (classes - 1, count),
                    "intercepts": np.asarray(model._intercept_).shape == (pairs,)}
        probabilities = pairs
    else:
        expected = {"counts": counts.shape == (2,) and bool(np.all((counts >= 0) & (counts <= count))),
                    "dual coefficients": np.asarray(model._dual_coef_).shape == (1, count),
                    "intercepts": np.asarray(model._intercept_).shape == (1,)}
        probabilities = 1
    expected["probability parameters"] = all(np.asarray(p).shape in ((0,), (probabilities,))
                                             for p in (model._probA, model._probB))
    wrong = [name for name, ok in expected.items() if not ok]
    if wrong:
        raise UnsafeStructure(what, f"{' and '.join(wrong)} do not agree with its {count} support vectors")
