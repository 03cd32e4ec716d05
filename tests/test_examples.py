"""Every example runs in quick mode and writes the figures it promises.

Each ``examples/plot_*.py`` runs in a subprocess (as a user would run it)
with ``SKLEARN_NTK_QUICK=1`` and the non-interactive matplotlib backend. The
figures an example promises are the ``FIGURES / "<name>.png"`` paths in its
source; each must be (re)written during the run and be a non-empty PNG.

Tests never write into the source tree: each script runs as a copy in a
temporary directory, so its ``FIGURES`` folder (next to the script) is
temporary too and the full-size figures of ``make demo`` in
``examples/figures/`` stay as they are.
"""

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SCRIPTS = sorted(EXAMPLES.glob("plot_*.py"))
FIGURE_PATTERN = re.compile(r'FIGURES\s*/\s*"([^"]+\.png)"')
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TIMEOUT_S = 600  # quick mode takes well under a minute each on 2 free cores


def promised_figures(script):
    return FIGURE_PATTERN.findall(script.read_text())


def test_every_example_is_collected():
    # A renamed examples folder must not silently leave nothing to run.
    names = {script.name for script in SCRIPTS}
    assert {"plot_quick_start.py", "plot_baseline_comparison.py"} <= names
    assert len(SCRIPTS) >= 8, names


@pytest.mark.slow
@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.stem)
def test_example_runs_and_writes_its_figures(script, tmp_path):
    # The examples put FIGURES next to themselves: run a copy in tmp_path.
    copy = tmp_path / script.name
    shutil.copy(script, copy)
    figures = [tmp_path / "figures" / name for name in promised_figures(script)]
    assert figures, f"{script.name} saves no figure under FIGURES"
    env = dict(os.environ, SKLEARN_NTK_QUICK="1", MPLBACKEND="Agg")
    root = str(EXAMPLES.parent)
    env["PYTHONPATH"] = os.pathsep.join(
        [root] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    started = time.time()
    result = subprocess.run([sys.executable, copy.name], cwd=tmp_path,
                            env=env, capture_output=True, text=True,
                            timeout=TIMEOUT_S)
    assert result.returncode == 0, (
        f"{script.name} failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}")
    for figure in figures:
        assert figure.is_file(), f"{script.name} did not write {figure.name}"
        # Written by this run (a stale figure from an earlier run must not pass).
        assert figure.stat().st_mtime >= started - 1, figure.name
        with figure.open("rb") as handle:
            assert handle.read(8) == PNG_SIGNATURE, f"{figure.name} is not a PNG"
        assert figure.stat().st_size > 1000, f"{figure.name} is (nearly) empty"
    # Nothing written into the source tree (make demo's figures stay intact).
    touched = [path.name for path in EXAMPLES.rglob("*")
               if path.is_file() and path.stat().st_mtime >= started]
    assert not touched, f"{script.name} wrote into examples/: {touched}"
