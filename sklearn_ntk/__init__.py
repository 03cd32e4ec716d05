"""sklearn-ntk: infinite-width neural networks as scikit-learn estimators."""

from . import layers
from ._activations import NAMED_ACTIVATIONS as _NAMED
from ._classifiers import NNGPClassifier, NTKClassifier
from ._cv_estimators import NNGPClassifierCV, NNGPRegressorCV, NTKClassifierCV, NTKRegressorCV
from ._distributed import dask_backend
from ._gp_kernels import NNGPKernel, NTKKernel
from ._kernels import (
    KernelCostWarning,
    Kernels,
    compute_kernel_diagonals,
    compute_kernels,
)
from ._linearized import LinearizedMLP
from ._regressors import NNGPRegressor, NTKRegressor

#: Names accepted by ``activation=`` (a callable is accepted too).
ACTIVATIONS = tuple(sorted(name for name in _NAMED if name != "quadrature"))

__version__ = "0.1.0"

__all__ = [
    "ACTIVATIONS",
    "KernelCostWarning",
    "Kernels",
    "LinearizedMLP",
    "NNGPClassifier",
    "NNGPClassifierCV",
    "NNGPKernel",
    "NNGPRegressor",
    "NNGPRegressorCV",
    "NTKClassifier",
    "NTKClassifierCV",
    "NTKKernel",
    "NTKRegressor",
    "NTKRegressorCV",
    "compute_kernel_diagonals",
    "compute_kernels",
    "dask_backend",
]
# ``layers`` is a public module (``from sklearn_ntk import layers``), not an
# object of the API page's tables.
