# One entry point for everything a user or CI runs. Only python3 and pip are
# assumed; each target creates the virtual environment it needs.
PYTHON ?= python3
VENV ?= .venv
REF_VENV ?= .venv-ref
PY := $(VENV)/bin/python
REF_PY := $(REF_VENV)/bin/python
PYTEST_ARGS ?=
# The extras a new $(VENV) gets (.ci/run gives the other Pythons, which run
# test-core only, just "test").
EXTRAS ?= test,examples,distributed
# 1: the examples (and the gallery that `make docs` renders) run small.
SKLEARN_NTK_QUICK ?= 1
# JAX's persistent compilation cache for the targets that run our code
# (not `make benchmark`, whose cold columns time compilation): the programs
# one run compiles are stored here, and later runs, the examples'
# subprocesses and worker processes load them instead of compiling them
# again. Every program is stored (JAX's default keeps only those that took
# a second to compile). A second `make test` takes about half the time of
# the first. The key is the program and the JAX version, so a stale entry
# is never used. `make clean` deletes it; `make test JAX_CACHE=` turns it off.
JAX_CACHE ?= $(CURDIR)/.jax_cache
demo test test-core examples docs: export JAX_COMPILATION_CACHE_DIR = $(JAX_CACHE)
demo test test-core examples docs: export JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS = 0

.PHONY: demo test test-core test-reference test-all examples docs benchmark clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[$(EXTRAS)]"
	touch $@

# The legacy environment in which neural-tangents 0.6.5 (the oracle) runs.
$(REF_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(REF_VENV)
	$(REF_PY) -m pip install -q --upgrade pip
	$(REF_PY) -m pip install -q "jax==0.4.26" "jaxlib==0.4.26" "numpy<2" \
		"tensorflow-cpu==2.16.2" "neural-tangents==0.6.5" pytest hypothesis
	$(REF_PY) -m pip install -q -e .
	touch $@

demo: $(VENV)/.installed
	$(PY) examples/demo.py

# The suite and the Examples sections of the package's docstrings.
test: $(VENV)/.installed
	$(PY) -m pytest -q tests sklearn_ntk --doctest-modules \
		--ignore=tests/reference $(PYTEST_ARGS)

# The suites that touch JAX, NumPy and SciPy directly (the kernel engine,
# activations, GP kernels, dynamics, finite networks) and the doctests,
# without the tests marked slow and without scikit-learn's estimator checks
# of LinearizedMLP (106 of test_linearized's 128 tests; `make test` runs
# them): what .ci/run repeats on other Pythons, where pip resolves other
# releases of those libraries.
CORE_DESELECT = -m "not slow" -k "not test_sklearn_contract"
test-core: $(VENV)/.installed
	$(PY) -m pytest -q $(CORE_SUITES) sklearn_ntk --doctest-modules \
		$(CORE_DESELECT) $(PYTEST_ARGS)

# Every example, as a user runs it (SKLEARN_NTK_QUICK=0 for full size).
examples: $(VENV)/.installed
	cd examples && for script in plot_*.py; do \
		echo "== $$script"; \
		SKLEARN_NTK_QUICK=$(SKLEARN_NTK_QUICK) MPLBACKEND=Agg \
			$(abspath $(PY)) $$script || exit 1; \
	done

$(VENV)/.docs-installed: $(VENV)/.installed
	$(PY) -m pip install -q -e ".[docs]"
	touch $@

# HTML into docs/_build/html, offline, warnings as errors; the gallery runs
# the examples in quick mode unless SKLEARN_NTK_QUICK=0.
# DOCS_ARGS: extra sphinx-build options (.ci/run passes -D plot_gallery=0:
# `make test` has run every example already).
DOCS_ARGS ?=
docs: $(VENV)/.docs-installed
	SKLEARN_NTK_QUICK=$(SKLEARN_NTK_QUICK) MPLBACKEND=Agg \
		$(PY) -m sphinx -W --keep-going -q -b html $(DOCS_ARGS) docs docs/_build/html
	@echo "open docs/_build/html/index.html"

# Under jax 0.4.26 (the legacy environment): the comparison with
# neural-tangents 0.6.5 (tests/reference), deselected as in test-core.
CORE_SUITES = tests/test_kernels.py tests/test_numerics.py tests/test_layers.py \
	tests/test_duplicate_rows.py tests/test_near_duplicates.py tests/test_activations.py \
	tests/test_gp_kernels.py \
	tests/test_linearized.py tests/test_dynamics.py tests/test_iterative_weights.py \
	tests/test_parallel_blocks.py
# Under jax 0.4.26 only the reference comparison: it runs every layer, padding,
# activation and prediction path of the engine there against neural-tangents;
# the engine's own suites run on the oldest and the newest Python (jax 0.6
# and 0.12) and in `make test` (CI time: 3-4 minutes saved).
LEGACY_SUITES = tests/reference
test-reference: $(REF_VENV)/.installed
	TF_CPP_MIN_LOG_LEVEL=3 $(REF_PY) -m pytest -q $(LEGACY_SUITES) $(CORE_DESELECT) \
		$(PYTEST_ARGS)

test-all: test test-reference

benchmark: $(VENV)/.installed $(REF_VENV)/.installed
	$(PY) benchmarks/bench_kernels.py
	$(PY) benchmarks/bench_regressors.py

clean:
	rm -rf $(VENV) $(REF_VENV) $(JAX_CACHE) build *.egg-info docs/_build docs/auto_examples \
		docs/gen_modules docs/generated docs/api.rst examples/figures
