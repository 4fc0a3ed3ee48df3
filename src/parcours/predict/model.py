"""The propensity model: scikit-learn's histogram gradient boosting, calibrated.

Chosen over LightGBM for one less native dependency at equal quality on tabular data of this
size: `HistGradientBoostingClassifier` is LightGBM's algorithm (binned features, leaf-wise
trees), handles missing values (a channel never touched has no "days since") and categories
(CRM attributes) natively, and stops early on an internal validation split. Its probabilities
are then calibrated by Platt scaling (`CalibratedClassifierCV(method="sigmoid")`) on a fifth
of the training persons it did not learn from: a smooth monotone map, where isotonic's steps
would make the next best channel's small differences of probability jump or vanish.

Small trees (15 leaves of at least 200 persons) learning slowly (0.04): on the 200,000-person
heterogeneous world they did a little better than 31 leaves of 40 learning at 0.08 (held-out
AUC 0.745 against 0.736), and their gains were less noisy.

Two models, each fitted on its own half of the rows (`Halves`), averaged: the next best
channel is a difference of two predictions, noisy from one fit to another, and two fits on
disjoint halves say how much of that difference between persons is signal (the split-half
reliability `recommend.shrink` uses). Two half fits cost about one full one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

CALIBRATION_SHARE = 0.2
# the fewest conversions two halves learn from: each one to calibrate on and two to learn from
# (early stopping keeps a part of them, by class, to check each iteration on)
MIN_CONVERSIONS = 6
BINS = 10  # of the calibration curve, by deciles of the prediction
LEAF = 200  # the fewest persons a leaf holds: a number known for fewer can never split one


@dataclass
class Model:
    columns: list[str]
    categories: dict[str, list[str]]  # each attribute column's values, as at the fit
    estimator: Any = field(repr=False)
    unknown: frozenset[str] = frozenset()  # numbers the fit knew for fewer than LEAF persons: 0

    def frame(self, features: pd.DataFrame) -> pd.DataFrame:
        """The estimator's input, all floats: numbers as they are, an attribute as its place
        among the fit's categories (missing: NaN), which is what the estimator would make of a
        pandas category, without its encoder mapping each value in Python (most of the
        scoring's time); a number too rarely known to split on is 0 for everyone (the
        estimator's binning fails on a number known for no one, a channel launched yesterday)."""
        out = {}
        for col in self.columns:
            if col in self.unknown:
                out[col] = np.zeros(len(features))
            elif col in self.categories:
                codes = pd.Categorical(features[col], categories=self.categories[col]).codes.astype("float64")
                out[col] = np.where(codes < 0, np.nan, codes)
            else:
                out[col] = pd.to_numeric(features[col], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        return pd.DataFrame(out, index=features.index, columns=self.columns)

    def predict(self, features: pd.DataFrame) -> np.ndarray:
        return self.predict_input(self.frame(features))

    def predict_input(self, x: pd.DataFrame) -> np.ndarray:
        """The probability from the estimator's input (`frame`): scoring changes one channel's
        columns of one input, rather than converting the features again for every channel."""
        return self.estimator.predict_proba(x)[:, 1] if len(x) else np.zeros(0)


@dataclass
class Halves:
    """Two models of the same recipe on disjoint halves of the rows; they predict together."""

    a: Model
    b: Model

    def predict(self, features: pd.DataFrame) -> np.ndarray:
        return (self.a.predict(features) + self.b.predict(features)) / 2


def fit_halves(features: pd.DataFrame, converted: np.ndarray, columns: list[str], seed: int = 0) -> Halves:
    """`fit` on each half of the rows, split at random (reproducibly), each with half of the
    conversions (at least MIN_CONVERSIONS in all: `predict_at` asks for them)."""
    y = np.asarray(converted)
    rng = np.random.default_rng(seed)
    first = np.zeros(len(y), dtype=bool)
    for label in (0, 1):
        rows = rng.permutation(np.flatnonzero(y == label))
        first[rows[: len(rows) // 2]] = True
    return Halves(fit(features[first], y[first], columns, seed), fit(features[~first], y[~first], columns, seed + 1))


def fit(features: pd.DataFrame, converted: np.ndarray, columns: list[str], seed: int = 0) -> Model:
    """A calibrated model of `converted` (0/1) from `features[columns]`."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.frozen import FrozenEstimator

    categories = {c: sorted(str(v) for v in features[c].dropna().unique()) for c in columns if c.startswith("attr_")}
    model = Model(columns, categories, None)
    X, y = model.frame(features), np.asarray(converted, dtype=np.int64)
    rng = np.random.default_rng(seed)
    held = rng.random(len(y)) < CALIBRATION_SHARE
    if y[held].sum() == 0 or y[~held].sum() < 2:  # too few conversions: one to calibrate on, two to learn from
        held = np.zeros(len(y), dtype=bool)
        held[np.flatnonzero(y)[::3]] = True
        held[rng.permutation(np.flatnonzero(y == 0))[: int(CALIBRATION_SHARE * (y == 0).sum())]] = True
    known = X[~held].notna().sum()
    model.unknown = frozenset(c for c in columns if c not in categories and known[c] < LEAF)
    X = model.frame(features)
    boosted = HistGradientBoostingClassifier(
        max_iter=600, learning_rate=0.04, max_leaf_nodes=15, min_samples_leaf=LEAF, l2_regularization=1.0,
        categorical_features=[c in categories for c in columns], early_stopping=True, validation_fraction=0.15,
        n_iter_no_change=40, random_state=seed)
    boosted.fit(X[~held], y[~held])
    calibrated = CalibratedClassifierCV(FrozenEstimator(boosted), method="sigmoid")
    calibrated.fit(X[held], y[held])
    model.estimator = calibrated
    return model


def quality(y: np.ndarray, p: np.ndarray) -> tuple[dict[str, float], pd.DataFrame]:
    """The held-out figures: AUC, log loss, Brier score, base rate, the top decile's rate over
    the base rate (lift), the expected calibration error; and the calibration curve, one row
    per decile of the prediction (predicted mean, observed rate, persons)."""
    from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

    y = np.asarray(y, dtype=np.int64)
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-7, 1 - 1e-7)
    order = np.argsort(-p, kind="stable")
    top = order[: max(1, len(p) // 10)]
    base = float(y.mean()) if len(y) else 0.0
    decile = pd.qcut(pd.Series(p).rank(method="first"), BINS, labels=False) if len(p) >= BINS else \
        pd.Series(np.zeros(len(p), dtype=np.int64))
    curve = pd.DataFrame({"bin": decile, "p": p, "y": y}).groupby("bin").agg(
        predicted=("p", "mean"), observed=("y", "mean"), persons=("y", "size")).reset_index()
    ece = float((curve.persons * (curve.predicted - curve.observed).abs()).sum() / max(1, len(p)))
    both = 0 < y.sum() < len(y)
    figures = {
        "auc": float(roc_auc_score(y, p)) if both else float("nan"),
        "log_loss": float(log_loss(y, p, labels=[0, 1])) if len(y) else float("nan"),
        "brier": float(brier_score_loss(y, p)) if len(y) else float("nan"),
        "base_rate": base, "top_decile_rate": float(y[top].mean()) if len(y) else 0.0,
        "top_decile_lift": float(y[top].mean() / base) if base > 0 else float("nan"),
        "calibration_error": ece,
    }
    return figures, curve
