"""The estimators and the GP kernels describe the same Gaussian process."""

import numpy as np
import pytest
from sklearn.gaussian_process import GaussianProcessRegressor

from sklearn_ntk import NNGPKernel, NNGPRegressor, compute_kernel_diagonals


@pytest.mark.parametrize("alpha", [1e-3, 0.1])
@pytest.mark.parametrize("arch", [dict(depth=2), dict(depth=1, activation="erf",
                                                      bias_std=0.3)])
def test_nngp_regressor_equals_gpr_with_nngp_kernel(rng, alpha, arch):
    # NNGPRegressor's diag_reg is relative to mean(diag K_train); GPR's alpha
    # is absolute: diag_reg = alpha / mean(diag K) gives the same posterior.
    x = rng.standard_normal((40, 4))
    y = np.sin(x[:, 0]) + 0.1 * rng.standard_normal(40)
    x_test = rng.standard_normal((15, 4))
    mean_diagonal = compute_kernel_diagonals(x, **arch).nngp.mean()
    gpr = GaussianProcessRegressor(NNGPKernel(**arch), alpha=alpha, optimizer=None)
    gpr.fit(x, y)
    ours = NNGPRegressor(t=None, diag_reg=alpha / mean_diagonal, **arch).fit(x, y)
    gpr_mean, gpr_cov = gpr.predict(x_test, return_cov=True)
    our_mean, our_cov = ours.predict(x_test, return_cov=True)
    # Both are Cholesky solves of the same float64 matrices; 1e-9 relative
    # allows for the two factorisations' different rounding (cond <= 1e5).
    scale = np.abs(gpr_mean).max()
    np.testing.assert_allclose(our_mean, gpr_mean, rtol=0, atol=1e-9 * scale)
    np.testing.assert_allclose(our_cov, gpr_cov, rtol=0,
                               atol=1e-9 * np.abs(gpr_cov).max())
