"""The router: which theme new text belongs to, how sure that is, and whether the text is of a known topic.

Three estimators, each following the scikit-learn contract, and a composite that scores with them:

- :class:`ThemeClassifier` reads the sentence embedding beside word (1-2 gram) and character (2-5 gram)
  TF-IDF of the unit's text with a linear SVM: the embedding carries the meaning, the n-grams carry what it
  blurs (product names, error codes, "top-up" against "transfer"). On Banking77 that is 0.941 accuracy against
  0.930 for logistic regression on the embedding alone (benchmarks/README.md). Without texts
  (``text_features=False``) it is logistic regression on the embedding.
- :class:`TemperatureScaling` divides its decision values by one temperature, fitted by log loss on decision
  values of units the classifier did not train on, so that a triage threshold of 0.5 sends to triage the
  units the router is less than 50% sure about.
- :class:`InScopeScorer` says how much a unit looks like the known themes. A calibrated probability says how
  likely the router is right among the themes it knows, and little about text of a topic it has never seen
  (that text often lands confidently on the nearest known theme). The score is learned by rehearsal: the
  known themes are split into groups, each group in turn is hidden from a classifier fitted on half of the
  other themes' units, and a small logistic regression learns how units of the hidden themes differ from
  unseen units of the known ones, on eight signals (the top decision value and its margins over the second
  and third, the similarity to the nearest 1, 5 and 20 training units, and to the nearest unit of the
  predicted theme against the nearest of any other). On Banking77 with 10 intents held out of training it
  sends 63% of the unseen-intent texts to triage at the threshold that routes 95% of in-scope texts, against
  59% for the mean of the probability's and the neighbour similarity's percentiles (``rehearsal_groups=0``,
  the score without rehearsal) and 46% for the probability alone.
- :class:`ThemeRouter` fits the three in turn and scores a batch with one pass over the texts.

:func:`train_router` is the training job's step: it measures a router on a hold-out, chooses the in-scope
threshold there, and refits on all units. Where a unit then goes: :mod:`feedback_nlp.route_policy`.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict, train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC
from sklearn.utils.sparsefuncs_fast import inplace_csr_row_normalize_l2
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from feedback_nlp.metrics import expected_ece
from feedback_nlp.route_policy import RouteThresholds

if TYPE_CHECKING:
    from feedback_nlp.config import TrainingConfig

# A held-out unit this similar to a training unit is a near-copy (templated tickets, re-sent notes): it scores
# as familiar and would set the in-scope bar far too high for genuinely new text, so the threshold ignores it.
NEAR_COPY_SIMILARITY = 0.95


class ThemeClassifier(ClassifierMixin, BaseEstimator):
    """Predict a theme from a unit's embedding and, when fitted with texts, its words.

    Args:
        C: inverse regularisation strength of the logistic regression (embeddings only).
        text_features: also read the unit's text (word and character n-gram TF-IDF) when ``fit`` is given
            texts; the classifier then needs the texts to predict too.
        svm_C: inverse regularisation strength of the linear SVM (with text features).
        embedding_weight: scale of the embedding beside the unit-length TF-IDF blocks.
        max_iter: solver iterations of the logistic regression.
        random_state: seed.

    Attributes:
        classes_: theme ids, in the column order of ``decision_function``.
        estimator_: the fitted linear SVM or logistic regression.
        text_vectorizers_: the fitted word and character TF-IDF, or None (embeddings only).
    """

    def __init__(
        self,
        C: float = 10.0,
        text_features: bool = True,
        svm_C: float = 0.5,
        embedding_weight: float = 2.0,
        max_iter: int = 2000,
        random_state: int = 42,
    ):
        self.C = C
        self.text_features = text_features
        self.svm_C = svm_C
        self.embedding_weight = embedding_weight
        self.max_iter = max_iter
        self.random_state = random_state

    def fit(
        self, X, y, texts: Sequence[str] | None = None, *, warm_start: ThemeClassifier | None = None
    ) -> ThemeClassifier:
        """Fit on ``X`` (embeddings), ``y`` (themes) and, for the text-aware classifier, ``texts``.

        ``warm_start``: a fitted text-aware classifier of the same themes and mostly the same units (the
        serving one, before a few new units came in). The linear SVM is then solved on the units near its
        margins only (:func:`_working_set_svm`), which gives the same classifier as a fit on all units up to
        the solver's tolerance; without texts, or with other themes, it is ignored.
        """
        X, y = validate_data(self, X, y, dtype=np.float32)  # sets n_features_in_; y must be given, 1-d
        self.classes_ = np.unique(y)
        if len(self.classes_) < 2:
            raise ValueError(f"y holds {len(self.classes_)} class; the router needs at least two themes")
        self.text_vectorizers_ = None
        design: Any = X
        if self.text_features and texts is not None:
            if len(texts) != len(X):
                raise ValueError(f"{len(texts)} texts for {len(X)} embeddings")
            # fitted and transformed in one pass over the texts (their analysis is most of a fit's cost)
            words, chars = _vectorizers()
            design = self._stack(words.fit_transform(texts), chars.fit_transform(texts), X)
            self.text_vectorizers_ = (words, chars)
        guess = self._warm_decision(warm_start, design)
        if guess is not None:
            self.estimator_ = _working_set_svm(self._base(), design, y, self.classes_, guess)
        else:
            self.estimator_ = self._base().fit(design, y)
        return self

    def _warm_decision(self, warm_start: ThemeClassifier | None, design: Any) -> np.ndarray | None:
        """``warm_start``'s decision values for this fit's units, its weights moved onto this fit's n-gram
        columns (an n-gram new to this vocabulary starts at 0); None when it cannot start this fit."""
        if warm_start is None or self.text_vectorizers_ is None or len(self.classes_) < 3:
            return None  # two themes: one binary problem, nothing to split by theme
        old = warm_start.text_vectorizers_
        if old is None or not np.array_equal(warm_start.classes_, self.classes_):
            return None
        old_words, old_chars = old
        words, chars = self.text_vectorizers_
        coef = warm_start.estimator_.coef_
        n_old_text = len(old_words.vocabulary_) + len(old_chars.vocabulary_)
        if coef.shape[1] - n_old_text != design.shape[1] - len(words.vocabulary_) - len(chars.vocabulary_):
            return None  # another embedding size: another encoder
        columns = np.concatenate(
            [
                _old_columns(old_words.vocabulary_, words.vocabulary_, 0),
                _old_columns(old_chars.vocabulary_, chars.vocabulary_, len(old_words.vocabulary_)),
                n_old_text + np.arange(coef.shape[1] - n_old_text),
            ]
        )
        moved = np.where(columns >= 0, coef[:, np.maximum(columns, 0)], 0.0)
        return np.asarray(design @ moved.T) + warm_start.estimator_.intercept_

    def __getstate__(self) -> dict[str, Any]:
        """What pickle and skops store: each fitted vectorizer without its vocabulary dict, the vocabularies
        beside them as arrays (:func:`pack_vocabulary`). skops writes a dict as one JSON node per entry: at
        1,000 items that was 12 MB of schema and about a second to write and another to read, paid by every
        retrain and every start of the service or a CLI command."""
        state = dict(super().__getstate__())
        vectorizers = state.get("text_vectorizers_")
        if vectorizers is not None:
            state["text_vectorizers_"] = tuple(_without_vocabulary(v) for v in vectorizers)
            state["text_vocabularies_"] = tuple(pack_vocabulary(v.vocabulary_) for v in vectorizers)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Restore :meth:`__getstate__`'s state (or one written before vocabularies were packed: its
        vectorizers hold their dicts)."""
        state = dict(state)
        packed = state.pop("text_vocabularies_", None)
        super().__setstate__(state)
        if packed is not None and self.text_vectorizers_ is not None:
            for vectorizer, (terms, ends) in zip(self.text_vectorizers_, packed, strict=True):
                vectorizer.vocabulary_ = unpack_vocabulary(terms, ends)

    @property
    def needs_texts(self) -> bool:
        """Whether predictions need the units' texts beside their embeddings."""
        return getattr(self, "text_vectorizers_", None) is not None

    def decision_function(
        self, X, texts: Sequence[str] | None = None, *, check_input: bool = True
    ) -> np.ndarray:
        """The decision values, ``(n, n_themes)`` (two themes give two columns, of opposite sign).

        ``check_input=False`` skips scikit-learn's checks of ``X`` (as its trees' ``predict`` does): only for
        a float32 ``(n, n_features)`` array of finite values, such as an embedder's output.
        """
        check_is_fitted(self)
        if check_input:
            X = validate_data(self, X, dtype=np.float32, reset=False)
        return _decision_columns(_linear_decision(self.estimator_, self._design(X, texts)))

    def predict(self, X, texts: Sequence[str] | None = None) -> np.ndarray:
        """The most likely theme of each unit."""
        decision = self.decision_function(X, texts)
        return self.classes_[np.argmax(decision, axis=1)]

    def _base(self) -> LinearSVC | LogisticRegression:
        if self.text_vectorizers_ is not None:
            return LinearSVC(C=self.svm_C, random_state=self.random_state)
        return LogisticRegression(C=self.C, max_iter=self.max_iter, random_state=self.random_state)

    def _cross_val_decision(
        self, X: np.ndarray, y: np.ndarray, texts: Sequence[str] | None, folds: int, random_state: int
    ) -> np.ndarray:
        """Out-of-fold decision values of the fitted classifier's units (what calibration needs without a
        validation set): the fitted vocabulary, the linear model refitted on each fold's other units."""
        check_is_fitted(self)
        cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=random_state)
        design = self._design(X, texts)
        return _decision_columns(
            cross_val_predict(self._base(), design, y, cv=cv, method="decision_function")
        )

    def _design(self, X: np.ndarray, texts: Sequence[str] | None):
        """The linear model's input: the embeddings, or the embeddings beside the texts' TF-IDF."""
        if self.text_vectorizers_ is None:
            return X
        if texts is None:
            raise ValueError("this router reads the units' texts: pass texts with the embeddings")
        if len(texts) != len(X):
            raise ValueError(f"{len(texts)} texts for {len(X)} embeddings")
        words, chars = self.text_vectorizers_
        return self._stack(tfidf_transform(words, texts), tfidf_transform(chars, texts), X)

    def _stack(self, words: sparse.spmatrix, chars: sparse.spmatrix, X: np.ndarray) -> sparse.csr_matrix:
        return side_by_side([words, chars, X * np.float32(self.embedding_weight)])


class TemperatureScaling(BaseEstimator):
    """Probabilities from decision values: ``softmax(decision / T)``, with T fitted by log loss.

    Fit it on decision values of units the classifier did not train on (a validation set, or out-of-fold
    values): on its own training units a linear SVM is more sure than it should be. Our own one-parameter
    fit: on the bundled sample scikit-learn's ``CalibratedClassifierCV(method="temperature")`` once chose a
    temperature that flattened 95%-accurate predictions to a mean confidence of 0.53.

    Args:
        temperature: use this temperature instead of fitting one (1: the decision values' own softmax; a
            router refitted on more of the same data keeps the temperature measured before).

    Attributes:
        temperature_: what the decision values are divided by before the softmax.
    """

    def __init__(self, temperature: float | None = None):
        self.temperature = temperature

    def fit(self, X=None, y=None) -> TemperatureScaling:
        """Fit on decision values ``X`` ``(n, n_classes)`` and the true columns ``y`` (not read when
        ``temperature`` is given)."""
        if self.temperature is not None:
            self.temperature_ = float(self.temperature)
            return self
        if X is None or y is None:
            raise ValueError("pass the decision values and their true columns, or give a temperature")
        X, y = _decision_columns(X), np.asarray(y)
        if len(X) != len(y) or len(y) == 0:
            raise ValueError(f"{len(y)} true columns for {len(X)} rows of decision values")
        self.temperature_ = _fit_temperature(X, y)
        return self

    def predict_proba(self, X) -> np.ndarray:
        """Calibrated probabilities for decision values ``X``, rows summing to 1."""
        check_is_fitted(self)
        return _softmax(np.asarray(X) / self.temperature_)


@dataclass(frozen=True, eq=False)
class NoveltyModel:
    """What a rehearsal learned: a logistic regression over the in-scope signals, and where its values fall.

    Attributes:
        model: the scaler and logistic regression (in-scope units 1, units of hidden themes 0).
        reference: its sorted decision values for the rehearsal's unseen units of known themes; the score is a
            percentile among them, because the regression's probability saturates near 1 on well-separated
            themes, where a 5% quantile threshold would then sit on noise.
        summary: groups, units, hidden units, and the share of hidden-theme units sent to triage at the
            threshold that keeps 95% of the unseen known-theme units.
    """

    model: Pipeline = field(repr=False)
    reference: np.ndarray = field(repr=False)
    summary: dict[str, Any]

    def score(self, signals: np.ndarray) -> np.ndarray:
        """The in-scope score of units with these signals, in [0, 1]."""
        return _percentile(_pipeline_decision(self.model, signals), self.reference)


class InScopeScorer(BaseEstimator):
    """How much each unit looks like what the classifier was trained on, in [0, 1]; low means triage.

    With a novelty model (learned by rehearsal, see :meth:`_rehearse`): the percentile of its decision value
    among the rehearsal's unseen units of known themes (new in-scope units score about uniformly in [0, 1],
    text of unseen topics near 0). Without one (``rehearsal_groups=0``, too few themes or units): the mean of
    two percentiles among the training units, of the top-class probability and of the mean similarity to the
    ``n_neighbors`` nearest training units. Either way, choose the triage threshold on held-out units
    (:func:`train_router` does).

    Args:
        n_neighbors: nearest training units whose mean similarity feeds the percentile score (0: the
            probability's percentile alone).
        max_reference: most training units kept for the similarities (a seeded sample).
        rehearsal_groups: most groups of themes hidden in turn to learn the score (fewer with fewer than
            twice as many themes; 0, fewer than 4 themes or too few units: the percentile score instead).
        min_rehearsal_units: fewest training units to rehearse on: below it the rehearsal's classifiers,
            fitted on a fraction of the units, are too unlike the real one for what they teach to carry over.
        max_rehearsal_units: most training units the rehearsal reads (a seeded sample), which bounds its cost.
        novelty: a novelty model to score with instead of rehearsing (a classifier refitted on more of the
            same data keeps the score its threshold was chosen with, without a second rehearsal).
        random_state: seed.

    Attributes:
        reference_: the kept training units (unit length), ``(n, n_features)``.
        reference_labels_: the column of each kept unit's theme among the classifier's ``classes_``.
        novelty_: the novelty model scored with, or None (the percentile score).
        reference_confidence_: sorted top-class probabilities of the kept units (None with a novelty model).
        reference_similarity_: sorted neighbour similarities of the kept units, each left out of its own
            neighbours (None with a novelty model).
    """

    def __init__(
        self,
        n_neighbors: int = 5,
        max_reference: int = 10_000,
        rehearsal_groups: int = 8,
        min_rehearsal_units: int = 500,
        max_rehearsal_units: int = 8000,
        novelty: NoveltyModel | None = None,
        random_state: int = 42,
    ):
        self.n_neighbors = n_neighbors
        self.max_reference = max_reference
        self.rehearsal_groups = rehearsal_groups
        self.min_rehearsal_units = min_rehearsal_units
        self.max_rehearsal_units = max_rehearsal_units
        self.novelty = novelty
        self.random_state = random_state

    def fit(
        self,
        X,
        y,
        texts: Sequence[str] | None = None,
        *,
        classifier: ThemeClassifier,
        calibration: TemperatureScaling,
    ) -> InScopeScorer:
        """Fit on the units ``classifier`` (fitted) was trained on, and ``calibration`` (fitted) for it.

        The rehearsal fits unfitted copies of ``classifier`` (its parameters, its own vocabulary) on parts of
        the units; the percentile score reads ``calibration``'s probabilities of the kept units.
        """
        check_is_fitted(classifier)
        X = check_array(X, dtype=np.float32)
        y = np.asarray(y)
        texts = texts if classifier.needs_texts else None
        keep = np.arange(len(X))
        if len(X) > self.max_reference:
            keep = np.sort(
                np.random.RandomState(self.random_state).choice(len(X), self.max_reference, replace=False)
            )
        reference = _unit_rows(X[keep])
        self.reference_ = reference if self.n_neighbors > 0 and len(reference) > 1 else reference[:0]
        self.reference_labels_ = np.searchsorted(classifier.classes_, y[keep])[: len(self.reference_)]
        self.novelty_ = self.novelty
        if self.novelty_ is None and self._can_rehearse(len(X), len(classifier.classes_)):
            self.novelty_ = self._rehearse(X, np.searchsorted(classifier.classes_, y), texts, classifier)
        self.reference_confidence_, self.reference_similarity_ = None, None
        if self.novelty_ is None:  # the percentile score, among the kept units
            decision = classifier.decision_function(reference, _take(texts, keep))
            self.reference_confidence_ = np.sort(calibration.predict_proba(decision).max(axis=1))
            self.reference_similarity_ = (
                np.sort(self._neighbor_similarity(reference, leave_self_out=True))
                if len(self.reference_)
                else np.zeros(0, dtype=np.float32)
            )
        return self

    def score(
        self, X, decision: np.ndarray, probabilities: np.ndarray, *, check_input: bool = True
    ) -> np.ndarray:
        """The in-scope score of units ``X`` given the classifier's ``decision`` values and the calibrated
        ``probabilities`` for them (the composite computes both once for routing and for this).
        ``check_input=False``: ``X`` is a float32 2-d array (:meth:`ThemeClassifier.decision_function`).
        """
        check_is_fitted(self)
        if check_input:
            X = check_array(X, dtype=np.float32)
        if self.novelty_ is not None:
            columns = np.arange(decision.shape[1])
            signals = novelty_signals(X, decision, self.reference_, self.reference_labels_, columns)
            return self.novelty_.score(signals).astype(np.float32)
        assert self.reference_confidence_ is not None and self.reference_similarity_ is not None  # fitted
        score = _percentile(probabilities.max(axis=1), self.reference_confidence_)
        if len(self.reference_similarity_):
            score = (score + _percentile(self._neighbor_similarity(X), self.reference_similarity_)) / 2
        return score.astype(np.float32)

    def _groups(self, n_themes: int) -> int:
        """Groups to hide in turn: ``rehearsal_groups``, fewer when there are few themes, so that every group
        hides at least two themes and never more than half of them (11 themes: 5 groups). A small taxonomy
        still learns the score instead of falling back to the percentile score, which sent fewer unseen-topic
        texts to triage on the URR reviews (benchmarks/README.md, "In-scope score")."""
        return min(self.rehearsal_groups, n_themes // 2)

    def _can_rehearse(self, n_units: int, n_themes: int) -> bool:
        return (
            self._groups(n_themes) >= 2 and n_units >= self.min_rehearsal_units and len(self.reference_) > 1
        )

    def _rehearse(
        self, X: np.ndarray, columns: np.ndarray, texts: Sequence[str] | None, classifier: ThemeClassifier
    ) -> NoveltyModel | None:
        """Learn the in-scope score from themes hidden on purpose.

        Each group of themes in turn is left out of a copy of ``classifier`` fitted on half of the other
        themes' units; the other half are in-scope units it has not seen, the hidden group's units are text
        of topics it has never seen. The signals of both, as :func:`novelty_signals` computes them for new
        units, train a balanced logistic regression. None when no group could be rehearsed.
        """
        rng = np.random.RandomState(self.random_state)
        index = np.arange(len(X))
        if len(index) > self.max_rehearsal_units:
            index = np.sort(rng.choice(len(index), self.max_rehearsal_units, replace=False))
        columns = columns[index]
        groups = np.array_split(
            rng.permutation(len(classifier.classes_)), self._groups(len(classifier.classes_))
        )
        signals, known = [], []
        for hidden in groups:
            unseen = np.isin(columns, hidden)
            fit = ~unseen & (rng.rand(len(index)) < 0.5)
            seen_new = ~unseen & ~fit
            if len(np.unique(columns[fit])) < 2 or not seen_new.any() or not unseen.any():
                continue
            try:
                # a copy with its own vocabulary, like the real one never having seen the hidden topics' words
                rehearsed = clone(classifier).fit(X[index[fit]], columns[fit], _take(texts, index[fit]))
            except ValueError:  # too little text left for a vocabulary: rehearse with the other groups
                continue
            reference = _unit_rows(X[index[fit]])
            for mask, label in ((seen_new, 1), (unseen, 0)):
                part = index[mask]
                decision = rehearsed.decision_function(X[part], _take(texts, part))
                signals.append(
                    novelty_signals(X[part], decision, reference, columns[fit], rehearsed.classes_)
                )
                known.append(np.full(len(part), label))
        if len({int(k[0]) for k in known}) < 2:
            return None
        return _fit_novelty(np.vstack(signals), np.concatenate(known), len(groups), len(index))

    def _neighbor_similarity(
        self, X: np.ndarray, leave_self_out: bool = False, chunk: int = 2048
    ) -> np.ndarray:
        """Mean cosine similarity of each unit to its nearest kept training units."""
        skip = int(leave_self_out)
        k = min(self.n_neighbors, len(self.reference_) - skip)
        result = np.empty(len(X), dtype=np.float32)
        for start in range(0, len(X), chunk):
            sims = _unit_rows(X[start : start + chunk]) @ self.reference_.T
            top = -np.partition(-sims, k - 1 + skip, axis=1)[:, : k + skip]
            if leave_self_out:  # a unit's most similar kept unit is itself
                top = -np.sort(-top, axis=1)[:, 1:]
            result[start : start + chunk] = top.mean(axis=1)
        return result


class ThemeRouter(ClassifierMixin, BaseEstimator):
    """A theme classifier, its calibration and an in-scope scorer, fitted together and scored in one pass.

    Args:
        classifier: the :class:`ThemeClassifier` to fit (None: its defaults).
        calibration: the :class:`TemperatureScaling` to fit (None: fitted temperature).
        in_scope: the :class:`InScopeScorer` to fit (None: its defaults).
        calibration_folds: without a validation set, the temperature is fitted on out-of-fold decision values
            of this many folds (fewer when the rarest theme has fewer units; under 2, a temperature of 1).
        random_state: seed of the folds and of the default parts.

    Attributes:
        classes_: theme ids, in the column order of ``predict_proba``.
        classifier_, calibration_, in_scope_: the fitted parts.
    """

    def __init__(
        self,
        classifier: ThemeClassifier | None = None,
        calibration: TemperatureScaling | None = None,
        in_scope: InScopeScorer | None = None,
        calibration_folds: int = 3,
        random_state: int = 42,
    ):
        self.classifier = classifier
        self.calibration = calibration
        self.in_scope = in_scope
        self.calibration_folds = calibration_folds
        self.random_state = random_state

    def fit(
        self,
        X,
        y,
        texts: Sequence[str] | None = None,
        *,
        X_val=None,
        y_val=None,
        texts_val: Sequence[str] | None = None,
        warm_start: ThemeClassifier | None = None,
    ) -> ThemeRouter:
        """Fit on ``X`` (embeddings), ``y`` (themes) and, for the text-aware router, ``texts``.

        With a validation set (``X_val``, ``y_val`` and its texts, units the router does not train on) the
        temperature is fitted on the classifier's decision values for it instead of on out-of-fold ones: one
        classifier fit instead of ``calibration_folds + 1``, and the decision values come from the classifier
        that is served. Validation units of themes not in ``y`` are ignored. ``warm_start``: a fitted
        classifier the classifier's fit starts from (:meth:`ThemeClassifier.fit`).
        """
        X, y = validate_data(self, X, y, dtype=np.float32)  # sets n_features_in_; y must be given, 1-d
        classifier = (
            self.classifier
            if self.classifier is not None
            else ThemeClassifier(random_state=self.random_state)
        )
        self.classifier_ = clone(classifier).fit(X, y, texts, warm_start=warm_start)
        self.classes_ = self.classifier_.classes_
        calibration = clone(self.calibration) if self.calibration is not None else TemperatureScaling()
        if calibration.temperature is None and X_val is not None:
            calibration.fit(*self._validation_decision(X_val, y_val, texts_val))
        elif calibration.temperature is None:
            folds = min(self.calibration_folds, int(np.unique(y, return_counts=True)[1].min()))
            if folds < 2:  # too few units of the rarest theme to calibrate on: the margins' own softmax
                calibration.set_params(temperature=1.0).fit()
            else:
                decision = self.classifier_._cross_val_decision(X, y, texts, folds, self.random_state)
                calibration.fit(decision, np.searchsorted(self.classes_, y))
        else:
            calibration.fit()
        self.calibration_ = calibration
        in_scope = (
            self.in_scope if self.in_scope is not None else InScopeScorer(random_state=self.random_state)
        )
        self.in_scope_ = clone(in_scope).fit(
            X, y, texts, classifier=self.classifier_, calibration=self.calibration_
        )
        return self

    def _validation_decision(
        self, X_val, y_val, texts_val: Sequence[str] | None
    ) -> tuple[np.ndarray, np.ndarray]:
        X_val = check_array(X_val, dtype=np.float32)
        y_val = np.asarray(y_val)
        if len(y_val) != len(X_val):
            raise ValueError(f"{len(y_val)} validation labels for {len(X_val)} validation embeddings")
        known = np.isin(y_val, self.classes_)
        if not known.any():
            raise ValueError("no validation unit has a theme the router was trained on")
        if self.classifier_.needs_texts and (texts_val is None or len(texts_val) != len(X_val)):
            raise ValueError("this router reads the units' texts: pass texts_val with X_val, one per unit")
        texts_known = (
            [text for text, keep in zip(texts_val or [], known) if keep]
            if self.classifier_.needs_texts
            else None
        )
        decision = self.classifier_.decision_function(X_val[known], texts_known)
        return decision, np.searchsorted(self.classes_, y_val[known])

    @property
    def needs_texts(self) -> bool:
        """Whether predictions need the units' texts beside their embeddings."""
        return self.classifier_.needs_texts

    def decision_function(
        self, X, texts: Sequence[str] | None = None, *, check_input: bool = True
    ) -> np.ndarray:
        """The classifier's decision values, one column per theme (before the temperature)."""
        check_is_fitted(self)
        return self.classifier_.decision_function(X, texts, check_input=check_input)

    def predict_proba(self, X, texts: Sequence[str] | None = None, *, check_input: bool = True) -> np.ndarray:
        """Calibrated probabilities, one column per theme of ``classes_`` (``check_input``: as in
        :meth:`predict_proba_and_in_scope`)."""
        decision = self.decision_function(X, texts, check_input=check_input)
        return self.calibration_.predict_proba(decision)

    def predict(self, X, texts: Sequence[str] | None = None) -> np.ndarray:
        """The most likely theme of each unit."""
        decision = self.decision_function(X, texts)
        return self.classes_[np.argmax(decision, axis=1)]

    def in_scope_score(self, X, texts: Sequence[str] | None = None) -> np.ndarray:
        """How much each unit looks like what the router was trained on, in [0, 1]; low means triage."""
        return self.predict_proba_and_in_scope(X, texts)[1]

    def predict_proba_and_in_scope(
        self, X, texts: Sequence[str] | None = None, *, check_input: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        """``predict_proba`` and ``in_scope_score`` together, reading the texts once (what scoring needs).

        ``check_input=False`` skips scikit-learn's checks of ``X``, for a float32 ``(n, n_features)`` array of
        finite values (an embedder's output): on one short unit they cost more than the routing itself
        (benchmarks/README.md, issue 20).
        """
        check_is_fitted(self)
        if check_input:
            X = check_array(X, dtype=np.float32)
        decision = self.classifier_.decision_function(X, texts, check_input=False)
        probabilities = self.calibration_.predict_proba(decision)
        return probabilities, self.in_scope_.score(X, decision, probabilities, check_input=False)


def router_from_config(config: TrainingConfig) -> ThemeRouter:
    """The router the training configuration asks for (unfitted)."""
    return ThemeRouter(
        classifier=ThemeClassifier(
            C=config.router_C, text_features=config.router_text_features, random_state=config.random_state
        ),
        # calibration null: the decision values' own softmax
        calibration=TemperatureScaling(temperature=None if config.calibration == "temperature" else 1.0),
        in_scope=InScopeScorer(
            rehearsal_groups=config.router_rehearsal_groups, random_state=config.random_state
        ),
        random_state=config.random_state,
    )


@dataclass(frozen=True)
class TrainedRouter:
    """The training job's router step: the router to serve, the bars it routes with, what was measured.

    Attributes:
        router: the fitted router (what ``router.skops`` holds).
        thresholds: the confidence bar from the configuration and the in-scope bar chosen on the hold-out.
        metrics: the hold-out figures and the rehearsal's summary (``summary.json["router"]``).
    """

    router: ThemeRouter
    thresholds: RouteThresholds
    metrics: dict[str, Any]


def train_router(
    X: np.ndarray, y: np.ndarray, texts: Sequence[str] | None, config: TrainingConfig
) -> TrainedRouter:
    """Measure the router on a stratified 20% hold-out of the themes, choose the in-scope bar, refit on all.

    The units are first trimmed to ``config.router_max_units`` (:func:`balanced_subsample`). With fewer than 5
    units in some theme or 50 in all there is no hold-out: the router is fitted on all units and routes
    without an in-scope bar.
    """
    texts = list(texts) if texts is not None else [""] * len(X)
    available = len(y)
    keep = balanced_subsample(y, config.router_max_units, config.random_state)
    if len(keep) < available:
        X, y, texts = X[keep], y[keep], [texts[i] for i in keep]
    metrics: dict[str, Any] = {"trained_on_units": int(len(y)), "units_available": int(available)}
    _, counts = np.unique(y, return_counts=True)
    if counts.min() < 5 or len(y) < 50:
        # no in-scope threshold is set without a hold-out, so a rehearsal would be wasted
        router = router_from_config(config).set_params(in_scope__rehearsal_groups=0).fit(X, y, texts)
        return TrainedRouter(router, RouteThresholds(confidence=config.confidence_threshold), metrics)
    X_fit, X_hold, y_fit, y_hold, texts_fit, texts_hold = train_test_split(
        X, y, texts, test_size=0.2, stratify=y, random_state=config.random_state
    )
    held_out, probabilities = _fit_held_out(config, X_fit, y_fit, texts_fit, X_hold, y_hold, texts_hold)
    predicted = held_out.classes_[probabilities.argmax(axis=1)]
    # Text unlike anything seen in training goes to triage even when the router is confident: the threshold
    # is the in-scope score below which only `in_scope_quantile` of the held-out units new to it fall.
    in_scope = held_out.in_scope_score(X_hold, texts_hold)
    novel = _not_near_copies(X_hold, X_fit)
    threshold = None
    if config.in_scope_quantile > 0 and novel.sum() >= 20:
        threshold = float(np.quantile(in_scope[novel], config.in_scope_quantile))
    triage = probabilities.max(axis=1) < config.confidence_threshold
    if threshold is not None:
        triage |= in_scope < threshold
    metrics.update(
        {
            "holdout_accuracy": round(float(accuracy_score(y_hold, predicted)), 4),
            "holdout_macro_f1": round(float(f1_score(y_hold, predicted, average="macro")), 4),
            "holdout_ece": round(expected_ece(probabilities, predicted == y_hold), 4),
            "holdout_triage_fraction": round(float(triage.mean()), 4),
            "in_scope_threshold": round(threshold, 4) if threshold is not None else None,
            "in_scope_calibration_units": int(novel.sum()),
        }
    )
    # The refit on all units keeps what was measured on the hold-out instead of paying for it again: the
    # temperature and the in-scope score the threshold was chosen with (its rehearsal: 8 classifier fits).
    novelty = held_out.in_scope_.novelty_
    final = router_from_config(config).set_params(
        calibration=TemperatureScaling(temperature=held_out.calibration_.temperature_),
        in_scope__rehearsal_groups=0,
        in_scope__novelty=novelty,
    )
    metrics["rehearsal"] = novelty.summary if novelty is not None else None
    thresholds = RouteThresholds(config.confidence_threshold, metrics["in_scope_threshold"])
    return TrainedRouter(final.fit(X, y, texts), thresholds, metrics)


def refit_router(
    X: np.ndarray,
    y: np.ndarray,
    texts: Sequence[str] | None,
    config: TrainingConfig,
    previous: TrainedRouter,
    new_units: np.ndarray,
) -> TrainedRouter:
    """Refit the serving router's classifier on all units, keeping what was measured for it: the incremental
    retrain's router when the themes are unchanged.

    The temperature, the in-scope score and the in-scope bar are the serving router's (the hold-out fit and
    the rehearsal are skipped), as :func:`train_router`'s own refit keeps its hold-out's. The hold-out figures
    are measured on the units new since the serving router (``new_units``, a mask over ``X``), which it never
    saw; with fewer than 50 of them, the serving router's figures are carried over.
    """
    texts = list(texts) if texts is not None else [""] * len(X)
    available = len(y)
    metrics: dict[str, Any] = {
        **_new_unit_metrics(X, y, texts, config, previous, new_units),
        "units_available": int(available),
    }
    keep = balanced_subsample(y, config.router_max_units, config.random_state)
    if len(keep) < available:
        X, y, texts = X[keep], y[keep], [texts[i] for i in keep]
    metrics["trained_on_units"] = int(len(y))
    served = previous.router
    metrics["reused"] = ["router_calibration"]
    metrics["reused"] += ["in_scope_score"] if served.in_scope_.novelty_ is not None else []
    metrics["reused"] += ["in_scope_threshold"] if previous.thresholds.in_scope is not None else []
    router = router_from_config(config).set_params(
        calibration=TemperatureScaling(temperature=served.calibration_.temperature_),
        in_scope__rehearsal_groups=0,
        in_scope__novelty=served.in_scope_.novelty_,
    )
    # the serving classifier starts the fit: its SVM is solved on the units near its margins only, the
    # same classifier as a fit on all units (ThemeClassifier.fit)
    router.fit(X, y, texts, warm_start=served.classifier_)
    return TrainedRouter(router, previous.thresholds, metrics)


def _new_unit_metrics(
    X: np.ndarray,
    y: np.ndarray,
    texts: list[str],
    config: TrainingConfig,
    previous: TrainedRouter,
    new_units: np.ndarray,
) -> dict[str, Any]:
    """The hold-out figures of the serving router on the units it never saw (or its own, too few new)."""
    carried = ("holdout_accuracy", "holdout_macro_f1", "holdout_ece", "holdout_triage_fraction")
    metrics: dict[str, Any] = {
        "in_scope_threshold": previous.thresholds.in_scope,
        "rehearsal": previous.metrics.get("rehearsal"),
    }
    rows = np.flatnonzero(new_units)
    if len(rows) < 50:
        return {**metrics, **{k: previous.metrics.get(k) for k in carried}, "holdout_units": 0}
    texts_new = [texts[i] for i in rows]
    probabilities, in_scope = previous.router.predict_proba_and_in_scope(X[rows], texts_new)
    predicted = previous.router.classes_[probabilities.argmax(axis=1)]
    triage = probabilities.max(axis=1) < config.confidence_threshold
    if previous.thresholds.in_scope is not None:
        triage |= in_scope < previous.thresholds.in_scope
    return {
        **metrics,
        "holdout_accuracy": round(float(accuracy_score(y[rows], predicted)), 4),
        "holdout_macro_f1": round(float(f1_score(y[rows], predicted, average="macro")), 4),
        "holdout_ece": round(expected_ece(probabilities, predicted == y[rows]), 4),
        "holdout_triage_fraction": round(float(triage.mean()), 4),
        "holdout_units": int(len(rows)),
    }


def _fit_held_out(
    config: TrainingConfig,
    X_fit: np.ndarray,
    y_fit: np.ndarray,
    texts_fit: list[str],
    X_hold: np.ndarray,
    y_hold: np.ndarray,
    texts_hold: list[str],
) -> tuple[ThemeRouter, np.ndarray]:
    """The hold-out router, and its probabilities for the hold-out as a served router would give them."""
    router = router_from_config(config)
    if config.calibration != "temperature":
        router.fit(X_fit, y_fit, texts_fit)
        return router, router.predict_proba(X_hold, texts_hold)
    # The temperature is fitted on the hold-out's decision values (one classifier fit, not four); what is
    # reported about the hold-out is measured with the temperature fitted on its other half.
    router.fit(X_fit, y_fit, texts_fit, X_val=X_hold, y_val=y_hold, texts_val=texts_hold)
    probabilities = cross_fitted_probabilities(
        router.decision_function(X_hold, texts_hold),
        np.searchsorted(router.classes_, y_hold),
        config.random_state,
    )
    return router, probabilities


def _not_near_copies(X_hold: np.ndarray, X_fit: np.ndarray) -> np.ndarray:
    """Which held-out units are no near-copy of a training unit (similarity under NEAR_COPY_SIMILARITY)."""
    novel = np.ones(len(X_hold), dtype=bool)
    rows = max(1, (1 << 24) // max(len(X_fit), 1))  # a 64 MB similarity block at a time, whatever the size
    for start in range(0, len(X_hold), rows):
        block = X_hold[start : start + rows] @ X_fit.T
        novel[start : start + rows] = block.max(axis=1) < NEAR_COPY_SIMILARITY
    return novel


def novelty_signals(
    X: np.ndarray,
    decision: np.ndarray,
    reference: np.ndarray,
    reference_columns: np.ndarray,
    columns: np.ndarray,
    chunk: int = 512,
) -> np.ndarray:
    """What the in-scope score reads, one row of eight per unit.

    ``decision`` holds a classifier's decision values (columns ``columns`` of the themes); the similarities
    are to ``reference`` (unit length), whose rows have themes ``reference_columns``. Each chunk of units
    holds a few copies of its similarity block (512 x 10,000 reference units: about 20 MB each), so the
    training job's hold-out scoring stays small beside the driver's other memory.
    """
    ordered = -np.sort(-decision, axis=1)
    third = ordered[:, 2] if ordered.shape[1] > 2 else ordered[:, 1]
    predicted = columns[decision.argmax(axis=1)]
    out = np.empty((len(X), 8), dtype=np.float64)
    out[:, 0] = ordered[:, 0]
    out[:, 1] = ordered[:, 0] - ordered[:, 1]
    out[:, 2] = ordered[:, 0] - third
    k5, k20 = min(5, len(reference)), min(20, len(reference))
    for start in range(0, len(X), chunk):
        sims = _unit_rows(X[start : start + chunk]) @ reference.T
        top = -np.partition(-sims, k20 - 1, axis=1)[:, :k20]
        top = -np.sort(-top, axis=1)
        same = reference_columns[None, :] == predicted[start : start + chunk, None]
        nearest_same = np.where(same, sims, np.float32(-1.0)).max(axis=1)
        rows = slice(start, start + len(sims))
        out[rows, 3] = top[:, 0]
        out[rows, 4] = top[:, :k5].mean(axis=1)
        out[rows, 5] = top.mean(axis=1)
        out[rows, 6] = nearest_same
        out[rows, 7] = nearest_same - np.where(same, np.float32(-1.0), sims).max(axis=1)
    return out


def _fit_novelty(signals: np.ndarray, known: np.ndarray, groups: int, units: int) -> NoveltyModel:
    """The balanced logistic regression telling in-scope units (1) from hidden-theme units (0)."""
    model = make_pipeline(StandardScaler(), LogisticRegression(class_weight="balanced", max_iter=1000))
    model.fit(signals, known)
    score = model.decision_function(signals)
    threshold = np.quantile(score[known == 1], 0.05)
    summary = {
        "groups": groups,
        "units": int(units),
        "hidden_units": int((known == 0).sum()),
        "hidden_to_triage_at_95": round(float((score[known == 0] < threshold).mean()), 4),
    }
    return NoveltyModel(model, np.sort(score[known == 1]), summary)


# A unit whose margin under the warm start's weights is below 1 + this slack joins its problem's working set:
# the warm start is the serving classifier, fitted on other units' vocabulary and IDF, so its margins are
# close to the new solution's but not equal; units it misjudges are caught by the margin check below. On the
# router inputs of a 2,000-item retrain with 5% new units (86 themes), 8% of the units end under the margin;
# a slack of 0.1 puts 17% in the working sets and needs no second solve (0.2: 29%, 30% more CPU; 0.05: 12%,
# but missed units cost second solves, as much CPU as 0.1).
WORKING_SET_SLACK = 0.1
# A unit outside the working set is a margin violator when the solution puts it under 1 - this: liblinear
# stops at a tolerance of its own, so margins a hair under 1 are the solver's rounding, not a missed unit.
MARGIN_VIOLATION_TOLERANCE = 1e-3
WORKING_SET_ROUNDS = 5  # past this, the problem is solved on all units (the warm start was far off)


def _working_set_svm(
    base: LinearSVC, design: Any, y: np.ndarray, classes: np.ndarray, guess: np.ndarray
) -> LinearSVC:
    """``base`` (a linear SVM, one-vs-rest) fitted on ``design`` and ``y``, each theme's problem solved on
    the units near its margin only.

    A squared-hinge SVM's solution depends only on the units with margin under 1 (the others add neither
    loss nor gradient), so a problem solved on a set holding all of them has the solution of the problem
    on all units (the incremental SVM of Syed, Liu and Sung, 1999). The set starts as the units within
    ``1 + WORKING_SET_SLACK`` of the margin under ``guess`` (decision values of a classifier fitted on most
    of the same units); each solution is checked on every unit, and units it puts under the margin join
    the set for another solve, until none does. liblinear's own one-vs-rest solves the same problems one by
    one on all units (same ``C``, same bias handling), so the result is the classifier ``base.fit`` gives,
    up to the solver's tolerance.
    """
    design = sparse.csr_matrix(design, dtype=np.float64)
    signs = np.where(y[:, None] == classes[None, :], 1.0, -1.0)
    coef = np.empty((len(classes), design.shape[1]))
    intercept = np.empty(len(classes))
    iterations = np.empty(len(classes), dtype=np.int64)
    for k in range(len(classes)):
        solved = _solve_on_working_set(
            base, design, signs[:, k], signs[:, k] * guess[:, k] < 1 + WORKING_SET_SLACK
        )
        coef[k], intercept[k], iterations[k] = solved.coef_[0], solved.intercept_[0], solved.n_iter_
    return _fitted_linear_svc(base, coef, intercept, classes, int(iterations.max()))


def _solve_on_working_set(
    base: LinearSVC, design: sparse.csr_matrix, signs: np.ndarray, working: np.ndarray
) -> LinearSVC:
    """One theme's problem (``signs``: +1 its units, -1 the others) solved on ``working`` grown by the units
    each solution puts under the margin; on all units when that does not settle in WORKING_SET_ROUNDS."""
    labels = (signs > 0).astype(np.int64)
    working = working.copy()
    for _ in range(WORKING_SET_ROUNDS):
        if labels[working].min() == labels[working].max():
            break  # one side only: no problem to solve on it
        solved = clone(base).fit(design[working], labels[working])
        margins = signs * (design @ solved.coef_[0] + solved.intercept_[0])
        missed = ~working & (margins < 1 - MARGIN_VIOLATION_TOLERANCE)
        if not missed.any():
            return solved
        working |= missed
    return clone(base).fit(design, labels)


def _fitted_linear_svc(
    base: LinearSVC, coef: np.ndarray, intercept: np.ndarray, classes: np.ndarray, n_iter: int
) -> LinearSVC:
    """A copy of ``base`` holding these one-vs-rest weights, as its own ``fit`` leaves them."""
    fitted = clone(base)
    fitted.coef_, fitted.intercept_ = coef, intercept
    fitted.classes_, fitted.n_features_in_, fitted.n_iter_ = classes, coef.shape[1], n_iter
    return fitted


def _old_columns(old: dict[str, int], new: dict[str, int], offset: int) -> np.ndarray:
    """For each column of the ``new`` vocabulary, its term's column in ``old`` plus ``offset`` (-1: new)."""
    columns = np.full(len(new), -1, dtype=np.int64)
    for term, column in new.items():
        previous = old.get(term)
        if previous is not None:
            columns[column] = previous + offset
    return columns


def pack_vocabulary(vocabulary: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """A fitted vectorizer's vocabulary (term -> column 0..n-1) as two arrays: the terms in column order
    joined into one UTF-8 byte string, and each term's end offset in characters of the decoded string."""
    terms = [""] * len(vocabulary)
    for term, column in vocabulary.items():
        terms[column] = term
    joined = "".join(terms).encode("utf-8")
    ends = np.cumsum([len(term) for term in terms], dtype=np.int64)
    return np.frombuffer(joined, dtype=np.uint8).copy(), ends


def unpack_vocabulary(terms: np.ndarray, ends: np.ndarray) -> dict[str, int]:
    """The vocabulary dict :func:`pack_vocabulary` packed."""
    joined = np.asarray(terms, dtype=np.uint8).tobytes().decode("utf-8")
    bounds = [0, *np.asarray(ends, dtype=np.int64).tolist()]
    if bounds[-1] != len(joined):
        raise ValueError(f"a packed vocabulary's offsets end at {bounds[-1]} of {len(joined)} characters")
    return {joined[start:end]: column for column, (start, end) in enumerate(zip(bounds, bounds[1:]))}


def _without_vocabulary(vectorizer: TfidfVectorizer) -> TfidfVectorizer:
    """A shallow copy of a fitted vectorizer without its vocabulary dict (its IDF shared)."""
    bare = copy.copy(vectorizer)
    del bare.vocabulary_
    return bare


def _take(texts: Sequence[str] | None, rows: np.ndarray) -> list[str] | None:
    return [texts[i] for i in rows] if texts is not None else None


def _vectorizers() -> tuple[TfidfVectorizer, TfidfVectorizer]:
    """Word 1-2-gram and character 2-5-gram TF-IDF (unfitted), the text half of the router's input."""
    return (
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, dtype=np.float32),
        TfidfVectorizer(
            analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2, dtype=np.float32
        ),
    )


def tfidf_transform(vectorizer: TfidfVectorizer, texts: Sequence[str]) -> sparse.csr_matrix:
    """``vectorizer.transform(texts)``, the same values bit for bit, from its fitted vocabulary and IDF alone.

    scikit-learn's ``transform`` checks its fitted state and validates the count matrix at each of its steps
    (count, weight, normalise): about 0.4 ms per call, more than the arithmetic on one short unit. Here the
    steps are its own, in its order (counts as ``CountVectorizer`` makes them, then ``TfidfTransformer``'s
    log, IDF and L2 norm) without the checks. A vectorizer with options not done here (binary counts, no IDF,
    another norm, file input) is left to its own ``transform``.
    """
    if isinstance(texts, str):
        raise ValueError("Iterable over raw text documents expected, string object received.")
    if not _plain_tfidf(vectorizer):
        return vectorizer.transform(texts)
    analyze = vectorizer.build_analyzer()
    vocabulary = vectorizer.vocabulary_
    columns: list[int] = []
    counts: list[int] = []
    row_starts = [0]
    for text in texts:
        row: dict[int, int] = {}
        for term in analyze(text):
            column = vocabulary.get(term)
            if column is not None:
                row[column] = row.get(column, 0) + 1
        ordered = sorted(row)  # CountVectorizer sorts each row's columns
        columns.extend(ordered)
        counts.extend(row[column] for column in ordered)
        row_starts.append(len(columns))
    indices = np.asarray(columns, dtype=np.int32)
    values = np.asarray(counts, dtype=vectorizer.dtype)
    if vectorizer.sublinear_tf:
        np.log(values, out=values)
        values += 1.0
    values *= vectorizer.idf_[indices]
    matrix = sparse.csr_matrix(
        (values, indices, np.asarray(row_starts, dtype=np.int32)),
        shape=(len(row_starts) - 1, len(vocabulary)),
    )
    inplace_csr_row_normalize_l2(matrix)  # what sklearn.preprocessing.normalize runs on a CSR matrix
    return matrix


def side_by_side(blocks: Sequence[sparse.spmatrix | np.ndarray]) -> sparse.csr_matrix:
    """``sparse.hstack(blocks, format="csr")`` for CSR and dense blocks of the same rows: the same entries in
    the same order (a dense block's zeros left out), so a product with it sums in the same order. ``hstack``
    and the dense block's conversion cost about 0.4 ms of checks on one row, ten times the product they feed
    (issue 20); here each block's entries are tagged with their row and put in row order by one stable sort
    (a merge of already sorted runs)."""
    rows = blocks[0].shape[0]
    values, columns, row_of = [], [], []
    width = 0
    for block in blocks:
        if sparse.issparse(block):
            csr = sparse.csr_matrix(block)
            values.append(csr.data)
            columns.append(csr.indices + width)
            row_of.append(np.repeat(np.arange(rows), np.diff(csr.indptr)))
        else:
            row, column = np.nonzero(block)  # row by row, as a CSR conversion reads it
            values.append(block[row, column])
            columns.append(column + width)
            row_of.append(row)
        width += block.shape[1]
    row = np.concatenate(row_of)
    order = np.argsort(row, kind="stable")
    indptr = np.zeros(rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(row, minlength=rows), out=indptr[1:])
    index_dtype = np.int32 if max(width, len(row)) < np.iinfo(np.int32).max else np.int64
    return sparse.csr_matrix(
        (
            np.concatenate(values)[order],
            np.concatenate(columns)[order].astype(index_dtype),
            indptr.astype(index_dtype),
        ),
        shape=(rows, width),
    )


def _plain_tfidf(vectorizer: TfidfVectorizer) -> bool:
    """Whether :func:`tfidf_transform` computes this fitted vectorizer's ``transform``."""
    return (
        vectorizer.input == "content"
        and not vectorizer.binary
        and vectorizer.use_idf
        and vectorizer.norm == "l2"
        and np.dtype(vectorizer.dtype) in (np.dtype(np.float32), np.dtype(np.float64))
        and np.asarray(vectorizer.idf_).dtype == np.dtype(vectorizer.dtype)
        and len(vectorizer.vocabulary_) < np.iinfo(np.int32).max
    )


def _linear_decision(estimator: LinearSVC | LogisticRegression, design: Any) -> np.ndarray:
    """A fitted linear classifier's ``decision_function`` (``design @ coef_.T + intercept_``, one column
    raveled) without its per-call validation of ``design``, which is built here."""
    scores = design @ estimator.coef_.T + estimator.intercept_
    scores = np.asarray(scores)
    return scores.reshape(-1) if scores.shape[1] == 1 else scores


def _pipeline_decision(model: Pipeline, signals: np.ndarray) -> np.ndarray:
    """``model.decision_function(signals)`` for the novelty model's scaler and logistic regression, their
    arithmetic without the per-call validation of each step (another pipeline: its own method)."""
    steps = [step for _, step in model.steps]
    if len(steps) != 2 or type(steps[0]) is not StandardScaler or type(steps[1]) is not LogisticRegression:
        return model.decision_function(signals)
    scaler, regression = steps
    scaled = np.array(signals, dtype=np.float64)  # StandardScaler.transform works on a float copy
    if scaler.with_mean:
        scaled -= scaler.mean_
    if scaler.with_std:
        scaled /= scaler.scale_
    return _linear_decision(regression, scaled)


def _decision_columns(decision: np.ndarray) -> np.ndarray:
    """Decision values with one column per class (two classes give one column: its sign says which)."""
    decision = np.asarray(decision, dtype=np.float64)
    return np.column_stack([-decision / 2, decision / 2]) if decision.ndim == 1 else decision


def _softmax(logits: np.ndarray) -> np.ndarray:
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim == 1:  # two classes: decision_function gives one column
        logits = np.column_stack([-logits / 2, logits / 2])
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def _fit_temperature(logits: np.ndarray, target: np.ndarray) -> float:
    """The temperature T minimising the log loss of softmax(logits / T) on out-of-fold logits."""
    from scipy.optimize import minimize_scalar

    rows = np.arange(len(target))

    def log_loss(log_t: float) -> float:
        probabilities = _softmax(logits / np.exp(log_t))
        return float(-np.log(np.clip(probabilities[rows, target], 1e-12, None)).mean())

    return float(np.exp(minimize_scalar(log_loss, bounds=(-4.0, 4.0), method="bounded").x))


def balanced_subsample(labels: np.ndarray, max_units: int, random_state: int = 0) -> np.ndarray:
    """Indices (sorted) of at most ``max_units`` units: every unit of the smaller themes, the largest trimmed.

    The largest themes are cut to one common size, the biggest that keeps the total within ``max_units``
    (each a seeded sample), so a theme is never cut below a smaller one and no small theme loses a unit
    while a larger one keeps more. All units when there are no more than ``max_units``.
    """
    labels = np.asarray(labels)
    if len(labels) <= max_units:
        return np.arange(len(labels))
    themes, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    low, high = 0, int(counts.max())  # the largest per-theme size whose total fits
    while low < high:
        size = (low + high + 1) // 2
        low, high = (size, high) if np.minimum(counts, size).sum() <= max_units else (low, size - 1)
    rng = np.random.RandomState(random_state)
    keep = [
        members if len(members) <= low else rng.choice(members, low, replace=False)
        for members in (np.flatnonzero(inverse == n) for n in range(len(themes)))
    ]
    return np.sort(np.concatenate(keep))


def cross_fitted_probabilities(logits: np.ndarray, target: np.ndarray, random_state: int = 0) -> np.ndarray:
    """Probabilities for units whose decision values also chose the temperature, without the optimism.

    The units are split in two halves at random; each half is scaled by the temperature fitted on the other.
    What the training job reports about a hold-out (calibration error, the share sent to triage) is then
    measured on units the temperature did not see, as the served router's new units are.
    """
    logits = _decision_columns(logits)
    halves = np.random.RandomState(random_state).permutation(len(logits)) % 2 == 0
    probabilities = np.empty_like(logits)
    for fit_half in (halves, ~halves):
        if fit_half.all() or not fit_half.any():  # one unit: no other half to fit on
            probabilities[:] = _softmax(logits / _fit_temperature(logits, target))
            break
        probabilities[~fit_half] = _softmax(
            logits[~fit_half] / _fit_temperature(logits[fit_half], target[fit_half])
        )
    return probabilities


def _unit_rows(X: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return X / norms


def _percentile(values: np.ndarray, sorted_reference: np.ndarray) -> np.ndarray:
    """Share of the reference at or below each value."""
    return np.searchsorted(sorted_reference, values, side="right") / max(len(sorted_reference), 1)
