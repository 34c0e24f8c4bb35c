"""The kernels under a fuzzer, with Numba's bounds checking on (see fuzz_kernels.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent


def _run(script: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "numba-cache"),
               NUMBA_NUM_THREADS="2", OMP_NUM_THREADS="1", PYTHONPATH=str(HERE))
    return subprocess.run([sys.executable, str(HERE / script), *args], env=env, capture_output=True,
                          text=True, timeout=900)


def test_fuzzer_catches_an_out_of_bounds_write(tmp_path):
    """The harness is live: after bounds_checked, a stray index inside a prange loop raises IndexError."""
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import sys, types\nimport numpy as np\nfrom numba import njit, prange\n"
        "from fuzz_kernels import bounds_checked\n"
        "@njit(parallel=True)\ndef fill(a):\n    for i in prange(a.shape[0] + 1):\n        a[i] = 1.0\n"
        "mod = types.SimpleNamespace(fill=fill)\nbounds_checked(mod)\n"
        "try:\n    mod.fill(np.zeros(3))\nexcept IndexError:\n    print('IndexError')\n"
    )
    out = _run(str(probe), tmp_path)
    assert out.stdout.strip() == "IndexError", out.stderr


@pytest.mark.parametrize("examples", [300])
def test_kernels_survive_any_arguments(tmp_path, examples):
    out = _run("fuzz_kernels.py", tmp_path, str(examples))
    assert out.returncode == 0, f"fuzzer failed (code {out.returncode}):\n{out.stdout[-3000:]}\n{out.stderr[-6000:]}"
    assert f"fuzzed {examples + 2 * (examples // 4)} calls" in out.stdout
