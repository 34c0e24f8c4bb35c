"""A BLAS GEMM with strides, offsets and accumulation, callable from ``@njit`` code.

``np.dot`` inside ``njit`` needs contiguous operands and overwrites its output; the 1-D kernels
need GEMMs on strided sub-blocks that add into an existing array (``beta = 1``). Numba links its own
``numba_xxgemm`` helper (which forwards to SciPy's ``cython_blas``, the BLAS ``np.dot`` uses) by
symbol name, so functions calling it can still be cached (a ctypes function pointer could not).
"""

from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.np.linalg import ensure_blas

ensure_blas()  # SciPy's BLAS must be importable; a clear error here rather than a crash later

_xxgemm = types.ExternalFunction("numba_xxgemm", types.intc(
    types.char, types.char, types.char, types.intp, types.intp, types.intp, types.voidptr, types.voidptr,
    types.intp, types.voidptr, types.intp, types.voidptr, types.voidptr, types.intp))


@njit(cache=True)
def gemm(a, a_off, lda, a_t, b, b_off, ldb, b_t, c, c_off, ldc, m, n, k, beta):
    """Row-major ``C = A @ B + beta * C`` on flat arrays: ``C`` is ``m x n`` from ``c[c_off]`` with row stride
    ``ldc``; ``A`` (``m x k``) and ``B`` (``k x n``) likewise, or stored transposed when ``a_t`` / ``b_t``
    (``A`` as ``k x m``, ``B`` as ``n x k``). BLAS is column-major, so this asks it for ``C^T = B^T A^T``.
    """
    if m == 0 or n == 0:
        return
    # BLAS takes raw pointers: check the last element each operand reaches (O(1), and the fuzzer's
    # bounds checking cannot see inside BLAS).
    a_rows, a_cols = (k, m) if a_t else (m, k)
    b_rows, b_cols = (n, k) if b_t else (k, n)
    if (min(a_off, b_off, c_off) < 0 or a_cols > lda or b_cols > ldb or n > ldc
            or a_off + (a_rows - 1) * lda + a_cols > a.size or b_off + (b_rows - 1) * ldb + b_cols > b.size
            or c_off + (m - 1) * ldc + n > c.size):
        raise IndexError("gemm: an operand reaches outside its array")
    scalars = np.empty(2, c.dtype)
    scalars[0] = 1
    scalars[1] = beta
    kind = ord("s") if c.itemsize == 4 else ord("d")
    _xxgemm(kind, ord("T") if b_t else ord("N"), ord("T") if a_t else ord("N"), n, m, k,
            scalars[0:1].ctypes, b[b_off:].ctypes, ldb, a[a_off:].ctypes, lda, scalars[1:2].ctypes,
            c[c_off:].ctypes, ldc)
