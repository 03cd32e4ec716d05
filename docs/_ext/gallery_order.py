"""Order of the examples in the gallery: from first steps to porting."""

ORDER = [
    "plot_quick_start.py",
    "plot_baseline_comparison.py",
    "plot_hyperparameter_search.py",
    "plot_cv_error_surface.py",
    "plot_gaussian_outputs.py",
    "plot_empirical_ntk.py",
    "plot_weight_change.py",
    "plot_training_dynamics.py",
    "plot_convolutional_kernels.py",
    "plot_large_n_nystrom.py",
    "plot_porting_from_neural_tangents.py",
]


class ExampleOrder:
    """sphinx-gallery sort key: the position in ``ORDER``, then the name."""

    def __init__(self, src_dir):
        self.src_dir = src_dir

    def __call__(self, filename):
        position = ORDER.index(filename) if filename in ORDER else len(ORDER)
        return position, filename

    def __repr__(self):
        return f"{type(self).__name__}()"
