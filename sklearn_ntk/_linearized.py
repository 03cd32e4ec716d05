"""LinearizedMLP: finite-width MLPs linearised around their initialisation."""

import math
import sys
import warnings
from numbers import Integral, Real

import jax
import jax.numpy as jnp
import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from ._architecture import DEFAULTS, make_architecture
from ._estimator_params import (
    ARCHITECTURE_CONSTRAINTS,
    DYNAMICS_CONSTRAINTS,
    architecture_kwargs,
)
from ._dynamics import GradientFlowSolver, IllConditionedKernelWarning, time_to_tau
from ._finite_network import init_params
from ._linearization import (
    GD_CHUNK,
    exact_flow,
    gd_steps,
    network_output,
    ntk_scale,
    stable_step_size,
)
from ._parallel import map_reduce
from ._precision import x64_scope
from ._regressors import DEFAULT_DIAG_REG

__all__ = ["LinearizedMLP"]

# 'auto' uses the closed form while the (n m) x (n m) empirical NTK and its
# eigendecomposition stay cheap (128 MB, a few seconds at n m = 4000).
_AUTO_EXACT_MAX = 4000
# Rows per forward pass in predict: bounds the memory of the activations.
_PREDICT_BATCH = 1024


def _to_numpy(params):
    return [tuple(None if leaf is None else np.asarray(leaf) for leaf in layer)
            for layer in params]


def _to_jax(params):
    return [tuple(None if leaf is None else jnp.asarray(leaf) for leaf in layer)
            for layer in params]


def _fit_member(estimator, member, seed, X, targets):
    """One ensemble member: a module-level task for any joblib backend."""
    return estimator._fit_one(member, seed, X, targets)


def _squared_norm(layer):
    return sum(float(np.sum(leaf ** 2)) for leaf in layer if leaf is not None)


def _relative_changes(params0, params):
    """Per Dense layer and total ``||theta - theta_0|| / ||theta_0||``."""
    moved = [_squared_norm([None if a is None else b - a for a, b in zip(l0, l1)])
             for l0, l1 in zip(params0, params)]
    start = [_squared_norm(layer) for layer in params0]
    layers = np.sqrt(np.array(moved) / np.array(start))
    total = math.sqrt(sum(moved) / sum(start))
    return layers, total


class LinearizedMLP(RegressorMixin, BaseEstimator):
    """Finite-width MLP(s) linearised around initialisation, trained for time t.

    Each of ``n_ensemble`` networks ``depth x (Dense -> activation) -> Dense``
    of hidden width ``width`` is initialised exactly as neural-tangents'
    ``stax.Dense`` from ``random_state``, replaced by its first-order Taylor
    expansion ``f_lin(theta, x) = f(theta_0, x) + J(theta_0, x)(theta -
    theta_0)`` (one JVP; no dense Jacobian), and trained on
    ``0.5 * mean((f(X) - y)^2)`` for time ``t`` (neural-tangents' time
    scale, ``tau = learning_rate * t / y.size``; ``t`` has the units of
    ``learning_rate=1.0`` when ``learning_rate="auto"``). As ``width`` grows
    the empirical NTK converges to the analytic one and the ensemble over
    random initialisations converges to ``NTKRegressor``'s Gaussian process:
    the defaults (``t=None``, ``diag_reg=0.1``, and ``learning_rate="auto"``,
    which trains for the time of ``NTKRegressor``'s ``learning_rate=1.0``)
    are ``NTKRegressor``'s, so that ``LinearizedMLP()`` converges to
    ``NTKRegressor()``.

    Parameters
    ----------
    width : int, default=512
        Hidden width of every hidden layer.
    depth : int, default=2
        Number of hidden layers.
    activation : str or callable, default="relu"
        An activation with an elementwise forward pass (see
        ``sklearn_ntk.ACTIVATIONS``).
    activation_params : dict or None, default=None
        The activation's own parameters, e.g. ``{"alpha": 0.1}``.
    weight_std : float, default=1.5
        neural-tangents' ``W_std``.
    bias_std : float or None, default=2.0
        neural-tangents' ``b_std``; ``bias_std=None`` means no biases.
    parameterization : {"ntk", "standard"}, default="ntk"
    t : float or None, default=None
        Training time, ``tau = learning_rate * t / y.size`` as in
        ``NTKRegressor`` (with ``learning_rate="auto"``,
        ``tau = t / y.size``: the same dynamics as ``NTKRegressor(t=t)``).
        None (or ``inf``) trains to convergence ('exact': the limit
        ``t -> infinity``; 'gd': until the loss stalls, see ``tol``). 'gd'
        takes ``n = t / step`` steps (``n = t`` for a numeric
        ``learning_rate``, whose step is ``learning_rate``): ``floor(n)``
        whole steps and a final fraction of a step.
    learning_rate : float or "auto", default="auto"
        Learning rate on ``0.5 * mean`` squared loss. A float sets both the
        time unit and the 'gd' step (one step per unit of ``t``); 'gd' is
        stable only while
        ``learning_rate * (lambda_max(NTK) + regularizer) / y.size < 2``.
        ``"auto"`` keeps ``learning_rate=1.0``'s time unit and lets 'gd' take
        steps of ``y.size / (lambda_max + regularizer)``, half the
        divergence threshold, with ``lambda_max`` the largest eigenvalue of
        each network's empirical NTK of the training set (power iteration,
        see ``sklearn_ntk._linearization.stable_step_size``): gradient
        descent never diverges, for any scale of ``X``. The steps taken are
        in ``step_size_``. 'exact' has no step: only the time unit matters.
    diag_reg : float, default=0.1
        Relative regulariser, as in ``NTKRegressor``: the NTK's diagonal
        gets ``regularizer = diag_reg * mean(diag NTK)`` (the empirical NTK of
        the training set, all outputs). 'exact' solves the flow of the
        regularised NTK (by ``sklearn_ntk._dynamics.GradientFlowSolver``,
        which drops the NTK's numerical null space -- components that ``J^T``
        maps to zero, so the trained parameters do not depend on them);
        'gd' adds the penalty ``regularizer / (2 y.size) * ||theta -
        theta_0||^2`` pulling the parameters toward their initialisation,
        whose gradient flow for the linearised network is the same at every
        ``t`` (see ``sklearn_ntk._linearization.gd_steps``); the limit
        ``t -> infinity`` is kernel ridge regression with the NTK. 0
        interpolates the training data at ``t=None``.
    n_ensemble : int, default=1
        Number of independently initialised networks.
    solver : {"auto", "exact", "gd"}, default="auto"
        'exact': closed-form gradient flow through the empirical NTK of the
        training set (memory ``O((n_samples n_outputs)^2)``); 'gd':
        full-batch gradient descent with a JVP and a VJP per step (memory
        ``O(n_parameters + n_samples width depth)``); 'auto': 'exact' when
        ``n_samples * n_outputs <= 4000`` and ``linearize``, else 'gd'.
    max_iter : int, default=1000
        'gd' only: the most steps per network (a ConvergenceWarning says
        when ``t`` needed more).
    tol : float, default=1e-6
        'gd' with ``t=None`` only: stop once the loss, or its decrease over
        the last 100 steps, falls below ``tol`` times the initial loss.
    linearize : bool, default=True
        False trains the network itself (not its linearisation) under the
        same 'gd' loop, for comparison.
    random_state : int, RandomState instance or None, default=None
        Seeds the initialisations; the same integer gives the same
        predictions bit for bit.
    n_jobs : int or None, default=None
        Ensemble members trained in parallel, one joblib task each (threads
        unless a ``joblib.parallel_backend`` context such as ``"dask"``
        says otherwise; the predictions do not depend on it). None means 1
        outside such a context.
    verbose : int, default=0
        'gd': print the loss every 100 steps when > 0; >= 2 also reports the
        ensemble's progress (networks done, elapsed, time left).

    Attributes
    ----------
    initial_params_ : list of length n_ensemble of list of (W, b)
        Initial parameters of each network (NumPy; ``W`` of shape
        ``(n_in, n_out)``, ``b`` of shape ``(n_out,)`` or None), in the
        layout of neural-tangents' ``stax.Dense`` layers.
    params_ : list of length n_ensemble of list of (W, b)
        Trained parameters.
    weight_change_ : dict
        ``"layers"``: ndarray of shape (n_ensemble, depth + 1), the relative
        change ``||theta_T - theta_0|| / ||theta_0||`` of each Dense layer
        (weights and bias together); ``"total"``: ndarray of shape
        (n_ensemble,), the same for all parameters.
    empirical_ntk_ : ndarray or None
        'exact': the empirical NTK of the training set at initialisation,
        of shape (n_ensemble, n_samples, n_samples) for one output and
        (n_ensemble, n_samples, n_samples, n_outputs, n_outputs) for several;
        None for 'gd'.
    loss_curve_ : list of length n_ensemble of ndarray
        Training loss ``0.5 * mean((f - y)^2)`` (without the ``diag_reg``
        penalty): 'gd', at every step and
        after the last (``n_iter_ + 1`` values); 'exact', at times 0 and t.
    n_iter_ : ndarray of shape (n_ensemble,)
        Gradient-descent steps taken ('gd'); 1 (one closed-form solve) for
        'exact'.
    step_size_ : ndarray of shape (n_ensemble,) or None
        'gd': the step of each network (``learning_rate``, or the one chosen
        by ``"auto"``); None for 'exact'.
    solver_ : str
        The solver used.
    n_outputs_ : int
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Only when X has string feature names.

    References
    ----------
    Lee, J., Xiao, L., Schoenholz, S. S., Bahri, Y., Novak, R.,
    Sohl-Dickstein, J. and Pennington, J. (2019). Wide neural networks of any
    depth evolve as linear models under gradient descent. NeurIPS. Eqs. (6),
    (9) and Theorem 2.1.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_ntk import LinearizedMLP
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((20, 3))
    >>> y = np.sin(X[:, 0])
    >>> model = LinearizedMLP(width=64, n_ensemble=2, random_state=0).fit(X, y)
    >>> mean, std = model.predict(X[:3], return_std=True)
    >>> mean.shape, std.shape
    ((3,), (3,))
    >>> interpolating = LinearizedMLP(width=64, diag_reg=0.0, random_state=0)
    >>> bool(np.allclose(interpolating.fit(X, y).predict(X), y, atol=1e-6))
    True
    """

    _parameter_constraints = {
        **ARCHITECTURE_CONSTRAINTS,
        "width": [Interval(Integral, 1, None, closed="left")],
        **DYNAMICS_CONSTRAINTS,
        "learning_rate": [Interval(Real, 0, None, closed="neither"),
                          StrOptions({"auto"})],
        "n_ensemble": [Interval(Integral, 1, None, closed="left")],
        "solver": [StrOptions({"auto", "exact", "gd"})],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "linearize": ["boolean"],
        "random_state": ["random_state"],
        "n_jobs": [Integral, None],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        width=512,
        depth=DEFAULTS["depth"],
        activation=DEFAULTS["activation"],
        activation_params=None,
        weight_std=DEFAULTS["weight_std"],
        bias_std=DEFAULTS["bias_std"],
        parameterization=DEFAULTS["parameterization"],
        t=None,
        learning_rate="auto",
        diag_reg=DEFAULT_DIAG_REG,
        n_ensemble=1,
        solver="auto",
        max_iter=1000,
        tol=1e-6,
        linearize=True,
        random_state=None,
        n_jobs=None,
        verbose=0,
    ):
        self.width = width
        self.depth = depth
        self.activation = activation
        self.activation_params = activation_params
        self.weight_std = weight_std
        self.bias_std = bias_std
        self.parameterization = parameterization
        self.t = t
        self.learning_rate = learning_rate
        self.diag_reg = diag_reg
        self.n_ensemble = n_ensemble
        self.solver = solver
        self.max_iter = max_iter
        self.tol = tol
        self.linearize = linearize
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    # -- fitting ---------------------------------------------------------

    def _architecture(self):
        architecture, weight_std, bias_std = make_architecture(
            **architecture_kwargs(self))
        if not architecture.activation.has_forward:
            raise ValueError(
                f"activation={self.activation!r} has a closed-form kernel but no "
                "elementwise forward pass, so LinearizedMLP cannot build the "
                "finite network; choose e.g. 'relu' or 'erf'."
            )
        return architecture, weight_std, bias_std

    def _resolve_solver(self, n_samples, n_outputs):
        if self.solver == "exact" and not self.linearize:
            raise ValueError(
                "solver='exact' is the closed form of the linearised network; "
                "with linearize=False use solver='gd' (or 'auto')."
            )
        if self.solver != "auto":
            return self.solver
        small = n_samples * n_outputs <= _AUTO_EXACT_MAX
        return "exact" if (self.linearize and small) else "gd"

    def fit(self, X, y):
        """Initialise, linearise and train ``n_ensemble`` networks.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_targets)

        Returns
        -------
        self : LinearizedMLP
        """
        self._validate_params()
        X, y = validate_data(self, X, y, multi_output=True, y_numeric=True,
                             dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        self._y_1d = y.ndim == 1
        targets = y.reshape(len(y), -1)
        self.n_outputs_ = targets.shape[1]
        self._architecture()  # an activation without a forward pass fails here
        self.solver_ = self._resolve_solver(*targets.shape)

        # One seed per member drawn by NumPy (not jax.random.split, whose
        # output changed between JAX versions): the same random_state gives
        # the same networks under every supported JAX and every backend.
        seeds = check_random_state(self.random_state).randint(
            np.iinfo(np.int32).max, size=self.n_ensemble)
        # One task per member through joblib: threads by default, a dask or
        # Ray cluster inside joblib.parallel_backend. X and y are top-level
        # arguments, so the dask backend ships them once per fit, and the
        # estimator travels as its parameters only (a clone).
        settings = clone(self)
        members = map_reduce(
            _fit_member,
            [(settings, member, int(seed), X, targets)
             for member, seed in enumerate(seeds)],
            n_jobs=self.n_jobs, verbose=max(int(self.verbose) - 1, 0),
            description="LinearizedMLP: ensemble", unit="networks")
        initial = [member["initial"] for member in members]
        final = [member["final"] for member in members]
        ntks = [member["ntk"] for member in members if member["ntk"] is not None]
        curves = [member["curve"] for member in members]
        n_iter = [member["steps"] for member in members]
        step_sizes = [member["step"] for member in members
                      if member["step"] is not None]

        self.initial_params_ = initial
        self.params_ = final
        self.empirical_ntk_ = np.stack(ntks) if ntks else None
        self.loss_curve_ = curves
        self.n_iter_ = np.array(n_iter)
        self.step_size_ = np.array(step_sizes) if step_sizes else None
        changes = [_relative_changes(p0, p) for p0, p in zip(initial, final)]
        self.weight_change_ = {
            "layers": np.array([layers for layers, _ in changes]),
            "total": np.array([total for _, total in changes]),
        }
        return self

    def _fit_one(self, member, seed, X, targets):
        """Initialise and train ensemble member ``member`` from ``seed``."""
        architecture, weight_std, bias_std = self._architecture()
        n_outputs = targets.shape[1]
        solver = self._resolve_solver(*targets.shape)
        with x64_scope():
            x, y_jax = jnp.asarray(X), jnp.asarray(targets)
            params0 = init_params(jax.random.PRNGKey(seed), X.shape[1], self.width,
                                  architecture, weight_std, bias_std, n_outputs)
            ntk, step = None, None
            if solver == "exact":
                params, ntk, curve = exact_flow(
                    params0, x, targets, self._tau(targets.size),
                    self._weights_fn(params0, targets.size), weight_std, bias_std,
                    architecture=architecture)
                ntk = np.asarray(ntk[:, :, 0, 0] if n_outputs == 1 else ntk)
                steps = 1  # one closed-form solve
            else:
                regularizer, step = self._regularizer_and_step(
                    params0, x, targets.size, weight_std, bias_std, architecture)
                params, curve = self._gradient_descent(
                    params0, x, y_jax, step, regularizer, weight_std, bias_std,
                    architecture, member)
                steps = len(curve) - 1
            return {"initial": _to_numpy(params0), "final": _to_numpy(params),
                    "ntk": ntk, "curve": np.asarray(curve, dtype=np.float64),
                    "steps": steps, "step": step}

    def _auto_step(self):
        return isinstance(self.learning_rate, str)  # "auto"

    def _time_learning_rate(self):
        # The learning rate of t's time unit. 'auto' chooses only the
        # discretisation of 'gd': t keeps the units of learning_rate=1.0,
        # NTKRegressor's default, so that LinearizedMLP(t=t) and
        # NTKRegressor(t=t) train for the same tau = t / y.size.
        return 1.0 if self._auto_step() else float(self.learning_rate)

    def _tau(self, size):
        # neural-tangents' time scale: gradient flow on 0.5 * mean((f - y)^2).
        return time_to_tau(self.t, self._time_learning_rate(), size)

    def _regularizer_and_step(self, params0, x, size, weight_std, bias_std,
                              architecture):
        """'gd': the absolute pull toward theta_0 and the step size."""
        if self.diag_reg == 0 and not self._auto_step():
            return 0.0, float(self.learning_rate)
        trace, eigenvalue = map(float, ntk_scale(params0, x, weight_std, bias_std,
                                                 architecture=architecture))
        # Relative to mean(diag Theta), as for 'exact' and NTKRegressor.
        regularizer = self.diag_reg * trace / size
        if not self._auto_step():
            return regularizer, float(self.learning_rate)
        return regularizer, stable_step_size(eigenvalue, regularizer, size)

    def _infinite_time(self):
        return self.t is None or np.isposinf(self.t)

    def _weights_fn(self, params0, n_targets):
        n_params = sum(leaf.size for leaf in jax.tree_util.tree_leaves(params0))
        # With more targets than parameters the empirical NTK J J^T is
        # singular by construction; the solver drops its null space, which
        # J^T maps to zero, so the trained network is exact and the solver's
        # advice (increase diag_reg) would be wrong here.
        singular_by_construction = n_targets > n_params

        def weights(kernel, targets, tau):
            solver = GradientFlowSolver(kernel, self.diag_reg)
            with warnings.catch_warnings():
                if singular_by_construction:
                    warnings.simplefilter("ignore", IllConditionedKernelWarning)
                return solver.weights(targets, tau)

        return weights

    def _step_plan(self, step):
        """(whole steps, fraction of a final step) for 'gd' with this step."""
        if self._infinite_time():
            return self.max_iter, 0.0
        # t / (step / learning rate of t's unit) steps: t itself for a
        # numeric learning_rate (exact, no rounding), t / step for 'auto'.
        n_steps = self.t / step if self._auto_step() else self.t
        whole, fraction = int(math.floor(n_steps)), n_steps - math.floor(n_steps)
        if whole + (fraction > 0) > self.max_iter:
            reached = self.max_iter * step / self._time_learning_rate()
            warnings.warn(
                f"t={self.t!r} needs {math.ceil(n_steps)} gradient-descent steps "
                f"of size {step:.3g} but max_iter={self.max_iter}; training "
                f"stopped at t={reached:.4g}. Increase max_iter, or use "
                "solver='exact'.",
                ConvergenceWarning,
            )
            return self.max_iter, 0.0
        return whole, fraction

    def _gradient_descent(self, params0, x, y, step, regularizer, weight_std,
                          bias_std, architecture, member):
        whole, fraction = self._step_plan(step)
        arguments = dict(architecture=architecture, linearize=self.linearize)

        def run(params, step_size, n_steps):
            return gd_steps(params, params0, x, y, step_size, n_steps, weight_std,
                            bias_std, regularizer, **arguments)

        def check(loss, losses):
            self._check_finite(loss, losses[0], step, regularizer, params0, x, y.size,
                               weight_std, bias_std, architecture)

        params, losses, done = params0, [], 0
        converged = not self._infinite_time()
        loss = None
        while done < whole:
            n_steps = min(GD_CHUNK, whole - done)
            params, chunk, loss = run(params, step, n_steps)
            losses.extend(np.asarray(chunk[:n_steps]).tolist())
            done += n_steps
            loss = float(loss)
            check(loss, losses)
            if self.verbose:
                print(f"LinearizedMLP: network {member + 1}/{self.n_ensemble}, "
                      f"step {done}, loss {loss:.6e}", file=sys.stdout, flush=True)
            if self._infinite_time() and self._stalled(losses, loss):
                converged = True
                break
        if fraction > 0:
            params, chunk, loss = run(params, step * fraction, 1)
            losses.append(float(chunk[0]))
            loss = float(loss)
            check(loss, losses)
        if loss is None:  # t = 0: no step
            _, _, loss = run(params, 0.0, 0)
            loss = float(loss)
        if not converged:
            warnings.warn(
                f"solver='gd' with t={self.t} did not converge in max_iter="
                f"{self.max_iter} steps (loss {loss:.3e}); increase max_iter "
                "(or diag_reg, which speeds up convergence), or use "
                "solver='exact'.",
                ConvergenceWarning,
            )
        return params, losses + [loss]

    def _stalled(self, losses, loss):
        initial = losses[0]
        start = losses[-min(GD_CHUNK, len(losses))]
        return loss <= self.tol * initial or start - loss <= self.tol * initial

    def _check_finite(self, loss, initial, step, regularizer, params0, x, size,
                      weight_std, bias_std, architecture):
        # A stable step never raises the linearised loss; a growth by 1e4
        # (the real network may rise transiently, never by that much) means
        # the step is beyond 2 y.size / (lambda_max(NTK) + regularizer).
        if np.isfinite(loss) and loss <= 1e4 * max(initial, 1e-300):
            return
        _, eigenvalue = ntk_scale(params0, x, weight_std, bias_std,
                                  architecture=architecture)
        limit = 2 * size / (float(eigenvalue) + regularizer)
        raise ValueError(
            f"gradient descent diverged (loss {loss:.3e}) with step {step:.3e} "
            f"(learning_rate={self.learning_rate!r}): it is stable only while "
            f"the step < 2 * y.size / lambda_max(NTK + regularizer) = {limit:.3e} "
            "here. Use learning_rate='auto' (the default), or decrease "
            "learning_rate (and increase t to keep the training time), "
            "standardise X, or use solver='exact'."
        )

    # -- prediction ------------------------------------------------------

    def _member_outputs(self, X):
        architecture, weight_std, bias_std = self._architecture()
        outputs = []
        with x64_scope():
            for params0, params in zip(self.initial_params_, self.params_):
                params0, params = _to_jax(params0), _to_jax(params)
                rows = [
                    np.asarray(network_output(
                        params, params0, jnp.asarray(X[start:start + _PREDICT_BATCH]),
                        weight_std, bias_std, architecture=architecture,
                        linearize=self.linearize))
                    for start in range(0, len(X), _PREDICT_BATCH)
                ]
                outputs.append(np.concatenate(rows) if rows else
                               np.zeros((0, self.n_outputs_)))
        return np.stack(outputs)

    def predict(self, X, return_std=False):
        """Ensemble mean of the trained networks' outputs.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        return_std : bool, default=False
            Also return the standard deviation across ensemble members (zero
            for ``n_ensemble=1``).

        Returns
        -------
        y_mean : ndarray of shape (n_samples,) or (n_samples, n_targets)
        y_std : ndarray of the same shape
            Only when ``return_std``.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        outputs = self._member_outputs(X)
        mean, std = outputs.mean(axis=0), outputs.std(axis=0)
        if self._y_1d:
            mean, std = mean[:, 0], std[:, 0]
        return (mean, std) if return_std else mean
