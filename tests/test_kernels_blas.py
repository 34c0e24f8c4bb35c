"""kernels._blas: the GEMM the CPU kernels call, on NumPy's OpenBLAS or SciPy's, and its thread count."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from numba import njit

from kernels import _blas


@njit(cache=True)
def _gemm_2d(a, a_t, b, b_t, c, beta):
    """gemm on whole 2-D arrays, the leading dimensions their row lengths."""
    m, n = c.shape
    k = a.shape[0] if a_t else a.shape[1]
    _blas.gemm(a.reshape(-1), 0, a.shape[1], a_t, b.reshape(-1), 0, b.shape[1], b_t, c.reshape(-1), 0, n, m, n, k,
               beta)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("a_t", [False, True])
@pytest.mark.parametrize("b_t", [False, True])
@pytest.mark.parametrize("beta", [0.0, 1.0])
def test_gemm_matches_numpy(dtype, a_t, b_t, beta, rng):
    m, n, k = 7, 5, 3
    a = rng.standard_normal((k, m) if a_t else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if b_t else (k, n)).astype(dtype)
    c = rng.standard_normal((m, n)).astype(dtype)
    want = (a.T if a_t else a) @ (b.T if b_t else b) + beta * c
    _gemm_2d(a, a_t, b, b_t, c, beta)
    np.testing.assert_allclose(c, want, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-5)


def test_gemm_on_offset_sub_blocks(rng):
    """A block of rows and columns read in place (offsets, leading dimensions) and added into a block of C."""
    a, b = rng.standard_normal((6, 8)).astype(np.float32), rng.standard_normal((8, 9)).astype(np.float32)
    c = np.zeros((5, 9), np.float32)

    @njit
    def block(a, b, c):  # C[1:4, 2:6] += A[2:5, 1:4] @ B[3:6, 4:8]
        _blas.gemm(a.reshape(-1), 2 * 8 + 1, 8, False, b.reshape(-1), 3 * 9 + 4, 9, False, c.reshape(-1), 1 * 9 + 2, 9,
                   3, 4, 3, 1.0)

    block(a, b, c)
    want = np.zeros_like(c)
    want[1:4, 2:6] = a[2:5, 1:4] @ b[3:6, 4:8]
    np.testing.assert_allclose(c, want, rtol=1e-5, atol=1e-6)


@njit
def _a_past_its_end(a, b, c):  # A from a[1]: its last row ends one element past a's end
    _blas.gemm(a.reshape(-1), 1, 3, False, b.reshape(-1), 0, 3, False, c.reshape(-1), 0, 3, 3, 3, 3, 0.0)


def test_gemm_refuses_an_operand_past_its_array():
    a, b, c = (np.ones((3, 3), np.float32) for _ in range(3))
    with pytest.raises(IndexError, match="gemm: an operand reaches outside its array"):
        _a_past_its_end(a, b, c)


@pytest.mark.skipif(_blas._get_threads is None, reason="SciPy's BLAS in use (pinned for good) or threads kept")
def test_single_threaded_pins_numpys_blas_and_gives_the_count_back():
    @_blas.single_threaded
    def kernel(fail: bool) -> int:
        if fail:
            raise RuntimeError("a kernel failed")
        return _blas._get_threads()

    @_blas.single_threaded
    def outer() -> tuple[int, int]:  # a pinned call inside another leaves the pin to the outer one
        return kernel(False), _blas._get_threads()

    before = _blas._get_threads()
    _blas._set_threads(2)
    try:
        assert kernel(False) == 1
        assert _blas._get_threads() == 2
        with pytest.raises(RuntimeError):
            kernel(True)
        assert _blas._get_threads() == 2
        assert outer() == (1, 1)
        assert _blas._get_threads() == 2
    finally:
        _blas._set_threads(before)


@pytest.mark.skipif(_blas._get_threads is None, reason="SciPy's BLAS in use (pinned for good) or threads kept")
def test_the_public_cpu_calls_pin_blas(monkeypatch):
    """Forward and backward run their BLAS calls on one thread (inside Numba's parallel loops a multi-threaded
    BLAS fought Numba's threads: 12x slower) and give NumPy's count back."""
    import kernels

    calls = []
    monkeypatch.setattr(_blas, "_get_threads", lambda: 2)
    monkeypatch.setattr(_blas, "_set_threads", calls.append)
    x, w = np.ones((2, 4, 5), np.float32), np.ones((4, 3, 4), np.float32)
    y = kernels.conv_transpose1d(x, w, None, 2, 1)
    kernels.conv_transpose1d_backward(np.ones_like(y), x, w, 2, 1)
    assert calls == [1, 2, 1, 2]


def _run(env: dict[str, str], code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env={**os.environ, **env},
                          capture_output=True, text=True, timeout=600)


def test_scipy_fallback_computes_the_same():
    """GEN_MEDIA_BLAS=scipy binds the GEMM to SciPy's BLAS through the cfunc adapters (the path on NumPy builds
    without an OpenBLAS of their own), and pins that BLAS to one thread."""
    proc = _run({"GEN_MEDIA_BLAS": "scipy"}, """
        import numpy as np, kernels
        from kernels import _blas
        from threadpoolctl import threadpool_info
        rng = np.random.default_rng(0)
        for dtype in (np.float32, np.float64):
            x, w = rng.standard_normal((2, 6, 5)).astype(dtype), rng.standard_normal((6, 4, 4)).astype(dtype)
            got = kernels.conv_transpose1d(x, w, None, 2, 1)
            want = kernels.conv_transpose1d_reference(x, w, None, 2, 1)
            assert np.abs(got - want).max() < 1e-4, np.abs(got - want).max()
        scipy_threads = [i["num_threads"] for i in threadpool_info() if "scipy.libs" in i["filepath"]]
        print(_blas.BACKEND, scipy_threads)
    """)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split("\n")[-2] == "scipy [1]"
    # gemm itself, every transpose, beta and dtype: this module's own test, run on the fallback
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                            f"{__file__}::test_gemm_matches_numpy"], env={**os.environ, "GEN_MEDIA_BLAS": "scipy"},
                           capture_output=True, text=True, timeout=600)
    assert tests.returncode == 0 and "16 passed" in tests.stdout, tests.stdout[-3000:] + tests.stderr[-3000:]


def test_unknown_blas_is_refused():
    proc = _run({"GEN_MEDIA_BLAS": "mkl"}, "import kernels.cpu")
    assert proc.returncode != 0 and "GEN_MEDIA_BLAS: expected one of ('numpy', 'scipy'), got 'mkl'" in proc.stderr
