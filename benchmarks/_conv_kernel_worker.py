"""Times one convolutional kernel implementation in a fresh process.

Usage: python _conv_kernel_worker.py {ours,nt} CASE REPEATS OUT.npz [N]
Prints one JSON line: {"cold_s", "warm_s", "times_s", "peak_rss_mb"} and saves the
first rows of both kernels to OUT.npz for the comparison. Runs under the
current environment (ours) or the legacy one (nt); the networks are written
once against either layer module (the port from stax is the import).
"""

import json
import resource
import sys
import time

import numpy as np

W_STD, B_STD = 1.5, 0.05
CHECK_ROWS = 16


def case_a(m):
    """3 x [Conv 3x3 SAME + ReLU] + Flatten: the diagonal spatial form."""
    convs = []
    for _ in range(3):
        convs += [m.Conv(64, (3, 3), padding="SAME", W_std=W_STD, b_std=B_STD), m.Relu()]
    return m.serial(*convs, m.Flatten(), m.Dense(1, W_std=W_STD, b_std=B_STD))


def case_b(m):
    """2 x [Conv 3x3 SAME + ReLU] + GlobalAvgPool: the full form."""
    convs = []
    for _ in range(2):
        convs += [m.Conv(64, (3, 3), padding="SAME", W_std=W_STD, b_std=B_STD), m.Relu()]
    return m.serial(*convs, m.GlobalAvgPool(), m.Dense(1, W_std=W_STD, b_std=B_STD))


def case_c(m):
    """Myrtle-style: conv + ReLU at 16, 8 and 4 pixels with 2x2 average
    pools between them, then global pooling."""
    def block():
        return [m.Conv(64, (3, 3), padding="SAME", W_std=W_STD, b_std=B_STD), m.Relu()]
    return m.serial(*block(), m.AvgPool((2, 2), strides=(2, 2)),
                    *block(), m.AvgPool((2, 2), strides=(2, 2)),
                    *block(), m.GlobalAvgPool(), m.Dense(1, W_std=W_STD, b_std=B_STD))


#: case -> (network, image shape, N, neural-tangents batch size)
CASES = {
    "a": (case_a, (28, 28, 1), 1000, 100),
    "b": (case_b, (8, 8, 1), 1000, 50),
    "c": (case_c, (16, 16, 1), 500, 20),
    "s": (case_c, (8, 8, 1), 40, 20),  # a smoke test of the harness
}


def ours(network, x):
    from sklearn_ntk import compute_kernels, layers

    net = network(layers)

    def run():
        k = compute_kernels(x, architecture=net)
        return k.nngp, k.ntk

    return run


def neural_tangents(network, x, batch_size):
    import jax

    jax.config.update("jax_enable_x64", True)  # the oracle's own process only
    import neural_tangents as nt
    from neural_tangents import stax

    _, _, kernel_fn = network(stax)
    # neural-tangents' own recipe for data sets larger than memory: a jitted
    # kernel_fn over batch_size x batch_size blocks (the full 1000 x 1000
    # kernel of case (b) would need 32 GB per intermediate).
    kernel_fn = nt.batch(jax.jit(kernel_fn, static_argnames="get"),
                         batch_size=batch_size, store_on_device=False)
    x = jax.numpy.asarray(x, dtype=np.float64)

    def run():
        out = kernel_fn(x, None, get=("nngp", "ntk"))
        out = jax.block_until_ready(out)
        return np.asarray(out.nngp), np.asarray(out.ntk)

    return run


def main():
    which, case, repeats, path = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    network, shape, n, batch_size = CASES[case]
    if len(sys.argv) > 5:  # a smaller N (a multiple of the batch size)
        n = int(sys.argv[5])
    x = np.random.default_rng(0).standard_normal((n,) + shape)
    run = ours(network, x) if which == "ours" else neural_tangents(network, x, batch_size)
    times = []
    result = None
    for _ in range(repeats):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    np.savez(path, nngp=result[0][:CHECK_ROWS], ntk=result[1][:CHECK_ROWS])
    # Cold: the first call (with compilation); warm: the median of the rest.
    warm = float(np.median(times[1:])) if len(times) > 1 else None
    print(json.dumps({"cold_s": times[0], "warm_s": warm, "times_s": times,
                      "peak_rss_mb": peak}))


if __name__ == "__main__":
    main()
