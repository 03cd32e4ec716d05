"""Root fixtures: the docstring examples that need an optional extra skip,
with the reason, where it is not installed (the tests under tests/ use
``pytest.importorskip`` the same way)."""

import importlib.util

import pytest

#: Modules whose Examples need dask.distributed (the ``distributed`` extra).
_NEEDS_DISTRIBUTED = ("sklearn_ntk._distributed",)


def pytest_collection_modifyitems(config, items):
    if importlib.util.find_spec("distributed") is not None:
        return
    skip = pytest.mark.skip(
        reason="dask.distributed is not installed: pip install 'sklearn-ntk[distributed]'")
    for item in items:
        if item.name.startswith(_NEEDS_DISTRIBUTED):
            item.add_marker(skip)
