"""A/B benchmark of ``compute_kernels`` between source trees (issue 14).

Each measurement runs in a fresh process whose ``PYTHONPATH`` is one tree
(for example ``/work/main`` and a branch's worktree, or a temporary ``git
worktree add /tmp/old <rev>``), alternating the trees round by round, so
that both see the same machine load. Per process: the cold first call
(XLA compilation and page faults included) and the median of warm repeats,
plus the number of compiled tile programs (``_kernel_tile``'s jit cache).

Cases (float64, train-train NNGP + NTK, W_std = 1.5, b_std = 0.05):

* ``mlp8000``: ReLU MLP of depth 3, N = 8000, d = 50 (bench_kernels.py's);
* ``mlp300``, ``mlp2000``: the same at N = 300 (one tile) and N = 2000
  (10 tiles of 512 rows), first-call latency of smaller fits;
* ``conv``: 3 x [Conv 3x3 SAME + ReLU] + Flatten on 28x28x1, N = 100;
* ``near8000``: ``mlp8000`` where every row has a near-duplicate (4000 rows,
  each with a copy perturbed by 1e-9 relative, shuffled): every tile takes
  the near-duplicate path, the worst case of its cost;
* ``nngp2000``, ``nngp2000-d1``, ``nngp2000-d2``: the NNGP alone
  (``get=("nngp",)``, as ``NNGPRegressor`` asks), N = 2000, depth 3, 1, 2;
* ``selectk``: ``GridSearchCV`` (5 folds) over ``SelectKBest(k)``, ``k =
  1..10``, in front of ``NTKRegressor()`` on diabetes (442 rows): ten
  numbers of features, the case of one compiled recursion for every ``d``.

``--compile-cache DIR`` also times every tree with JAX's persistent
compilation cache (``make test``'s; a folder per tree and case under
``DIR``, filled by one run that is not recorded): "cold" is then the first
call of a fresh process that loads its programs instead of compiling them.
Without it, no persistent cache is used, whatever the environment says.

Usage: python benchmarks/bench_ab_trees.py NAME=TREE [NAME=TREE ...]
       [--cases mlp8000,conv] [--rounds 3] [--repeats 3] [--compile-cache DIR]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

WORKER = r'''
import json, sys, time
import numpy as np
case, repeats = sys.argv[1], int(sys.argv[2])
from sklearn_ntk import compute_kernels, layers
from sklearn_ntk import _kernels
rng = np.random.default_rng(0)
kwargs = dict(depth=3, weight_std=1.5, bias_std=0.05)
if case.startswith("mlp"):
    x = rng.standard_normal((int(case[3:]), 50))
elif case.startswith("nngp"):
    rows, _, depth = case[4:].partition("-d")
    x = rng.standard_normal((int(rows), 50))
    kwargs.update(get=("nngp",), depth=int(depth or 3))
elif case == "selectk":
    # A GridSearchCV over the number of features a pipeline keeps.
    from sklearn.datasets import load_diabetes
    from sklearn.feature_selection import SelectKBest, f_regression
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn_ntk import NTKRegressor
    X, y = load_diabetes(return_X_y=True)
    search = GridSearchCV(
        make_pipeline(StandardScaler(), SelectKBest(f_regression), NTKRegressor()),
        {"selectkbest__k": list(range(1, 11))}, cv=5)
elif case == "near8000":
    base = rng.standard_normal((4000, 50))
    x = np.concatenate([base, base * (1 + 1e-9 * rng.standard_normal(base.shape))])
    x = x[rng.permutation(len(x))]
else:
    conv = dict(padding="SAME", W_std=1.5, b_std=0.05)
    blocks = []
    for _ in range(3):
        blocks += [layers.Conv(64, (3, 3), **conv), layers.Relu()]
    kwargs = dict(architecture=layers.serial(*blocks, layers.Flatten(),
                                             layers.Dense(1, W_std=1.5, b_std=0.05)))
    x = rng.standard_normal((100, 28, 28, 1))

def call():
    if case == "selectk":
        search.fit(X, y)
    else:
        compute_kernels(x, **kwargs)


start = time.perf_counter()
call()
cold = time.perf_counter() - start
times = []
for _ in range(repeats):
    start = time.perf_counter()
    call()
    times.append(time.perf_counter() - start)
try:
    variants = _kernels._kernel_tile._cache_size()
except AttributeError:
    variants = None
print(json.dumps({"cold_s": cold, "warm_s": float(np.median(times)),
                  "variants": variants}))
'''


def run(tree, case, repeats, cache=""):
    # Without a cache folder, cold means compiled: no persistent cache.
    env = dict(os.environ, PYTHONPATH=tree, JAX_COMPILATION_CACHE_DIR=cache,
               JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0")
    out = subprocess.run([sys.executable, "-c", WORKER, case, str(repeats)],
                         capture_output=True, text=True, env=env, cwd="/tmp",
                         check=False)
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1:]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trees", nargs="+", help="NAME=PATH")
    parser.add_argument("--cases", default="mlp8000,mlp2000,mlp300,conv,near8000")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--compile-cache", metavar="DIR", default=None,
                        help="also time each tree with a warm persistent "
                             "compilation cache under DIR")
    args = parser.parse_args()
    trees = dict(item.split("=", 1) for item in args.trees)
    for case in args.cases.split(","):
        # name -> (tree, persistent cache folder or "" for none)
        setups = {name: (tree, "") for name, tree in trees.items()}
        if args.compile_cache:
            for name, tree in trees.items():
                cache = os.path.join(os.path.abspath(args.compile_cache), name, case)
                os.makedirs(cache, exist_ok=True)
                run(tree, case, 0, cache)  # fills it
                setups[name + "+cache"] = (tree, cache)
        results = {name: [] for name in setups}
        for _ in range(args.rounds):
            for name, (tree, cache) in setups.items():
                results[name].append(run(tree, case, args.repeats, cache))
        anchor = next(iter(trees))
        summary = {}
        for name, runs in results.items():
            good = [r for r in runs if "error" not in r]
            if not good:
                print(f"{case:9s} {name:14s} error {runs[0]['error']}")
                continue
            summary[name] = (statistics.median(r["cold_s"] for r in good),
                             statistics.median(r["warm_s"] for r in good),
                             good[-1]["variants"])
        for name, (cold, warm, variants) in summary.items():
            ratio = ""
            if anchor in summary and name != anchor:
                ratio = (f"  cold x{cold / summary[anchor][0]:.3f}"
                         f"  warm x{warm / summary[anchor][1]:.3f} vs {anchor}")
            print(f"{case:9s} {name:14s} cold {cold:7.3f} s  warm {warm:7.3f} s"
                  f"  compiled tiles {variants}{ratio}", flush=True)


if __name__ == "__main__":
    main()
