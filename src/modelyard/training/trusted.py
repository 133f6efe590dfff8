"""Which types a skops model file may hold, and how a refusal is worded for the person uploading it.

The list is explicit (DESIGN: model files are untrusted input): skops itself trusts many types by
default and has had loader bypasses, so modelyard trusts only what is named here. ``FAMILIES`` are
the estimators and transformers a user picks (listed in docs/model-registry.md, checked by a test);
``SUPPORT`` are the containers, numpy values and scikit-learn internals those store. A type
missing from both is refused before anything in the file is imported.

Some trusted types hold raw indices that compiled code follows without bounds checks (decision
trees, histogram gradient boosting predictors, libsvm's support vectors); ``training.structure``
checks those after loading, before anyone can predict.
"""
from __future__ import annotations

from collections.abc import Iterable

_SK = "sklearn."
FAMILIES: dict[str, list[str]] = {
    "Linear models": [
        "linear_model._base.LinearRegression", "linear_model._ridge.Ridge", "linear_model._ridge.RidgeCV",
        "linear_model._ridge.RidgeClassifier", "linear_model._ridge.RidgeClassifierCV",
        "linear_model._coordinate_descent.Lasso", "linear_model._coordinate_descent.LassoCV",
        "linear_model._coordinate_descent.ElasticNet", "linear_model._coordinate_descent.ElasticNetCV",
        "linear_model._least_angle.Lars", "linear_model._least_angle.LassoLars",
        "linear_model._omp.OrthogonalMatchingPursuit", "linear_model._bayes.BayesianRidge",
        "linear_model._bayes.ARDRegression", "linear_model._huber.HuberRegressor",
        "linear_model._quantile.QuantileRegressor", "linear_model._theil_sen.TheilSenRegressor",
        "linear_model._ransac.RANSACRegressor", "linear_model._logistic.LogisticRegression",
        "linear_model._logistic.LogisticRegressionCV", "linear_model._stochastic_gradient.SGDClassifier",
        "linear_model._stochastic_gradient.SGDRegressor", "linear_model._perceptron.Perceptron",
        "linear_model._passive_aggressive.PassiveAggressiveClassifier",
        "linear_model._passive_aggressive.PassiveAggressiveRegressor", "linear_model._glm.glm.PoissonRegressor",
        "linear_model._glm.glm.GammaRegressor", "linear_model._glm.glm.TweedieRegressor",
    ],
    "Support vector machines": [
        "svm._classes.SVC", "svm._classes.NuSVC", "svm._classes.SVR", "svm._classes.NuSVR",
        "svm._classes.LinearSVC", "svm._classes.LinearSVR",
    ],
    "Trees and ensembles": [
        "tree._classes.DecisionTreeClassifier", "tree._classes.DecisionTreeRegressor",
        "tree._classes.ExtraTreeClassifier", "tree._classes.ExtraTreeRegressor",
        "ensemble._forest.RandomForestClassifier", "ensemble._forest.RandomForestRegressor",
        "ensemble._forest.ExtraTreesClassifier", "ensemble._forest.ExtraTreesRegressor",
        "ensemble._gb.GradientBoostingClassifier", "ensemble._gb.GradientBoostingRegressor",
        "ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
        "ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingRegressor",
        "ensemble._weight_boosting.AdaBoostClassifier", "ensemble._weight_boosting.AdaBoostRegressor",
        "ensemble._bagging.BaggingClassifier", "ensemble._bagging.BaggingRegressor",
        "ensemble._voting.VotingClassifier", "ensemble._voting.VotingRegressor",
        "ensemble._stacking.StackingClassifier", "ensemble._stacking.StackingRegressor",
    ],
    "Other estimators": [
        "dummy.DummyClassifier", "dummy.DummyRegressor", "naive_bayes.GaussianNB",
    ],
    "Scalers and other transformers": [
        "preprocessing._data.StandardScaler", "preprocessing._data.MinMaxScaler",
        "preprocessing._data.MaxAbsScaler", "preprocessing._data.RobustScaler", "preprocessing._data.Normalizer",
        "preprocessing._data.Binarizer", "preprocessing._data.QuantileTransformer",
        "preprocessing._data.PowerTransformer", "preprocessing._polynomial.PolynomialFeatures",
        "preprocessing._discretization.KBinsDiscretizer",
        "preprocessing._function_transformer.FunctionTransformer",
    ],
    "Encoders": [
        "preprocessing._encoders.OneHotEncoder", "preprocessing._encoders.OrdinalEncoder",
        "preprocessing._target_encoder.TargetEncoder", "preprocessing._label.LabelEncoder",
        "preprocessing._label.LabelBinarizer",
    ],
    "Imputers": [
        "impute._base.SimpleImputer", "impute._base.MissingIndicator", "impute._knn.KNNImputer",
    ],
    "Pipelines and column transformers": [
        "pipeline.Pipeline", "pipeline.FeatureUnion", "compose._column_transformer.ColumnTransformer",
        "compose._target.TransformedTargetRegressor",
    ],
}
FAMILIES = {family: [_SK + name for name in names] for family, names in FAMILIES.items()}
FAMILIES["LightGBM (scikit-learn interface)"] = [
    "lightgbm.sklearn.LGBMClassifier", "lightgbm.sklearn.LGBMRegressor", "lightgbm.basic.Booster",
]

_LOSSES = ["AbsoluteError", "ExponentialLoss", "HalfBinomialLoss", "HalfGammaLoss", "HalfMultinomialLoss",
           "HalfPoissonLoss", "HalfSquaredError", "HalfTweedieLoss", "HalfTweedieLossIdentity", "HuberLoss",
           "PinballLoss"]
SUPPORT: list[str] = [
    # containers and primitives as skops stores them
    "builtins.dict", "builtins.list", "builtins.slice", "builtins.str", "builtins.tuple",
    "collections.OrderedDict", "collections.defaultdict", "sklearn.utils._bunch.Bunch",
    # numpy values, and random states (rebuilt from numbers; bit generators are checked by name)
    "numpy.bool", "numpy.dtype", "numpy.float32", "numpy.float64", "numpy.int32", "numpy.int64", "numpy.uint64",
    "numpy.ndarray", "numpy.random._generator.Generator", "numpy.random.mtrand.RandomState",
    # the structures trees and histogram gradient boosting predict with (checked after loading)
    "sklearn.tree._tree.Tree", "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    # losses and link functions of gradient boosting, generalized linear and SGD models
    *[f"sklearn._loss.loss.{name}" for name in _LOSSES],
    *[f"sklearn._loss._loss.Cy{name}" for name in _LOSSES],
    *[f"sklearn._loss.link.{name}" for name in ("HalfLogitLink", "IdentityLink", "Interval", "LogitLink",
                                                  "LogLink", "MultinomialLogit")],
    *[f"sklearn.linear_model._sgd_fast.{name}" for name in ("Hinge", "ModifiedHuber", "SquaredHinge",
                                                              "Huber", "SquaredLoss", "EpsilonInsensitive",
                                                              "SquaredEpsilonInsensitive")],
    # modelyard's own preprocessing functions (training.features), the only functions a file may name
    "modelyard.training.features.to_categories", "modelyard.training.features.to_date_parts",
    "modelyard.training.features.to_numbers",
]

TRUSTED_TYPES: list[str] = sorted({name for names in FAMILIES.values() for name in names} | set(SUPPORT))

# skops node loaders that only rebuild data or the trusted types above (MethodNode, OperatorFuncNode,
# PartialNode and the like can call code named in the file and are refused).
TRUSTED_LOADERS = frozenset({
    "CachedNode", "DTypeNode", "DefaultDictNode", "DictNode", "FunctionNode", "JsonNode", "ListNode", "LossNode",
    "NdArrayNode", "ObjectNode", "RandomGeneratorNode", "RandomStateNode", "SliceNode", "TreeNode", "TupleNode",
    "TypeNode",
})
BIT_GENERATORS = frozenset({"MT19937", "PCG64", "PCG64DXSM", "Philox", "SFC64"})

# Why a file is refused, in words for the person uploading it (no module paths of ours or theirs).
PACKAGES = {"sklearn": "scikit-learn", "numpy": "numpy", "scipy": "SciPy", "lightgbm": "LightGBM",
            "xgboost": "XGBoost", "builtins": "Python", "posix": "the operating system",
            "nt": "the operating system", "os": "the operating system", "subprocess": "Python"}
# Types skops would load whose content compiled code follows without checks, and that modelyard does not check.
UNSAFE_STRUCTURES = frozenset({"sklearn.neighbors._kd_tree.KDTree", "sklearn.neighbors._ball_tree.BallTree"})
LOADER_WORDS = {"MethodNode": "a stored method", "OperatorFuncNode": "a stored operator function",
                "PartialNode": "a stored partial function", "SparseMatrixNode": "a sparse matrix",
                "BytesNode": "raw bytes", "BytearrayNode": "raw bytes", "SetNode": "a set",
                "ReduceNode": "an object rebuilt by a recipe stored in the file",
                "ConstructorFromReduceNode": "an object rebuilt by a recipe stored in the file"}


def public_name(dotted: str) -> str:
    """``sklearn.neighbors._regression.KNeighborsRegressor`` → ``sklearn.neighbors.KNeighborsRegressor``."""
    parts = dotted.split(".")
    return ".".join([p for p in parts[:-1] if not p.startswith("_")] + parts[-1:])


def shown(dotted: str, kind: str) -> str:
    """A type, function or entry as a user reads it: its name and the library it comes from."""
    if kind == "loader":
        return LOADER_WORDS.get(dotted, "an entry of a kind modelyard does not load")
    if kind == "bit generator":
        return f"a random generator built on {dotted.rsplit('.', 1)[-1]!r}"
    module, _, name = dotted.rpartition(".")
    top = module.split(".")[0]
    library = PACKAGES.get(top, top or "an unknown library")
    return f"the function {name} (from {library})" if kind == "function" else f"{name} (from {library})"


def refusal(found: dict[str, str]) -> str:
    """'this model contains X, which modelyard does not load because …', one clause per reason.
    `found` maps each refused name to its kind: type, function, loader or bit generator."""
    groups: dict[str, list[str]] = {}
    for dotted, kind in sorted(found.items()):
        groups.setdefault("structure" if dotted in UNSAFE_STRUCTURES else kind, []).append(dotted)
    clauses = []
    for reason, names in groups.items():
        labels = [shown(n, found[n]) for n in names]
        subject = "It also contains" if clauses else "this model contains"
        clauses.append(f"{subject} {_join(labels)}, which modelyard does not load because "
                       f"{_why(reason, len(labels) == 1)}")
    return ". ".join(clauses)


def _why(reason: str, one: bool) -> str:
    if reason == "function":
        return "calling a function named in a model file can run any code"
    if reason == "loader":
        return f"{'it' if one else 'they'} can call code named in the file"
    if reason == "bit generator":
        return "only numpy's own bit generators (" + ", ".join(sorted(BIT_GENERATORS)) + ") are rebuilt from a file"
    if reason == "structure":
        return (f"{'its' if one else 'their'} search tree holds raw indices that scikit-learn follows without "
                "checking them, so a crafted file could read memory out of bounds; save the model as ONNX instead")
    return (f"{'it is' if one else 'they are'} not on its list of trusted types (see the model-registry "
            "documentation): building an unknown type from a file can run code; use a listed estimator, or "
            "save the model as ONNX")


def structural_refusal(what: str, detail: str, why: str | None = None) -> str:
    """A trusted type whose content fails its check after loading."""
    why = why or "predicting with it would read memory out of bounds; the file is damaged or was crafted"
    return f"this model contains {what} whose {detail}, which modelyard does not load because {why}"


def _join(items: Iterable[str]) -> str:
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
