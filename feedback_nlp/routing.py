"""The router: a calibrated classifier that predicts the theme of new text from its embedding.

Logistic regression on sentence embeddings is strong and fast; temperature scaling (fitted by
cross-validation) makes its probabilities mean what they say, so a triage threshold of 0.5 sends to
triage the units the router is less than 50% sure about.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression
from sklearn.utils.validation import check_array, check_is_fitted


class ThemeRouter(ClassifierMixin, BaseEstimator):
    """Predict a theme with calibrated probabilities.

    Args:
        C: inverse regularisation strength of the logistic regression.
        calibration: ``"temperature"``, ``"sigmoid"``, ``"isotonic"`` or ``None`` (raw probabilities).
        calibration_folds: cross-validation folds for calibration; reduced for rare themes.
        max_iter: solver iterations.
        random_state: seed.

    Attributes:
        classes_: theme ids, in the column order of ``predict_proba``.
        estimator_: the fitted (calibrated) classifier.
    """

    def __init__(self, C: float = 10.0, calibration: str | None = "temperature", calibration_folds: int = 3,
                 max_iter: int = 2000, random_state: int = 42):
        self.C = C
        self.calibration = calibration
        self.calibration_folds = calibration_folds
        self.max_iter = max_iter
        self.random_state = random_state

    def fit(self, X, y):
        X = check_array(X, dtype=np.float32)
        y = np.asarray(y)
        self.classes_, counts = np.unique(y, return_counts=True)
        if len(self.classes_) < 2:
            raise ValueError("the router needs at least two themes to choose between")
        base = LogisticRegression(C=self.C, max_iter=self.max_iter, random_state=self.random_state)
        folds = min(self.calibration_folds, int(counts.min()))
        if self.calibration is None or folds < 2:
            self.estimator_ = base.fit(X, y)
        else:
            self.estimator_ = CalibratedClassifierCV(base, method=self.calibration, cv=folds, ensemble=False)
            self.estimator_.fit(X, y)
        return self

    def predict_proba(self, X) -> np.ndarray:
        check_is_fitted(self)
        return self.estimator_.predict_proba(check_array(X, dtype=np.float32))

    def predict(self, X) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
