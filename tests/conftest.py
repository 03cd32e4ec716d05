"""Shared fixtures. Tolerances live next to the assertions that use them."""

import numpy as np
import pytest
from hypothesis import settings

settings.register_profile("ci", max_examples=25, deadline=None)
settings.load_profile("ci")


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def make_inputs(rng, n=12, d=5, duplicates=True):
    """Standard-normal rows, with a duplicated row to exercise rho = 1."""
    x = rng.standard_normal((n, d))
    if duplicates:
        x[-1] = x[0]
    return x
