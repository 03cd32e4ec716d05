"""NTKClassifier / NNGPClassifier."""

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_ntk import NNGPClassifier, NTKClassifier

EXPECTED_FAILED_CHECKS = {
    "check_decision_proba_consistency": "x",
}


@parametrize_with_checks([NTKClassifier(depth=1), NNGPClassifier(depth=1)],
                         expected_failed_checks=lambda e: EXPECTED_FAILED_CHECKS)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)
