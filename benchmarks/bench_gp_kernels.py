"""Benchmark: NTKKernel / NNGPKernel inside GaussianProcessRegressor.

Prints two ratios, each against an anchor measured in the same run (timings
on a shared machine are noisy; medians of repeats):

1. one ``GaussianProcessRegressor.fit`` with the L-BFGS-B optimiser on
   ``ConstantKernel() * NTKKernel() + WhiteKernel()`` (and the NNGP) against
   the same fit with ``ConstantKernel() * RBF() + WhiteKernel()``, at
   N = 2000 (Friedman #1, 8 features, standardised); also the time per
   marginal-likelihood evaluation, since the two optimisers need different
   numbers of steps;
2. one kernel evaluation with its gradient (``eval_gradient=True``) against
   one kernel evaluation, at N = 2000 (target: at most 3x).

Run: ``PYTHONPATH=. python benchmarks/bench_gp_kernels.py [--n 2000]
[--repeats 15] [--fit-repeats 1] [--no-fit]``. The fits take minutes at
N = 2000: every marginal-likelihood evaluation of scikit-learn inverts the
N x N kernel (O(N^3)), whatever the kernel.
"""

import os

# One BLAS thread unless told otherwise: on a shared machine a multithreaded
# BLAS oversubscribes the cores and the Cholesky of the marginal likelihood
# (the same for every kernel) becomes noise that swamps the ratios.
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import argparse  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
import scipy.optimize  # noqa: E402
from sklearn.datasets import make_friedman1  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.gaussian_process import GaussianProcessRegressor  # noqa: E402
from sklearn.gaussian_process.kernels import (  # noqa: E402
    RBF,
    ConstantKernel,
    WhiteKernel,
)
from sklearn.preprocessing import StandardScaler  # noqa: E402

from sklearn_ntk import NNGPKernel, NTKKernel  # noqa: E402


def _data(n, seed=0):
    X, y = make_friedman1(n_samples=n, n_features=8, noise=1.0, random_state=seed)
    X = StandardScaler().fit_transform(X)
    return X, (y - y.mean()) / y.std()


def _median_time(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


class _CountingLBFGS:
    """scikit-learn's default optimiser, counting objective evaluations."""

    def __init__(self):
        self.evaluations = 0

    def __call__(self, obj_func, initial_theta, bounds):
        def counted(theta):
            self.evaluations += 1
            return obj_func(theta)

        result = scipy.optimize.minimize(
            counted, initial_theta, method="L-BFGS-B", jac=True, bounds=bounds
        )
        return result.x, result.fun


def bench_fit(X, y, repeats):
    kernels = {
        "RBF": ConstantKernel() * RBF() + WhiteKernel(),
        "NTK": ConstantKernel() * NTKKernel() + WhiteKernel(),
        "NNGP": ConstantKernel() * NNGPKernel() + WhiteKernel(),
    }
    NTKKernel()(X[:10], eval_gradient=True)  # compile outside the timings
    NNGPKernel()(X[:10], eval_gradient=True)
    results = {}
    for name, kernel in kernels.items():
        times, evaluations = [], []
        for _ in range(repeats):
            optimizer = _CountingLBFGS()
            gpr = GaussianProcessRegressor(kernel=kernel, optimizer=optimizer)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                start = time.perf_counter()
                gpr.fit(X, y)
                times.append(time.perf_counter() - start)
            evaluations.append(optimizer.evaluations)
        seconds = float(np.median(times))
        results[name] = (seconds, int(np.median(evaluations)),
                         gpr.log_marginal_likelihood_value_, gpr.kernel_)
    rbf_seconds, rbf_evaluations = results["RBF"][:2]
    for name, (seconds, evaluations, lml, fitted) in results.items():
        per_evaluation = seconds / evaluations
        print(f"  fit {name:5s}: {seconds:7.2f} s, {evaluations:3d} evaluations, "
              f"{per_evaluation:6.3f} s/evaluation, log-likelihood {lml:9.1f}; "
              f"ratio to RBF: fit {seconds / rbf_seconds:5.2f}x, per evaluation "
              f"{per_evaluation / (rbf_seconds / rbf_evaluations):5.2f}x")
        print(f"      {fitted}")


def _timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench_gradient(X, repeats):
    # The kernel and the kernel + gradient are timed back to back in each
    # repeat and the ratio is the median of the per-repeat ratios: on a
    # shared machine the load changes between repeats, and pairing cancels it.
    rbf = RBF()
    for kernel in (NTKKernel(), NNGPKernel()):
        kernel(X[:300])  # compile the tile programs outside the timings
        kernel(X[:300], eval_gradient=True)
        values, gradients, rbf_values = [], [], []
        for _ in range(repeats):
            values.append(_timed(lambda: kernel(X)))
            gradients.append(_timed(lambda: kernel(X, eval_gradient=True)))
            rbf_values.append(_timed(lambda: rbf(X)))
        values, gradients = np.array(values), np.array(gradients)
        ratio = np.median(gradients / values)
        print(f"  {type(kernel).__name__}: kernel {np.median(values):.3f} s, "
              f"kernel + gradient {np.median(gradients):.3f} s, ratio "
              f"{ratio:.2f}x (target <= 3x); kernel / RBF kernel "
              f"{np.median(values / np.array(rbf_values)):.1f}x")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--fit-repeats", type=int, default=1)
    parser.add_argument("--no-fit", action="store_true",
                        help="only the kernel/gradient timings (seconds, not minutes)")
    args = parser.parse_args()
    X, y = _data(args.n)
    print(f"N = {args.n}, 8 features (Friedman #1), medians of {args.repeats} "
          f"repeats (fits: {args.fit_repeats})")
    print("kernel and gradient evaluation:")
    bench_gradient(X, args.repeats)
    if not args.no_fit:
        print("GaussianProcessRegressor.fit with L-BFGS-B:")
        bench_fit(X, y, args.fit_repeats)


if __name__ == "__main__":
    main()
