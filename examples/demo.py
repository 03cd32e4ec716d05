"""Demo: sklearn-ntk against scikit-learn's baselines on five bundled datasets.

``make demo`` runs this file. It runs the baseline comparison of the example
gallery (``plot_baseline_comparison.py``): 5-fold cross-validation of
NTKRegressor and NNGPRegressor (diabetes, R^2), NTKClassifier and
NNGPClassifier (breast_cancer, wine, iris and digits: accuracy and
log-loss), a Gaussian process and an SVM with the NTK kernel, random
forests, RBF SVMs, RBF kernel ridge, an RBF Gaussian process and an MLP,
with default hyperparameters. It prints a table of scores and times, the
log-loss of the classifiers with ``predict_proba``, and saves the figure to
``examples/figures/baseline_comparison.png``.
Set ``SKLEARN_NTK_QUICK=1`` for a quick 3-fold version on at most 200 rows
of each dataset.
"""

import runpy
import time
from pathlib import Path

if __name__ == "__main__":
    start = time.perf_counter()
    runpy.run_path(str(Path(__file__).resolve().parent
                       / "plot_baseline_comparison.py"), run_name="__main__")
    print(f"demo finished in {time.perf_counter() - start:.0f} s")
