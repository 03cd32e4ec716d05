"""Times one linearised-network fit in a fresh process (for peak memory).

Usage: python _linearized_worker.py {exact,gd,nt} N WIDTH REPEATS SHARED.npz
Prints one JSON line. ``exact`` also writes its initial parameters and test
predictions to SHARED.npz; ``nt`` (legacy environment) reads them, so that
neural-tangents trains the very same network and the predictions can be
compared.
"""

import json
import resource
import sys
import time

import numpy as np

D, DEPTH, N_TEST = 10, 2, 200
# learning_rate * lambda_max(NTK) / N is ~0.5 here: 'gd' is stable and its
# 20 steps approximate the flow that 'exact' solves.
W_STD, B_STD, T, LEARNING_RATE = 1.5, 0.05, 20.0, 0.1
IMPLEMENTATION = 1  # neural-tangents' NtkImplementation.JACOBIAN_CONTRACTION


def data(n):
    rng = np.random.default_rng(0)
    x, x_test = rng.standard_normal((n, D)), rng.standard_normal((N_TEST, D))
    direction = rng.standard_normal(D) / np.sqrt(D)
    return x, np.sin(2 * x @ direction), x_test


def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def ours(solver, n, width, repeats, shared):
    from sklearn_ntk import LinearizedMLP

    x, y, x_test = data(n)
    # diag_reg=0: neural-tangents' gradient_descent_mse has no regulariser.
    model = LinearizedMLP(width=width, depth=DEPTH, weight_std=W_STD, bias_std=B_STD,
                          t=T, learning_rate=LEARNING_RATE, diag_reg=0.0,
                          solver=solver, random_state=0)
    baseline = peak_mb()
    times = []
    for _ in range(repeats + 1):  # the first run includes XLA compilation
        start = time.perf_counter()
        model.fit(x, y)
        prediction = model.predict(x_test)
        times.append(time.perf_counter() - start)
    if solver == "exact":
        arrays = {f"{kind}{i}": leaf for i, layer in enumerate(model.initial_params_[0])
                  for kind, leaf in zip("wb", layer)}
        np.savez(shared, prediction=prediction, **arrays)
    else:
        reference = np.load(shared)["prediction"]
        extra = {"max_abs_diff_vs_exact": float(np.max(np.abs(prediction - reference)))}
    result = {"first_s": times[0],
              "median_s": float(np.median(times[1:])) if repeats else float("nan"),
              "peak_rss_mb": peak_mb(), "increase_mb": peak_mb() - baseline}
    if solver != "exact":
        result.update(extra)
    return result


def neural_tangents(n, width, repeats, shared):
    import jax

    jax.config.update("jax_enable_x64", True)  # the oracle's own process only
    import jax.numpy as jnp
    import neural_tangents as nt
    from neural_tangents import stax

    x, y, x_test = data(n)
    stored = np.load(shared)
    params = []
    for i in range(DEPTH + 1):
        params.append((jnp.asarray(stored[f"w{i}"]), jnp.asarray(stored[f"b{i}"])[None]))
        params.append(())
    params = params[:-1]
    layers = []
    for _ in range(DEPTH):
        layers += [stax.Dense(width, W_std=W_STD, b_std=B_STD), stax.Relu()]
    _, apply_fn, _ = stax.serial(*layers, stax.Dense(1, W_std=W_STD, b_std=B_STD))
    # Tiles of 100 x 100 bound the Jacobians' memory. STRUCTURED_DERIVATIVES
    # (3), neural-tangents' fastest method for dense networks, fails under
    # jax 0.4.26 (jax.interpreters.ad.source_info_util is gone); of the two
    # others, the default JACOBIAN_CONTRACTION was the faster here (N=500,
    # width 256: 19 s against 29 s for NTK_VECTOR_PRODUCTS, compilation
    # included).
    ntk_fn = nt.batch(nt.empirical_ntk_fn(apply_fn, vmap_axes=0, implementation=IMPLEMENTATION),
                      batch_size=100, store_on_device=False)
    apply_jit = jax.jit(apply_fn)
    x, y2, x_test = jnp.asarray(x), jnp.asarray(y[:, None]), jnp.asarray(x_test)
    baseline = peak_mb()
    times = []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        k_train_train = ntk_fn(x, None, params)
        predict_fn = nt.predict.gradient_descent_mse(k_train_train, y2,
                                                     learning_rate=LEARNING_RATE)
        k_test_train = ntk_fn(x_test, x, params)
        _, prediction = predict_fn(T, apply_jit(params, x), apply_jit(params, x_test),
                                   k_test_train)
        prediction = np.asarray(prediction)[:, 0]
        times.append(time.perf_counter() - start)
    return {"first_s": times[0],
            "median_s": float(np.median(times[1:])) if repeats else float("nan"),
            "peak_rss_mb": peak_mb(), "increase_mb": peak_mb() - baseline,
            "max_abs_diff_vs_exact": float(np.max(np.abs(prediction - stored["prediction"])))}


if __name__ == "__main__":
    which, n, width, repeats, shared = sys.argv[1:6]
    n, width, repeats = int(n), int(width), int(repeats)
    if which == "nt":
        result = neural_tangents(n, width, repeats, shared)
    else:
        result = ours(which, n, width, repeats, shared)
    print(json.dumps(result))
