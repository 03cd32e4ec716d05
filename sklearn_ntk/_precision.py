"""A scoped switch for 64-bit JAX computations.

The library computes in float64 by default without ever touching the user's
global ``jax_enable_x64`` flag: every JAX call that needs 64-bit types runs
inside :func:`x64_scope`. JAX renamed the context manager between 0.4.x
(``jax.experimental.enable_x64``) and current releases (``jax.enable_x64``);
this module is the one place that knows about both.

The switch is thread-local in JAX, so code that fans work out to threads must
enter the scope again inside each worker.
"""

import contextlib

import jax

__all__ = ["x64_scope", "resolve_dtype"]


@contextlib.contextmanager
def x64_scope(enabled=True):
    """Run the enclosed block with JAX's 64-bit mode set to ``enabled``.

    Parameters
    ----------
    enabled : bool, default=True
        Whether float64 is available inside the block. ``False`` leaves the
        current setting untouched (it does not force float32 on a user who
        enabled x64 globally).

    Yields
    ------
    None
    """
    if not enabled:
        yield
        return
    if hasattr(jax, "enable_x64"):  # JAX >= 0.5
        manager = jax.enable_x64(True)
    else:  # JAX 0.4.x
        from jax.experimental import enable_x64

        manager = enable_x64(True)
    with manager:
        yield


def resolve_dtype(dtype):
    """Validate a user's ``dtype`` argument and return it as a NumPy dtype.

    Parameters
    ----------
    dtype : {"float64", "float32"} or numpy dtype

    Returns
    -------
    numpy.dtype
    """
    import numpy as np

    resolved = np.dtype(dtype)
    if resolved not in (np.dtype(np.float64), np.dtype(np.float32)):
        raise ValueError(
            f"dtype={dtype!r} is not supported; use 'float64' (default, exact) "
            "or 'float32' (faster, about 1e-6 relative error)."
        )
    return resolved
