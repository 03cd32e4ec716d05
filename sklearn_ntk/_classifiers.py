"""``NTKClassifier`` and ``NNGPClassifier``: the regressors on encoded labels.

A classifier here is the corresponding regressor (:class:`NTKRegressor` or
:class:`NNGPRegressor`, built from the classifier's own parameters) fitted on
one regression target per class, as the infinite-width literature trains
networks with the squared loss on one-hot targets. ``predict_proba`` is the
probability, under the Gaussian predictive distribution of the ensemble at
time ``t``, that each class has the largest output
(:func:`argmax_probabilities`: the normal CDF for two classes, adaptive
Gauss-Hermite quadrature for more; no sampling, no softmax).
``decision_function`` is its logarithm (the log-odds for two classes) and
``predict`` the argmax of the ensemble mean, which is also the argmax of
both: the three methods rank classes and test points identically.
"""

import numpy as np
from scipy import special
from scipy.special import log_ndtr, logsumexp
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from ._architecture import DEFAULTS
from ._estimator_params import validate_rows
from ._regressors import (
    _SOLVER_PARAMETERS_DOC,
    DEFAULT_DIAG_REG,
    NNGPRegressor,
    NTKRegressor,
)

__all__ = [
    "NTKClassifier",
    "NNGPClassifier",
    "argmax_probabilities",
    "binary_log_odds",
    "encode_targets",
]

_VALIDATION_ATTRIBUTES = ("n_features_in_", "feature_names_in_")

#: Gauss-Hermite nodes of the argmax integral. The integrand, recentred and
#: rescaled at its mode, is smooth on the unit scale. Measured on random
#: 10-class rows, the class probabilities sum to 1 within 2e-9 with 32
#: nodes (3e-7 with 20, 3e-12 with 48); against scipy's quad, relative
#: errors ~1e-13 with 32 nodes on up to 8 classes.
N_QUADRATURE_NODES = 32
#: Rows of test points per quadrature block (~2.4 MB per class pair).
ROWS_PER_BLOCK = 1024
#: Smallest reported log-probability: log of the smallest normal float64.
LOG_TINY = float(np.log(np.finfo(np.float64).tiny))
#: Newton steps to the mode of the (strongly concave) log-integrand.
N_NEWTON_STEPS = 30


# -- target encodings ---------------------------------------------------------


def encode_targets(class_indices, n_classes, encoding):
    """Regression targets, one column per class.

    Parameters
    ----------
    class_indices : ndarray of shape (n_samples,)
        Integer class of each sample, in ``range(n_classes)``.
    n_classes : int
    encoding : {"centered", "lee2018", "onehot"}
        ``"onehot"``: 1 for the sample's class, 0 elsewhere.
        ``"centered"``: one-hot minus ``1 / n_classes`` (Arora et al. 2020),
        so that every row sums to zero. ``"lee2018"``: 0.9 for the sample's
        class and -0.1 elsewhere (Lee et al. 2018), i.e. one-hot minus 0.1.

    Returns
    -------
    ndarray of shape (n_samples, n_classes)

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_ntk._classifiers import encode_targets
    >>> encode_targets(np.array([0, 2]), 3, "lee2018")
    array([[ 0.9, -0.1, -0.1],
           [-0.1, -0.1,  0.9]])
    """
    offsets = {"onehot": 0.0, "centered": 1.0 / n_classes, "lee2018": 0.1}
    if encoding not in offsets:
        raise ValueError(
            f"target_encoding={encoding!r} is not one of {sorted(offsets)}."
        )
    onehot = np.zeros((len(class_indices), n_classes))
    onehot[np.arange(len(class_indices)), class_indices] = 1.0
    return onehot - offsets[encoding]


# -- P(class c has the largest output) -----------------------------------------


def _log_argmax_probability(gaps):
    """``log P(Z_0 + g_j > Z_j for every j)`` for i.i.d. standard normals ``Z``.

    ``gaps`` has shape (n, m): ``g_j = (mu_c - mu_j) / sigma`` for the m
    other classes. The probability is the one-dimensional integral

        P = int phi(z) prod_j Phi(z + g_j) dz = (2 pi)^{-1/2} int exp(h(z)) dz,
        h(z) = -z^2 / 2 + sum_j log Phi(z + g_j).

    ``h`` is strongly concave (``log Phi`` is concave, so ``h'' <= -1``):
    Newton's method finds its mode ``z*`` and ``s = (-h''(z*))^{-1/2}`` its
    width, and Gauss-Hermite quadrature in ``z = z* + sqrt(2) s x`` gives

        P ~= s / sqrt(pi) * sum_i w_i exp(h(z_i) + x_i^2)

    (adaptive Gauss-Hermite, Liu & Pierce 1994). Recentring keeps the
    relative error small even for probabilities far in the tail, where
    quadrature around z = 0 would return 0; the sum is taken in log space.
    """
    def mills(x):
        # phi(x) / Phi(x), stable for very negative x (where it is ~ -x).
        return np.exp(-0.5 * x * x - 0.5 * np.log(2 * np.pi) - log_ndtr(x))

    z = np.zeros(gaps.shape[0])
    active = np.arange(gaps.shape[0])  # rows whose Newton steps still move
    for _ in range(N_NEWTON_STEPS):
        x = z[active, None] + gaps[active]
        r = mills(x)
        gradient = -z[active] + r.sum(axis=1)
        curvature = -1.0 - (r * (x + r)).sum(axis=1)  # <= -1
        step = gradient / curvature
        z[active] -= step
        # Stop each row once its step is ~1e-7: Gauss-Hermite recentred
        # anywhere that close to the mode is as accurate as at the mode.
        active = active[np.abs(step) > 1e-7 * (1.0 + np.abs(z[active]))]
        if active.size == 0:
            break
    x = z[:, None] + gaps
    r = mills(x)
    curvature = -1.0 - (r * (x + r)).sum(axis=1)
    width = 1.0 / np.sqrt(-curvature)

    nodes, weights = np.polynomial.hermite.hermgauss(N_QUADRATURE_NODES)
    points = z[:, None] + np.sqrt(2.0) * width[:, None] * nodes  # (n, q)
    log_h = -0.5 * points**2 + log_ndtr(points[:, :, None] + gaps[:, None, :]).sum(axis=2)
    return (np.log(width) - 0.5 * np.log(np.pi)
            + logsumexp(log_h + nodes**2 + np.log(weights), axis=1))


def _standardised_margin(mean, std):
    """``z = (m_1 - m_0) / (sqrt 2 std)`` of two classes; ``P(class 1) = Phi(z)``."""
    return (mean[:, 1] - mean[:, 0]) / (np.sqrt(2.0) * std)


def _quadrature_log_proba(mean, std, random, log_proba):
    """Fill ``log_proba[random]`` by quadrature, normalised, in the means' order."""
    n_classes = mean.shape[1]
    others = ~np.eye(n_classes, dtype=bool)
    rows = np.flatnonzero(random)
    # Blocks of rows bound the (rows, nodes, classes) quadrature arrays.
    for block in np.array_split(rows, max(1, -(-len(rows) // ROWS_PER_BLOCK))):
        block_mean, block_std = mean[block], std[block, None]
        values = np.empty((len(block), n_classes))
        for c in range(n_classes):
            gaps = (block_mean[:, [c]] - block_mean[:, others[c]]) / block_std
            values[:, c] = _log_argmax_probability(gaps)
        values -= logsumexp(values, axis=1, keepdims=True)
        # The exact probabilities are ordered as the means: give the largest
        # value to the largest mean, and so on (a stable sort keeps the
        # first of tied means first, as np.argmax does).
        order = np.argsort(-block_mean, axis=1, kind="stable")
        ordered = np.empty_like(values)
        np.put_along_axis(ordered, order, -np.sort(-values, axis=1), axis=1)
        log_proba[block] = ordered


def binary_log_odds(mean, std):
    """``log P(class 1) - log P(class 0)`` of two classes, sign-exact.

    With ``z = (mean_1 - mean_0) / (sqrt 2 std)`` the log-odds is
    ``log Phi(z) - log Phi(-z) = 2 artanh(erf(z / sqrt 2))``. The second
    form keeps the sign and every digit for tiny ``|z|`` (where both
    logarithms round to ``log 0.5``); the first does not overflow in the
    tails (where ``erf`` rounds to 1). It is strictly increasing in ``z``,
    so it is positive exactly where ``mean_1 > mean_0``; where ``std == 0``
    it is +-inf, or 0 for tied means.

    Parameters
    ----------
    mean : ndarray of shape (n_samples, 2)
    std : ndarray of shape (n_samples,)

    Returns
    -------
    ndarray of shape (n_samples,)

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_ntk._classifiers import binary_log_odds
    >>> binary_log_odds(np.array([[0.0, 1.0], [0.0, 0.0]]), np.array([1.0, 1.0])).round(4)
    array([1.1541, 0.    ])
    """
    mean = np.asarray(mean, dtype=np.float64)
    std = np.asarray(std, dtype=np.float64)
    margin = mean[:, 1] - mean[:, 0]
    # std == 0: deterministic outputs, +-inf (0 for tied means).
    log_odds = np.where(margin > 0, np.inf, np.where(margin < 0, -np.inf, 0.0))
    random = std > 0
    z = _standardised_margin(mean[random], std[random])
    small = np.abs(z) < 1.0
    log_odds[random] = np.where(
        small,
        2.0 * np.arctanh(special.erf(np.where(small, z, 0.0) / np.sqrt(2.0))),
        log_ndtr(z) - log_ndtr(-z))
    return log_odds


def argmax_probabilities(mean, std):
    """Probability that each class has the largest output, and its log.

    The outputs of the ensemble at one input are independent Gaussians
    ``f_c ~ N(mean_c, std^2)`` with one variance for every class (they are
    independent network outputs with the same kernel). Then

        P(c = argmax_j f_j) = int phi(z) prod_{j != c} Phi(z + (mean_c - mean_j) / std) dz,

    a one-dimensional integral computed deterministically by adaptive
    Gauss-Hermite quadrature (see ``_log_argmax_probability``) and
    normalised so that each row sums to 1 (it does so to ~1e-9 before
    normalisation). With two classes it is computed in closed form,
    ``Phi((mean_c - mean_j) / (sqrt 2 std))``.
    With equal variances the exact probabilities are ordered as the means
    (a larger mean is the likelier maximum, equal means are equally
    likely); the quadrature values of each row are placed in that order, so
    that the argmax of the probabilities is the argmax of the means even
    where quadrature error (~1e-9) exceeds a near-tie between classes.
    Rearranging them can only bring them closer to the exact values.
    Probabilities below the smallest normal float (~2.2e-308) are reported
    as that number.
    Where ``std == 0`` the outputs are deterministic: the probability is 1
    on the largest mean, shared equally between tied classes.

    Parameters
    ----------
    mean : ndarray of shape (n_samples, n_classes)
    std : ndarray of shape (n_samples,)

    Returns
    -------
    proba, log_proba : ndarrays of shape (n_samples, n_classes)

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_ntk._classifiers import argmax_probabilities
    >>> proba, _ = argmax_probabilities(np.array([[1.0, 0.0, 0.0]]), np.array([1.0]))
    >>> proba.round(3)
    array([[0.634, 0.183, 0.183]])
    """
    mean = np.asarray(mean, dtype=np.float64)
    std = np.asarray(std, dtype=np.float64)
    n_samples, n_classes = mean.shape
    log_proba = np.empty((n_samples, n_classes))
    random = std > 0
    if n_classes == 2:
        # P(f_1 > f_0) = Phi(z): f_1 - f_0 ~ N(m_1 - m_0, 2 std^2). Closed
        # form, exactly complementary: no normalisation needed.
        z = _standardised_margin(mean[random], std[random])
        log_proba[random] = np.stack([log_ndtr(-z), log_ndtr(z)], axis=1)
    else:
        _quadrature_log_proba(mean, std, random, log_proba)
    # Deterministic outputs: the argmax, ties shared.
    is_max = mean[~random] == mean[~random].max(axis=1, keepdims=True)
    with np.errstate(divide="ignore"):
        log_proba[~random] = np.log(is_max / is_max.sum(axis=1, keepdims=True))
    # Floor at the smallest normal float, so that exp(log_proba) never
    # underflows to 0: proba and log_proba stay consistent and log-loss finite.
    log_proba = np.maximum(log_proba, LOG_TINY)
    return np.exp(log_proba), log_proba


# -- the estimators ------------------------------------------------------------


class _InfiniteWidthClassifier(ClassifierMixin, BaseEstimator):
    """A regressor of ``_regressor_class`` fitted on encoded labels."""

    _regressor_class = None

    _parameter_constraints = {
        # The regressors' table: the shared architecture and dynamics
        # constraints, t=np.inf, kernel_fn, architecture and image_shape.
        **NTKRegressor._parameter_constraints,
        "target_encoding": [StrOptions({"centered", "lee2018", "onehot"})],
    }

    def __init__(
        self,
        *,
        depth=DEFAULTS["depth"],
        activation=DEFAULTS["activation"],
        activation_params=None,
        weight_std=DEFAULTS["weight_std"],
        bias_std=DEFAULTS["bias_std"],
        parameterization=DEFAULTS["parameterization"],
        width=None,
        t=None,
        learning_rate=1.0,
        diag_reg=DEFAULT_DIAG_REG,
        kernel_fn=None,
        architecture=None,
        image_shape=None,
        target_encoding="centered",
        solver="auto",
        n_components="auto",
        centers="rpcholesky",
        random_state=None,
        n_jobs=None,
        verbose=0,
    ):
        self.depth = depth
        self.activation = activation
        self.activation_params = activation_params
        self.weight_std = weight_std
        self.bias_std = bias_std
        self.parameterization = parameterization
        self.width = width
        self.t = t
        self.learning_rate = learning_rate
        self.diag_reg = diag_reg
        self.kernel_fn = kernel_fn
        self.architecture = architecture
        self.image_shape = image_shape
        self.target_encoding = target_encoding
        self.solver = solver
        self.n_components = n_components
        self.centers = centers
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        return tags

    def _make_regressor(self):
        names = self._regressor_class._get_param_names()
        return self._regressor_class(**{name: getattr(self, name) for name in names})

    def fit(self, X, y):
        """Fit the regressor on the encoded labels.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training inputs (dense; standard-scale them for the default
            architecture).
        y : array-like of shape (n_samples,)
            Class labels of any type (integers, strings...); at least two
            distinct classes.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        self._validate_params()
        saved = {name: self.__dict__[name] for name in _VALIDATION_ATTRIBUTES
                 if name in self.__dict__}
        try:
            return self._fit(X, y)
        except BaseException:
            # validate_data sets n_features_in_ before it can fail: a failed
            # fit leaves the estimator as it was.
            for name in _VALIDATION_ATTRIBUTES:
                self.__dict__.pop(name, None)
            self.__dict__.update(saved)
            raise

    def _fit(self, X, y):
        X, y = validate_rows(self, X, y, dtype=np.float64, accept_sparse=False,
                             ensure_min_samples=2)
        check_classification_targets(y)
        classes, class_indices = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise ValueError(
                f"The classifier needs samples of at least 2 classes; y has only "
                f"one class: {classes[0]!r}. Check the labels (or use a "
                "regressor)."
            )
        targets = encode_targets(class_indices, len(classes), self.target_encoding)
        regressor = self._make_regressor().fit(X, targets)
        self.classes_ = classes
        self.regressor_ = regressor
        return self

    def _validate_predict(self, X):
        check_is_fitted(self)
        return validate_rows(self, X, reset=False, dtype=np.float64,
                             accept_sparse=False)

    def _mean_outputs(self, X):
        X = self._validate_predict(X)
        return self.regressor_.predict(X)

    def _mean_and_std(self, X):
        X = self._validate_predict(X)
        mean, std = self.regressor_.predict(X, return_std=True)
        # The variance is the same for every output (one kernel).
        return mean, std[:, 0]

    def _probabilities(self, X):
        return argmax_probabilities(*self._mean_and_std(X))

    def decision_function(self, X):
        """Log-probability of each class (the log-odds with two classes).

        The logarithm of :meth:`predict_proba`: classes and test points are
        ranked exactly as by the probabilities, and its argmax (its sign with
        two classes) is :meth:`predict`. It uses the predictive variance as
        well as the mean: a small margin with a small variance can be more
        certain than a larger margin with a large variance. The mean outputs
        themselves are ``regressor_.predict(X)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes), or (n_samples,) with two classes
            With two classes, scikit-learn's convention: one score, positive
            for ``classes_[1]``. It is the log-odds
            ``log P(classes_[1]) - log P(classes_[0]) = log Phi(z) - log Phi(-z)``,
            a strictly increasing function of the standardised margin
            ``z = (m_1 - m_0) / (sqrt(2) s)`` (see :func:`binary_log_odds`);
            +-inf where the predictive variance is zero.
        """
        mean, std = self._mean_and_std(X)
        if len(self.classes_) == 2:
            return binary_log_odds(mean, std)
        return argmax_probabilities(mean, std)[1]

    def predict(self, X):
        """Class with the largest mean output.

        With equal predictive variances for every class, the largest mean is
        the likeliest argmax: it is also the class of largest
        :meth:`predict_proba` and of largest :meth:`decision_function`
        (with two classes, ``classes_[1]`` exactly where the decision
        function is positive). Only the mean is computed, so it costs a
        fraction of :meth:`predict_proba`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
            Labels from ``classes_``.
        """
        mean = self._mean_outputs(X)  # first: it raises NotFittedError
        return self.classes_[np.argmax(mean, axis=1)]

    def predict_proba(self, X):
        """Probability that each class has the largest output of the ensemble.

        The trained networks' outputs at ``x`` are, over random
        initialisations, independent Gaussians with the predictive mean and
        one common predictive variance of the regressor's
        ``predict(return_std=True)``. The probability of
        class ``c`` is ``P(f_c(x) > f_j(x) for all j != c)``: the fraction of
        the infinite ensemble whose network predicts ``c``. It is computed
        deterministically by quadrature of a one-dimensional integral (see
        :func:`argmax_probabilities`). It is not a calibrated posterior
        probability of the label; at ``t=0`` (untrained networks) it is
        uniform.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Rows sum to 1; columns ordered as ``classes_``.
        """
        return self._probabilities(X)[0]

    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`, computed in log space.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        return self._probabilities(X)[1]


_PARAMETERS_DOC = """
    Parameters
    ----------
    depth : int, default=2
        Number of hidden layers (each Dense then ``activation``); a readout
        Dense with one output per class follows.
    activation : str or callable, default="relu"
        A name from ``sklearn_ntk.ACTIVATIONS`` or an elementwise
        ``jax.numpy`` function.
    activation_params : dict, default=None
        The activation's parameters, named as in neural-tangents.
    weight_std : float, default=1.5
        Weight standard deviation (neural-tangents' ``W_std``).
    bias_std : float or None, default=2.0
        Bias standard deviation (``b_std``); None means no biases.
    parameterization : {"ntk", "standard"}, default="ntk"
    width : int, default=None
        Hidden width, needed only by the "standard" NTK.
    t : float or None, default=None
        Training time; None (or ``np.inf``) is infinite time.
    learning_rate : float, default=1.0
        Gradient-flow learning rate. Time is scaled as in neural-tangents:
        ``tau = learning_rate * t / (n_samples * n_classes)`` (the size of
        the encoded targets).
    diag_reg : float, default=0.1
        Relative diagonal regulariser of the train kernel (see the regressor).
    kernel_fn : callable, default=None
        Replaces the built-in fully-connected kernels, as in the regressor.
    architecture : network from :mod:`sklearn_ntk.layers`, default=None
        A network built with :func:`sklearn_ntk.layers.serial` (e.g. a
        convolutional one) whose kernels replace the fully-connected ones:
        ``depth``, ``activation``, ``activation_params``, ``weight_std``,
        ``bias_std``, ``parameterization`` and ``width`` are then ignored.
        Its readout gives one output per class. Searchable with
        ``GridSearchCV``.
    image_shape : tuple of 3 ints, default=None
        ``(H, W, C)`` of one image when each row of ``X`` is a flattened
        image: the rows are reshaped to NHWC for ``architecture`` (or
        ``kernel_fn``). ``H * W * C`` must equal ``n_features`` (one entry
        may be -1); see the regressor.
    target_encoding : {"centered", "lee2018", "onehot"}, default="centered"
        Regression target of each class column: ``"centered"`` is one-hot
        minus ``1 / n_classes`` (Arora et al. 2020); ``"lee2018"`` is 0.9 for
        the class and -0.1 elsewhere (Lee et al. 2018); ``"onehot"`` is 1/0.
        Two classes are also fitted with two output columns.
""" + _SOLVER_PARAMETERS_DOC + """
    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The sorted labels.
    regressor_ : REGRESSOR
        The regressor fitted on the encoded targets, shape (n_samples, n_classes).
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Defined only when ``X`` has feature names that are all strings.
"""


class NTKClassifier(_InfiniteWidthClassifier):
    __doc__ = """Classification by an infinite ensemble of infinitely wide MLPs.

    Each network has one output per class and is trained by gradient flow
    on the squared loss against the encoded labels for time ``t``; the
    ensemble over random initialisations is the NTK Gaussian process of
    :class:`NTKRegressor` (Lee et al. 2019, eq. 16). ``predict`` is the
    argmax of the mean, ``predict_proba`` the fraction of the ensemble that
    predicts each class, and ``decision_function`` its logarithm (the
    log-odds with two classes).
""" + _PARAMETERS_DOC.replace("REGRESSOR", "NTKRegressor") + """
    See Also
    --------
    NTKRegressor : the regressor this classifier fits.
    NNGPClassifier : Bayesian inference with the NNGP kernel.

    Notes
    -----
    ``predict_proba(x)[c] = P(f_c(x) = max_j f_j(x))`` with independent
    Gaussian outputs ``f_j(x) ~ N(m_j(x), s(x)^2)`` (same kernel, hence the
    same variance, for every output). Substituting ``f_c = m_c + s z`` and
    conditioning on ``z``,

        P = int phi(z) prod_{j != c} Phi(z + (m_c - m_j) / s) dz,

    which adaptive Gauss-Hermite quadrature evaluates to ~1e-9 without
    sampling (two classes: ``Phi((m_1 - m_0) / (sqrt(2) s))`` exactly).

    ``decision_function`` is ``log predict_proba`` (two classes: the
    log-odds ``log Phi(z) - log Phi(-z)`` of the standardised margin
    ``z = (m_1 - m_0) / (sqrt(2) s)``), not the mean margin ``m_1 - m_0``:
    the margin ignores the predictive variance ``s^2``, which varies from
    point to point, so it would rank test points differently from
    ``predict_proba``. ``predict`` is the argmax of the means, which for
    equal variances is the argmax of both, and costs only the mean.

    Fitting the same training data again at another ``t`` reuses
    the regressor's cached kernels and factorisations.

    References
    ----------
    Lee et al., "Deep Neural Networks as Gaussian Processes", ICLR 2018.
    Lee et al., "Wide Neural Networks of Any Depth Evolve as Linear Models
    Under Gradient Descent", NeurIPS 2019, eq. 16.
    Arora et al., "Harnessing the Power of Infinitely Wide Deep Nets on
    Small-data Tasks", ICLR 2020.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn_ntk import NTKClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> model = make_pipeline(StandardScaler(), NTKClassifier()).fit(X, y)
    >>> model.predict_proba(X[:2]).shape
    (2, 3)
    >>> bool(model.score(X, y) > 0.9)
    True
    """
    _regressor_class = NTKRegressor


class NNGPClassifier(_InfiniteWidthClassifier):
    __doc__ = """Classification by NNGP regression on encoded labels.

    At ``t=None`` the Gaussian-process posterior of an infinitely wide
    network with one output per class, given the encoded labels as noisy
    observations (Lee et al. 2018); at finite ``t`` the ensemble in which
    only the readout layer is trained for time ``t``. ``predict_proba`` is
    the posterior probability that each class has the largest output.
""" + _PARAMETERS_DOC.replace("REGRESSOR", "NNGPRegressor") + """
    See Also
    --------
    NNGPRegressor : the regressor this classifier fits.
    NTKClassifier : all layers trained by gradient flow.

    Notes
    -----
    ``predict_proba``, ``decision_function`` (its logarithm; the log-odds
    with two classes) and ``predict`` are computed as in
    :class:`NTKClassifier`, from the NNGP predictive mean and variance.

    References
    ----------
    Lee et al., "Deep Neural Networks as Gaussian Processes", ICLR 2018.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn_ntk import NNGPClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> model = make_pipeline(StandardScaler(), NNGPClassifier()).fit(X, y)
    >>> model.predict(X[:1])
    array([0])
    """
    _regressor_class = NNGPRegressor
