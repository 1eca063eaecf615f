"""Small real models, trained at start-up on data that scikit-learn ships or generates.

Nothing is downloaded: the fraud detector learns from `make_classification` (fixed
seed), the image classifier from `load_digits` (bundled with scikit-learn). Two
fraud-detector versions differ in algorithm and hyper-parameters, so a canary is
a different model, not a relabelled copy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

GiB = 1024**3
MiB = 1024**2


@dataclass(frozen=True)
class Recipe:
    n_features: int
    # Logical weight size on the (simulated) device: what a production-size model of this
    # kind would occupy. The real scikit-learn model is far smaller; the pool accounts this.
    weight_bytes: int
    build: Callable[[], tuple[Any, np.ndarray, np.ndarray]]  # -> (unfitted estimator, X, y)


@dataclass(frozen=True)
class LoadedModel:
    name: str
    version: str
    capability: str
    n_features: int
    weight_bytes: int
    accuracy: float
    estimator: Any

    def predict(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(predicted class per row, confidence = highest class probability per row)."""
        proba = self.estimator.predict_proba(rows)
        classes = self.estimator.classes_[np.argmax(proba, axis=1)]
        return classes, proba.max(axis=1)


def _fraud_data() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import make_classification

    return make_classification(
        n_samples=3000, n_features=20, n_informative=8, n_redundant=4,
        weights=[0.9, 0.1], class_sep=0.8, random_state=20231,
    )  # fmt: skip


def _fraud_v231() -> tuple[Any, np.ndarray, np.ndarray]:
    from sklearn.ensemble import GradientBoostingClassifier

    # subsample=0.5 halves the start-up training time on a busy machine at ~equal accuracy
    est = GradientBoostingClassifier(n_estimators=40, max_depth=3, subsample=0.5, random_state=1)
    return (est, *_fraud_data())


def _fraud_v240() -> tuple[Any, np.ndarray, np.ndarray]:
    from sklearn.ensemble import RandomForestClassifier

    est = RandomForestClassifier(n_estimators=40, max_depth=10, random_state=2, n_jobs=1)
    return (est, *_fraud_data())


def _digits_v120() -> tuple[Any, np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = load_digits(return_X_y=True)
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=100, tol=1e-3)), x, y


RECIPES: dict[tuple[str, str], Recipe] = {
    ("fraud-detector", "2.3.1"): Recipe(20, int(1.5 * GiB), _fraud_v231),
    ("fraud-detector", "2.4.0"): Recipe(20, 2 * GiB, _fraud_v240),
    ("image-classifier", "1.2.0"): Recipe(64, 3 * GiB, _digits_v120),
}


def train(name: str, version: str, capability: str) -> LoadedModel:
    """Fit the model on 75% of its data; accuracy on the other 25%. KeyError if unknown."""
    from sklearn.model_selection import train_test_split

    import warnings

    from sklearn.exceptions import ConvergenceWarning

    recipe = RECIPES[(name, version)]
    est, x, y = recipe.build()
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)
    with warnings.catch_warnings():  # a short, bounded fit is deliberate (start-up time)
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(x_tr, y_tr)
    accuracy = float(est.score(x_te, y_te))
    return LoadedModel(name, version, capability, recipe.n_features, recipe.weight_bytes, accuracy, est)


def sample_inputs(name: str, n: int, seed: int = 0) -> list[list[float]]:
    """Plausible input rows for `name` (for benchmarks, load tests and examples)."""
    rng = np.random.default_rng(seed)
    width = 64 if name == "image-classifier" else 20
    scale = 16.0 if name == "image-classifier" else 2.0
    return (rng.random((n, width)) * scale).round(3).tolist()
