"""scikit-learn's estimator contract, checked by scikit-learn itself on the project's estimators.

``parametrize_with_checks`` runs each applicable check on tiny generated data. A check an estimator fails on
purpose is listed in ``EXPECTED_FAILURES`` with the reason (it then runs as an expected failure, so a fix
shows up as an unexpected pass). Estimators whose ``fit`` takes something other than ``(X, y)`` get the checks
that need no fit: parameters stored as given, nothing done in ``__init__``, cloning.
"""

from __future__ import annotations

import pytest
from sklearn.utils.estimator_checks import (
    check_do_not_raise_errors_in_init_or_set_params,
    check_estimator_cloneable,
    check_estimator_repr,
    check_get_params_invariance,
    check_no_attributes_set_in_init,
    check_parameters_default_constructible,
    check_set_params,
    parametrize_with_checks,
)

from feedback_nlp.routing import InScopeScorer, TemperatureScaling, ThemeClassifier, ThemeRouter
from feedback_nlp.themes import ThemeDiscoverer

# Binary routing keeps one column per theme (routing.py: the in-scope score and the route decision read a
# column per theme whatever their number), where scikit-learn's binary classifiers return one column.
_TWO_COLUMNS = "decision_function returns one column per theme, also for two themes (routing.py)"
EXPECTED_FAILURES: dict[str, dict[str, str]] = {
    "ThemeClassifier": {
        "check_classifiers_classes": _TWO_COLUMNS,
        "check_classifiers_train": _TWO_COLUMNS,
        "check_non_transformer_estimators_n_iter": (
            "max_iter is the inner logistic regression's; its iterations are estimator_.n_iter_"
        ),
    },
    "ThemeRouter": {
        "check_classifiers_classes": _TWO_COLUMNS,
        "check_classifiers_train": _TWO_COLUMNS,
    },
}


def _expected_failures(estimator) -> dict[str, str]:
    return EXPECTED_FAILURES.get(type(estimator).__name__, {})


# Small and fast settings: the checks fit each estimator dozens of times on toy data.
CHECKED = [
    ThemeDiscoverer(min_themes=2, min_theme_size=2),
    ThemeClassifier(max_iter=200),
    # a fixed temperature and no rehearsal: each would fit several more classifiers per check
    ThemeRouter(
        classifier=ThemeClassifier(max_iter=200),
        calibration=TemperatureScaling(temperature=1.0),
        in_scope=InScopeScorer(rehearsal_groups=0),
    ),
]


@parametrize_with_checks(CHECKED, expected_failed_checks=_expected_failures)
def test_scikit_learn_estimator_contract(estimator, check):
    check(estimator)


# TemperatureScaling fits decision values against the true column of each row (y indexes X's columns), and
# InScopeScorer fits against a fitted classifier and calibration passed by keyword: neither takes the generic
# (X, y) the fitting checks generate. The checks that need no fit still apply.
NO_FIT_CHECKS = [
    check_no_attributes_set_in_init,
    check_parameters_default_constructible,
    check_get_params_invariance,
    check_set_params,
    check_estimator_cloneable,
    check_estimator_repr,
    check_do_not_raise_errors_in_init_or_set_params,
]


@pytest.mark.parametrize("check", NO_FIT_CHECKS, ids=lambda check: check.__name__)
@pytest.mark.parametrize("estimator", [TemperatureScaling(), InScopeScorer()], ids=lambda e: type(e).__name__)
def test_parameters_of_estimators_with_their_own_fit(estimator, check):
    check(type(estimator).__name__, estimator)
