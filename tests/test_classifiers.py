"""NTKClassifier / NNGPClassifier: accuracy, probabilities, the scikit-learn contract."""

import pickle

import numpy as np
import pytest
from scipy import integrate, stats
from scipy.special import log_ndtr
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer, load_digits, load_iris, load_wine
from sklearn.exceptions import NotFittedError
from sklearn.metrics import log_loss
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_ntk import NNGPClassifier, NNGPRegressor, NTKClassifier, NTKRegressor
from sklearn_ntk._classifiers import (
    _log_argmax_probability,
    argmax_probabilities,
    binary_log_odds,
    encode_targets,
)
from sklearn_ntk._regressors import KERNEL_CACHE

CLASSIFIERS = [NTKClassifier, NNGPClassifier]
REGRESSOR_OF = {NTKClassifier: NTKRegressor, NNGPClassifier: NNGPRegressor}

# check_decision_proba_consistency ranks predict_proba[:, 1] rounded to 10
# decimals against the decision function. Our decision function is the
# log-odds, an exactly increasing function of that probability (asserted
# without rounding by test_decision_function_proba_and_predict_agree). At
# t=None with diag_reg=0.1 the NTK ensemble is unanimous on several of the
# check's well-separated test points (P(class 1) > 1 - 1e-10, z up to 10),
# which the rounding ties while the log-odds keep them apart: diag_reg=1.0
# (a ten times larger ridge, z <= 2.3 there) keeps the probabilities away
# from 0 and 1 so that the check tests the ranking itself.
@parametrize_with_checks([NTKClassifier(depth=1, diag_reg=1.0), NNGPClassifier(depth=1)])
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


@pytest.fixture(autouse=True)
def _fresh_cache():
    KERNEL_CACHE.clear()
    yield
    KERNEL_CACHE.clear()


@pytest.fixture
def blobs(rng):
    """Three shifted Gaussian blobs in 3-D, string labels."""
    labels = np.array(["cat", "dog", "emu"])
    y = labels[np.arange(45) % 3]
    X = rng.standard_normal((45, 3)) + 2.0 * (np.arange(45) % 3 - 1)[:, None]
    return X, y


# -- accuracy and calibration on the scikit-learn datasets -----------------------


def _digits_subsample():
    X, y = load_digits(return_X_y=True)
    return X[::3], y[::3]  # 599 x 64: a third of digits keeps the file fast


DATASETS = {
    "iris": lambda: load_iris(return_X_y=True),
    "wine": lambda: load_wine(return_X_y=True),
    "breast_cancer": lambda: load_breast_cancer(return_X_y=True),
    "digits/3": _digits_subsample,
}


# NNGP on digits/3 is left out to keep the file fast (each new fold shape
# compiles the kernel anew); it was measured as below.
ACCURACY_CASES = [(NTKClassifier, name) for name in DATASETS] + [
    (NNGPClassifier, name) for name in ("iris", "wine", "breast_cancer")
]


@pytest.mark.parametrize(("Classifier", "name"), ACCURACY_CASES)
def test_accuracy_matches_svc_and_log_loss_beats_the_prior(Classifier, name):
    # 5-fold stratified CV (shuffled, random_state=0), StandardScaler first.
    # Measured (scikit-learn 1.9.1), accuracy then log-loss:
    #   dataset        SVC(RBF)  NTK (bias_std=1)   NNGP (bias_std=1)  prior
    #   iris           0.9533    0.9467 / 0.103     0.9533 / 0.110     1.099
    #   wine           0.9830    0.9887 / 0.169     0.9943 / 0.252     1.086
    #   breast_cancer  0.9771    0.9824 / 0.106     0.9824 / 0.124     0.660
    #   digits/3       0.9533    0.9700 / 0.551     0.9700 / 0.734     2.300
    # The margin of 0.03 is ~1 misclassified sample per fold on iris and wine
    # (30-36 test samples): within the fold-to-fold noise of either method.
    # bias_std=1: with the default bias_std=0.05 the ReLU kernel is nearly
    # homogeneous in x and iris drops to 0.907 (0.913 NNGP) while the other
    # datasets are unchanged.
    X, y = DATASETS[name]()
    folds = StratifiedKFold(5, shuffle=True, random_state=0).split(X, y)
    ours, svc, ours_log_loss, prior_log_loss = [], [], [], []
    for train, test in folds:
        model = make_pipeline(StandardScaler(), Classifier(bias_std=1.0))
        model.fit(X[train], y[train])
        proba = model.predict_proba(X[test])  # then predict reuses the kernels
        ours.append(np.mean(model.predict(X[test]) == y[test]))
        ours_log_loss.append(log_loss(y[test], proba, labels=model.classes_))
        # The constant predictor: class frequencies of the training fold.
        prior = np.unique(y[train], return_counts=True)[1] / len(train)
        prior_log_loss.append(log_loss(y[test], np.tile(prior, (len(test), 1)),
                                       labels=model.classes_))
        svc_model = make_pipeline(StandardScaler(), SVC()).fit(X[train], y[train])
        svc.append(np.mean(svc_model.predict(X[test]) == y[test]))
    assert np.mean(ours) >= np.mean(svc) - 0.03
    # Calibrated enough to beat the prior by a wide margin (measured: 3x to
    # 10x lower); half of the prior's log-loss is a loose bar that a
    # miscalibrated proba (e.g. overconfident mistakes) would fail.
    assert np.mean(ours_log_loss) < 0.5 * np.mean(prior_log_loss)


# -- the classifier is the regressor on encoded targets ---------------------------


@pytest.mark.parametrize("Classifier", CLASSIFIERS)
@pytest.mark.parametrize("t", [None, 3.0])
def test_classifier_is_the_regressor_on_encoded_targets(blobs, Classifier, t):
    X, y = blobs
    X_test = X[::4] + 0.3
    classifier = Classifier(depth=2, t=t, target_encoding="lee2018").fit(X, y)
    class_indices = np.searchsorted(np.array(["cat", "dog", "emu"]), y)
    targets = np.where(class_indices[:, None] == np.arange(3), 0.9, -0.1)
    regressor = REGRESSOR_OF[Classifier](depth=2, t=t).fit(X, targets)
    mean, std = regressor.predict(X_test, return_std=True)
    # Same kernels, same solver, same tau (y.size = n_samples * n_classes):
    # equal to rounding.
    np.testing.assert_allclose(classifier.regressor_.predict(X_test), mean,
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(classifier.predict(X_test),
                                  np.array(["cat", "dog", "emu"])[mean.argmax(axis=1)])
    proba, log_proba = argmax_probabilities(mean, std[:, 0])
    np.testing.assert_allclose(classifier.predict_proba(X_test), proba, rtol=1e-12)
    np.testing.assert_allclose(classifier.decision_function(X_test), log_proba,
                               rtol=1e-12)


def test_encodings():
    np.testing.assert_allclose(encode_targets(np.array([1, 0]), 2, "onehot"),
                               [[0, 1], [1, 0]])
    np.testing.assert_allclose(encode_targets(np.array([2]), 4, "centered"),
                               [[-0.25, -0.25, 0.75, -0.25]])
    np.testing.assert_allclose(encode_targets(np.array([0]), 3, "lee2018"),
                               [[0.9, -0.1, -0.1]])


@pytest.mark.parametrize("Classifier", CLASSIFIERS)
def test_encodings_shift_every_output_by_the_same_function(blobs, Classifier):
    # The encodings differ by a constant added to every class column; the
    # dynamics are linear in the targets and the same for every column, so
    # every mean output moves by the same function of x: the mean outputs
    # change, the argmax, the argmax probabilities and their logarithm (the
    # decision function) do not.
    X, y = blobs
    fits = {e: Classifier(t=2.0, target_encoding=e).fit(X, y)
            for e in ("onehot", "centered", "lee2018")}
    X_test = X + 0.5
    base = fits["onehot"].regressor_.predict(X_test)
    for encoding in ("centered", "lee2018"):
        shift = fits[encoding].regressor_.predict(X_test) - base
        assert np.ptp(shift, axis=1).max() < 1e-12 * np.abs(base).max()
        assert np.abs(shift).max() > 1e-3  # the mean outputs do move
        np.testing.assert_allclose(fits[encoding].predict_proba(X_test),
                                   fits["onehot"].predict_proba(X_test), atol=1e-12)
        np.testing.assert_allclose(fits[encoding].decision_function(X_test),
                                   fits["onehot"].decision_function(X_test),
                                   rtol=1e-9)


# -- predict_proba ---------------------------------------------------------------


def test_quadrature_matches_the_two_class_closed_form():
    # Two classes: P(Z0 + g > Z1) = Phi(g / sqrt 2), in the far tails too.
    gaps = np.array([-60.0, -30.0, -10.0, -3.0, -1e-3, 0.0, 1e-3, 2.0, 8.0, 40.0])
    expected = stats.norm.logcdf(gaps / np.sqrt(2.0))
    np.testing.assert_allclose(_log_argmax_probability(gaps[:, None]), expected,
                               rtol=1e-10, atol=1e-12)


def test_quadrature_matches_adaptive_integration(rng):
    # scipy.integrate.quad (adaptive, relative tolerance 1e-12) of the same
    # integral; 1e-8 relative leaves room for quad's own error on the widest
    # integrands. Gaps of scale up to 10 reach probabilities ~1e-30.
    for _ in range(60):
        gaps = rng.normal(0.0, rng.choice([0.3, 1.0, 3.0, 10.0]),
                          size=rng.integers(1, 8))
        def integrand(z, gaps=gaps):
            return np.exp(-0.5 * z * z + log_ndtr(z + gaps).sum()) / np.sqrt(2 * np.pi)
        expected, _ = integrate.quad(integrand, -np.inf, np.inf, epsabs=0,
                                     epsrel=1e-12, limit=500)
        ours = np.exp(_log_argmax_probability(gaps[None])[0])
        np.testing.assert_allclose(ours, expected, rtol=1e-8)


def test_probabilities_sum_to_one_before_normalisation(rng):
    # The K class integrals are computed separately; their sum being 1
    # checks the quadrature (the final normalisation hides nothing).
    # Measured: within 2e-9 with 32 nodes (3e-7 with 20); 1e-8 allows that.
    mean = rng.normal(size=(200, 6)) * rng.choice([0.1, 1.0, 10.0], size=(200, 1))
    std = rng.uniform(0.05, 3.0, size=200)
    raw = np.stack([
        np.exp(_log_argmax_probability((mean[:, [c]] - np.delete(mean, c, 1)) / std[:, None]))
        for c in range(6)
    ], axis=1)
    np.testing.assert_allclose(raw.sum(axis=1), 1.0, rtol=1e-8)


def test_zero_variance_gives_the_argmax_with_ties_shared():
    proba, log_proba = argmax_probabilities(
        np.array([[0.0, 2.0, 1.0], [1.0, 1.0, 0.0]]), np.array([0.0, 0.0]))
    np.testing.assert_allclose(proba, [[0, 1, 0], [0.5, 0.5, 0]], atol=1e-300)
    np.testing.assert_allclose(np.exp(log_proba), proba)


@pytest.mark.parametrize("Classifier", CLASSIFIERS)
def test_predict_proba_matches_monte_carlo_of_the_ensemble(blobs, Classifier):
    # Independent check of the derivation: draw whole functions from the
    # fitted regressor's predictive distribution (sample_y: the joint
    # covariance over test points, each class column drawn separately) and
    # count which class is largest. 20000 draws: the binomial standard error
    # is <= 0.5 / sqrt(20000) = 0.0035; 5 standard errors is 0.018.
    X, y = blobs
    model = Classifier(depth=2, t=5.0).fit(X, y)
    X_test = np.array([[-1.0, -1.0, -1.0], [-0.5, 0.0, 0.5], [1.0, 0.5, 1.0]])
    proba = model.predict_proba(X_test)
    draws = model.regressor_.sample_y(X_test, n_samples=20000, random_state=0)
    frequencies = np.stack([(draws.argmax(axis=1) == c).mean(axis=1) for c in range(3)], 1)
    assert np.sort(proba, axis=1)[:, -2].max() > 0.1  # not a trivial case
    np.testing.assert_allclose(frequencies, proba, atol=5 * 0.5 / np.sqrt(20000))


@pytest.mark.parametrize("Classifier", CLASSIFIERS)
def test_predict_proba_rows_and_logs(blobs, Classifier):
    X, y = blobs
    model = Classifier().fit(X, y)
    X_test = np.vstack([X + 0.7, 30.0 * X])  # far points: tiny probabilities
    proba, log_proba = model.predict_proba(X_test), model.predict_log_proba(X_test)
    assert proba.shape == (90, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(np.exp(log_proba), proba, rtol=1e-12)
    assert np.all(np.isfinite(log_proba))
    np.testing.assert_array_equal(model.classes_[proba.argmax(axis=1)],
                                  model.predict(X_test))


@pytest.mark.parametrize("Classifier", CLASSIFIERS)
def test_untrained_ensemble_is_uniform_and_training_sharpens_it(blobs, Classifier):
    # t=0: every output is the untrained network, a centred Gaussian with
    # the prior variance K(x, x), identical for every class: each class is
    # the argmax with probability exactly 1 / n_classes.
    X, y = blobs
    X_test = X[:10] + 0.2
    at_zero = Classifier(t=0.0).fit(X, y).predict_proba(X_test)
    np.testing.assert_allclose(at_zero, 1.0 / 3.0, atol=1e-12)
    # Training moves probability onto the training labels: the training
    # log-loss decreases with t from log(3) (measured at t = 0, 20, None:
    # NTK 1.099, 0.265, 0.181; NNGP 1.099, 0.500, 0.349).
    losses = [log_loss(y, Classifier(t=t).fit(X, y).predict_proba(X))
              for t in (0.0, 20.0, None)]
    assert losses[0] == pytest.approx(np.log(3.0), abs=1e-12)
    assert losses[0] > losses[1] > losses[2]


# -- labels, shapes, errors ---------------------------------------------------------


@pytest.mark.parametrize("Classifier", CLASSIFIERS)
def test_binary_string_labels(rng, Classifier):
    X = rng.standard_normal((40, 2))
    y = np.where(X[:, 0] + 0.3 * rng.standard_normal(40) > 0, "yes", "no")
    model = Classifier().fit(X, y)
    np.testing.assert_array_equal(model.classes_, ["no", "yes"])
    X_test = rng.standard_normal((15, 2))
    decision = model.decision_function(X_test)
    assert decision.shape == (15,)
    np.testing.assert_array_equal(model.predict(X_test),
                                  np.where(decision > 0, "yes", "no"))
    assert model.predict_proba(X_test).shape == (15, 2)
    assert model.score(X, y) > 0.85  # noisy linear boundary: measured 0.95 / 0.925
    # Two classes: P(class 1) = Phi(z), z = margin / (sqrt 2 std), and the
    # decision function is its log-odds (scipy's logcdf, independently).
    mean, std = model.regressor_.predict(X_test, return_std=True)
    z = (mean[:, 1] - mean[:, 0]) / (np.sqrt(2) * std[:, 0])
    np.testing.assert_allclose(model.predict_proba(X_test)[:, 1], stats.norm.cdf(z),
                               rtol=1e-12)
    np.testing.assert_allclose(
        decision, stats.norm.logcdf(z) - stats.norm.logcdf(-z), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("Classifier", CLASSIFIERS)
@pytest.mark.parametrize("n_classes", [2, 3])
def test_decision_function_proba_and_predict_agree(rng, Classifier, n_classes):
    # Points near the training data (confident, P(class) up to 1 - 1e-20),
    # near the boundaries and far away, where the predictive variance
    # differs most between points: the decision function must rank test
    # points as predict_proba does (no rounding, in log space so that
    # probabilities near 1 stay distinct), and predict must be the argmax
    # of both.
    X = rng.standard_normal((60, 2)) + 3.0 * (np.arange(60) % n_classes)[:, None]
    y = np.arange(60) % n_classes
    X_test = np.vstack([X + 0.1, rng.uniform(-5, 9, (60, 2)), 20 * X[:5]])
    for t in (None, 5.0):
        model = Classifier(depth=1, t=t).fit(X, y)
        decision = model.decision_function(X_test)
        log_proba = model.predict_log_proba(X_test)
        predicted = model.predict(X_test)
        np.testing.assert_array_equal(model.predict_proba(X_test).argmax(axis=1),
                                      predicted)
        if n_classes == 2:
            log_odds = log_proba[:, 1] - log_proba[:, 0]
            confident = np.abs(log_odds) < 600  # both logs above the floor
            np.testing.assert_array_equal(stats.rankdata(decision[confident]),
                                          stats.rankdata(log_odds[confident]))
            np.testing.assert_allclose(decision[confident], log_odds[confident],
                                       rtol=1e-12, atol=1e-12)
            np.testing.assert_array_equal(decision > 0, predicted == 1)
            # The mean margin ranks differently: the variance matters.
            margin = np.diff(model.regressor_.predict(X_test), axis=1)[:, 0]
            assert np.any(stats.rankdata(margin) != stats.rankdata(decision))
        else:
            np.testing.assert_array_equal(decision, log_proba)
            np.testing.assert_array_equal(decision.argmax(axis=1), predicted)


def test_rearranged_probabilities_follow_the_means():
    # Near-ties (relative gap 1e-12, far below the quadrature's 1e-9): the
    # largest probability still goes to the largest mean, tied means get
    # tied probabilities, and the values match the unordered quadrature to
    # its accuracy.
    mean = np.array([[0.0, 1e-12, -1.0, 0.5 - 1e-13, 0.5],
                     [2.0, 2.0, 1.0, 0.0, -1.0]])
    std = np.array([1.0, 0.7])
    proba, log_proba = argmax_probabilities(mean, std)
    np.testing.assert_array_equal(np.argsort(-log_proba[0], kind="stable"),
                                  np.argsort(-mean[0], kind="stable"))
    assert proba[1, 0] == proba[1, 1] and proba[1].argmax() == 0
    raw = np.stack([_log_argmax_probability(
        (mean[:, [c]] - np.delete(mean, c, 1)) / std[:, None]) for c in range(5)], 1)
    np.testing.assert_allclose(proba, np.exp(raw) / np.exp(raw).sum(1, keepdims=True),
                               rtol=1e-8)


def test_binary_log_odds_keeps_its_sign_and_digits():
    # 2 artanh(erf(z / sqrt 2)) = log Phi(z) - log Phi(-z), compared with
    # mpmath-free references: the first-order series 2 z sqrt(2 / pi) for
    # tiny z (the next term is O(z^3)) and scipy's logcdf difference in the
    # tails, where it is accurate.
    tiny = np.array([1e-300, 1e-20, -1e-12])
    mean = np.c_[np.zeros(3), tiny * np.sqrt(2)]
    np.testing.assert_allclose(binary_log_odds(mean, np.ones(3)),
                               2 * tiny * np.sqrt(2 / np.pi), rtol=1e-12)
    z = np.array([-40.0, -3.0, -0.999, 0.999, 1.001, 7.0, 40.0])
    mean = np.c_[np.zeros(7), z * np.sqrt(2)]
    np.testing.assert_allclose(binary_log_odds(mean, np.ones(7)),
                               stats.norm.logcdf(z) - stats.norm.logcdf(-z), rtol=1e-12)
    # Zero variance: deterministic outputs, +-inf, and 0 for a tie.
    np.testing.assert_array_equal(
        binary_log_odds(np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 2.0]]), np.zeros(3)),
        [np.inf, -np.inf, 0.0])


@pytest.mark.parametrize("Classifier", CLASSIFIERS)
def test_clear_errors(blobs, Classifier):
    X, y = blobs
    with pytest.raises(ValueError, match="at least 2 classes.*'cat'"):
        Classifier().fit(X, np.full(len(X), "cat"))
    X_nan = X.copy()
    X_nan[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        Classifier().fit(X_nan, y)
    with pytest.raises(ValueError, match="Unknown label type"):
        Classifier().fit(X, np.linspace(0, 1, len(X)))  # continuous targets
    with pytest.raises(InvalidParameterError, match="target_encoding"):
        Classifier(target_encoding="softmax").fit(X, y)
    with pytest.raises(NotFittedError):
        Classifier().predict_proba(X)
    model = Classifier().fit(X, y)
    with pytest.raises(ValueError, match="3 features"):
        model.predict(X[:, :2])
    # A failed refit leaves the fitted estimator as it was.
    before = model.predict_proba(X)
    with pytest.raises(ValueError):
        model.fit(X[:, :2], np.full(len(X), "cat"))
    assert model.n_features_in_ == 3
    np.testing.assert_array_equal(model.predict_proba(X), before)


# -- composition ----------------------------------------------------------------------


def test_grid_search_with_accuracy_and_log_loss(blobs):
    X, y = blobs
    pipeline = make_pipeline(StandardScaler(), NTKClassifier())
    grid = {"ntkclassifier__t": [1.0, None]}
    for scoring in ("accuracy", "neg_log_loss"):
        search = GridSearchCV(pipeline, grid, scoring=scoring, cv=3).fit(X, y)
        assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
        assert search.best_estimator_.predict(X[:5]).dtype.kind == "U"
    scores = cross_val_score(make_pipeline(StandardScaler(), NNGPClassifier()), X, y, cv=3)
    assert scores.mean() > 0.7  # overlapping blobs: measured 0.82


@pytest.mark.parametrize("Classifier", CLASSIFIERS)
def test_pickle_and_clone(blobs, Classifier):
    X, y = blobs
    model = Classifier(depth=3, t=4.0, target_encoding="onehot").fit(X, y)
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.predict_proba(X), model.predict_proba(X))
    copy = clone(model)
    assert copy.get_params() == model.get_params()
    assert not hasattr(copy, "classes_")


def test_refitting_at_another_time_reuses_the_cached_kernels(blobs):
    X, y = blobs
    NTKClassifier(t=1.0).fit(X, y)
    misses = KERNEL_CACHE.misses
    NTKClassifier(t=5.0).fit(X, y)
    assert KERNEL_CACHE.misses == misses
