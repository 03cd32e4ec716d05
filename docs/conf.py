"""Sphinx configuration for sklearn-ntk.

Builds offline: no intersphinx, no remote assets (no MathJax: formulas are
written as code). ``make docs`` runs ``sphinx-build -W``; the example gallery
runs every ``examples/plot_*.py`` in the mode given by ``SKLEARN_NTK_QUICK``
(the Makefile sets it to 1 unless told otherwise).
"""

import os
import re
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE / "_ext"))

import sklearn_ntk  # noqa: E402
from api_page import write_api_page  # noqa: E402

project = "sklearn-ntk"
author = "the sklearn-ntk developers"
copyright = "2026, the sklearn-ntk developers"
release = version = sklearn_ntk.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "**.ipynb_checkpoints", "auto_examples/*.md5"]
root_doc = "index"

# The API page lists everything in sklearn_ntk.__all__, so that an object
# added on any branch shows up without editing the docs.
write_api_page(HERE / "api.rst", sklearn_ntk)

autosummary_generate = True
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

QUICK = os.environ.get("SKLEARN_NTK_QUICK", "1") == "1"
os.environ["SKLEARN_NTK_QUICK"] = "1" if QUICK else "0"  # seen by the examples

# The gallery runs a copy of the examples under _build: each example saves
# its figures next to itself (``FIGURES``), and a docs build must not
# overwrite the full-size figures that ``make demo`` leaves in
# examples/figures/ with quick-mode ones.
GALLERY_SOURCE = HERE / "_build" / "gallery_source"
shutil.rmtree(GALLERY_SOURCE, ignore_errors=True)
shutil.copytree(HERE.parent / "examples", GALLERY_SOURCE,
                ignore=shutil.ignore_patterns("figures", "__pycache__"))

sphinx_gallery_conf = {
    "examples_dirs": str(GALLERY_SOURCE),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"(demo|__init__)\.py",
    "within_subsection_order": "gallery_order.ExampleOrder",
    "doc_module": ("sklearn_ntk",),
    "backreferences_dir": "gen_modules/backreferences",
    "reference_url": {"sklearn_ntk": None},
    "download_all_examples": False,
    "remove_config_comments": True,
    "min_reported_time": 1,
    "abort_on_example_error": True,
    "capture_repr": ("_repr_html_", "__repr__"),
    "matplotlib_animations": False,
    # Its timing pages load DataTables from a CDN: no remote assets here.
    "write_computation_times": False,
}

html_theme = "pydata_sphinx_theme"
html_title = f"sklearn-ntk {version}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_prev_next": True,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": [],
}
html_static_path = []
html_show_sourcelink = False


def _escape_shape_names(app, what, name, obj, options, lines):
    """Keep ``(n_features_in_,)`` in a docstring's types from being a link.

    In RST a word ending in ``_`` is a reference; scikit-learn's own
    docstrings quote it (``(`n_features_in_`,)``), ours write it plainly.
    """
    for i, line in enumerate(lines):
        lines[i] = re.sub(r"\((\w+)_,\)", r"(\1\\_,)", line)


def _skip_metadata_routing(app, what, name, obj, skip, options):
    """Leave out scikit-learn's generated metadata-routing methods."""
    if name == "get_metadata_routing" or re.fullmatch(r"set_\w+_request", name):
        return True
    return None


def setup(app):
    app.connect("autodoc-process-docstring", _escape_shape_names)
    app.connect("autodoc-skip-member", _skip_metadata_routing)
