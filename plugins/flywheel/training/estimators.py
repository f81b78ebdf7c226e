"""scikit-learn estimators built from a spec: the model pipeline and the baseline it must beat."""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OrdinalEncoder
from sklearn.utils.validation import check_is_fitted

from flywheel.specs import ModelSpec

# Estimators that split on categories natively: categoricals are ordinal-encoded and flagged instead of one-hot.
_NATIVE_CATEGORICAL = ("HistGradientBoostingClassifier", "HistGradientBoostingRegressor")


def estimator_class(class_path: str) -> type:
    module, _, name = class_path.rpartition(".")
    if not module.startswith("sklearn."):
        raise ValueError(f"only scikit-learn estimators can be named in a spec, got {class_path!r}")
    return getattr(importlib.import_module(module), name)


def build_pipeline(spec: ModelSpec, **params: Any) -> Pipeline:
    """``preprocess -> model`` with the spec's fixed params, overridden by ``params``."""
    est = spec.estimator
    cls = estimator_class(est.class_path)
    numeric, categorical = list(spec.features.numeric), list(spec.features.categorical)
    native = cls.__name__ in _NATIVE_CATEGORICAL
    if native:
        encoder: Any = OrdinalEncoder(
            handle_unknown="use_encoded_value",
            unknown_value=np.nan,
            encoded_missing_value=np.nan,
            min_frequency=est.one_hot_min_frequency,
            max_categories=250,  # HistGradientBoosting handles at most 255 bins per feature
        )
    else:
        from sklearn.preprocessing import OneHotEncoder

        encoder = OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=est.one_hot_min_frequency)
    preprocess = ColumnTransformer(
        [
            (
                "categorical",
                Pipeline([("fill", SimpleImputer(strategy="constant", fill_value="missing")), ("encode", encoder)]),
                categorical,
            ),
            ("numeric", SimpleImputer(strategy="median"), numeric),
        ],
        verbose_feature_names_out=False,
    )
    model_params = {**est.params, **params}
    if "random_state" in cls().get_params():
        model_params.setdefault("random_state", est.random_state)
    if native:
        model_params["categorical_features"] = list(range(len(categorical)))
    return Pipeline([("preprocess", preprocess), ("model", cls(**model_params))])


class OneRuleClassifier(ClassifierMixin, BaseEstimator):
    """Predicts each value's class shares in one column (the prior when ``column`` is None or the value unseen):
    for a binary label each value's positive rate. Labels are class indices 0 .. ``n_classes`` - 1."""

    def __init__(self, column: str | None = None, n_classes: int = 2):
        self.column = column
        self.n_classes = n_classes

    def fit(self, X: pd.DataFrame, y: Any) -> OneRuleClassifier:
        y = np.asarray(y).astype(int)
        self.classes_ = np.arange(self.n_classes)
        onehot = pd.DataFrame(np.eye(self.n_classes)[y])
        self.prior_ = onehot.mean().to_numpy(float)
        self.rates_ = pd.DataFrame(columns=range(self.n_classes), dtype=float)
        if self.column is not None:
            self.rates_ = onehot.groupby(X[self.column].fillna("missing").to_numpy()).mean()
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "prior_")
        if self.column is None:
            return np.tile(self.prior_, (len(X), 1))
        shares = np.array(self.rates_.reindex(X[self.column].fillna("missing").to_numpy()), dtype=float)
        unseen = np.isnan(shares).any(axis=1)
        shares[unseen] = self.prior_
        return shares

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        proba = self.predict_proba(X)
        if self.n_classes == 2:
            return (proba[:, 1] >= 0.5).astype(int)
        return np.asarray(proba.argmax(axis=1), dtype=int)


class GroupMeanRegressor(RegressorMixin, BaseEstimator):
    """Predicts each value's mean label in one column (the overall mean when ``column`` is None or unseen)."""

    def __init__(self, column: str | None = None):
        self.column = column

    def fit(self, X: pd.DataFrame, y: Any) -> GroupMeanRegressor:
        y = np.asarray(y, dtype=float)
        self.mean_ = float(y.mean())
        self.means_: dict[Any, float] = {}
        if self.column is not None:
            self.means_ = pd.Series(y).groupby(X[self.column].fillna("missing").to_numpy()).mean().to_dict()
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "mean_")
        if self.column is None:
            return np.full(len(X), self.mean_)
        return X[self.column].fillna("missing").map(self.means_).fillna(self.mean_).to_numpy(float)


def build_baseline(spec: ModelSpec) -> OneRuleClassifier | GroupMeanRegressor:
    column = spec.baseline.column if spec.baseline.kind == "one_rule" else None
    if spec.task == "regression":
        return GroupMeanRegressor(column)
    return OneRuleClassifier(column, n_classes=max(len(spec.classes), 2))
