"""A kernel's JIT compilation is logged (a cold cache costs seconds a kernel); loading it from the cache is not."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

_CHILD = """
import logging
import numpy as np
logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
from kernels import _runs
src, dst = np.arange(6, dtype=np.float64), np.zeros(6)
_runs.copy_runs(dst, 0, 3, src, 0, 3, 2, 2)  # calls copy_run: one compilation logged, not two
assert dst.tolist() == [0, 1, 0, 3, 4, 0], dst
try:
    _runs.copy_run(dst, 0, "not an array", 0, 1)  # a typing error is raised, not logged as compiled
except Exception as e:
    print("raised", type(e).__name__)
"""


def _child(cache_dir: Path) -> list[str]:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache_dir)}
    proc = subprocess.run([sys.executable, "-c", _CHILD], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "raised TypingError" in proc.stdout
    return [line for line in proc.stderr.splitlines() if line.startswith("kernels:")]


def test_compilation_logged_once_and_not_when_cached(tmp_path):
    cold = _child(tmp_path)
    assert len(cold) == 3, cold
    assert cold[0] == ("kernels: compiling _runs.copy_runs (float64) with Numba "
                       "(once: later processes load it from the cache)")
    assert cold[1].startswith("kernels: compiled _runs.copy_runs (float64) in ") and cold[1].endswith(" s")
    assert cold[2].startswith("kernels: compiling _runs.copy_run (float64)")  # the failed one: no "compiled"
    warm = _child(tmp_path)
    assert warm == [cold[2]], warm  # copy_runs came from the cache; the failing call compiles (and fails) again
