"""A BLAS GEMM with strides, offsets and accumulation, callable from ``@njit`` code, and its threads.

``np.dot`` inside ``njit`` needs contiguous operands and overwrites its output; the kernels need
GEMMs on strided sub-blocks that add into an existing array (``beta = 1``). They call CBLAS's
``xgemm`` (64-bit integers) through symbols this module registers with LLVM by name, so the
functions calling them can still be cached (a ctypes function pointer could not be). Behind them:

- ``numpy``: the OpenBLAS inside NumPy's wheels (``scipy_cblas_sgemm64_``, loaded with NumPy).
  Against SciPy's it took 0.65x the time on the speech decoder's batch-1 GEMMs (768 x 8 x 256) and
  0.88-1.00x on larger ones, and took speech generation from 1.13-1.24x torch's time to 0.98-1.02x
  at batch 1 and from 1.06-1.07x to 1.01-1.03x at batch 64.
- ``scipy``: Numba's ``numba_xxgemm`` helper, which forwards to SciPy's ``cython_blas``, behind a
  ``cfunc`` with the same signature. Used where NumPy has no OpenBLAS of its own (conda's NumPy,
  Accelerate), or when the environment says ``GEN_MEDIA_BLAS=scipy``.

Threads: the kernels run their GEMMs inside Numba's parallel loops, and a multi-threaded BLAS
fights those threads for the cores (measured: 12x slower). OpenBLAS's thread count is global
(``openblas_set_num_threads_local`` sets the global one too in its pthreads builds), so the
kernels' Python entry points are wrapped in :func:`single_threaded`, which pins NumPy's OpenBLAS
to one thread and gives the caller's setting back after (2 µs): the user's ``np.dot`` keeps its
threads. When SciPy's BLAS is the one in use it is pinned for good (:func:`_pin_scipy_blas`);
``GEN_MEDIA_KEEP_BLAS_THREADS=1`` leaves every BLAS's threads alone.
"""

from __future__ import annotations

import ctypes
import functools
import glob
import os
import threading

import llvmlite.binding as llvm
import numpy as np
from numba import cfunc, njit, types

BACKENDS = ("numpy", "scipy")
_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112  # CBLAS's enum values
_TRANS_CHAR, _NO_TRANS_CHAR = ord("T"), ord("N")  # the Fortran interface's


def _gemm_signature(t):
    return types.void(types.intc, types.intc, types.intc, types.int64, types.int64, types.int64, t,
                      types.voidptr, types.int64, types.voidptr, types.int64, t, types.voidptr, types.int64)


_SYMBOLS = ("gen_media_sgemm", "gen_media_dgemm")
_ADAPTERS: list = []  # the SciPy fallback's cfuncs, kept referenced
_sgemm = types.ExternalFunction(_SYMBOLS[0], _gemm_signature(types.float32))
_dgemm = types.ExternalFunction(_SYMBOLS[1], _gemm_signature(types.float64))


# Where NumPy's wheels keep their OpenBLAS: Linux (numpy.libs/*.so), Windows (numpy.libs/*.dll), macOS
# (numpy/.dylibs/*.dylib). Only the Linux one is exercised here.
_NUMPY_OPENBLAS = (("..", "numpy.libs", "libscipy_openblas64_*.so*"), ("..", "numpy.libs", "libscipy_openblas64_*.dll"),
                   (".dylibs", "libscipy_openblas64_*.dylib"))


def _numpy_openblas() -> ctypes.CDLL | None:
    """NumPy's own OpenBLAS (in its wheels), or None where NumPy has none."""
    for pattern in _NUMPY_OPENBLAS:
        for path in sorted(glob.glob(os.path.join(os.path.dirname(np.__file__), *pattern))):
            lib = ctypes.CDLL(path)  # the copy NumPy loaded: the same file maps to the same library
            if all(hasattr(lib, f) for f in ("scipy_cblas_sgemm64_", "scipy_cblas_dgemm64_",
                                             "scipy_openblas_get_num_threads64_",
                                             "scipy_openblas_set_num_threads64_")):
                return lib
    return None


def _scipy_adapters() -> tuple[int, int]:
    """Addresses of the CBLAS signature over Numba's SciPy-backed helper (compiled on first use only)."""
    from numba.np.linalg import ensure_blas

    ensure_blas()  # SciPy's BLAS must be importable; a clear error here rather than a crash later
    xxgemm = types.ExternalFunction("numba_xxgemm", types.intc(
        types.char, types.char, types.char, types.intp, types.intp, types.intp, types.voidptr, types.voidptr,
        types.intp, types.voidptr, types.intp, types.voidptr, types.voidptr, types.intp))

    def adapter(dtype, numba_dtype, kind):
        @cfunc(_gemm_signature(numba_dtype), cache=True)
        def xgemm(order, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
            # Row-major C = A @ B is column-major C^T = B^T @ A^T: swap the operands, keep the flags.
            scalars = np.empty(2, dtype)
            scalars[0] = alpha
            scalars[1] = beta
            xxgemm(kind, _TRANS_CHAR if trans_b == _TRANS else _NO_TRANS_CHAR,
                   _TRANS_CHAR if trans_a == _TRANS else _NO_TRANS_CHAR, n, m, k, scalars[0:1].ctypes, b, ldb, a,
                   lda, scalars[1:2].ctypes, c, ldc)

        _ADAPTERS.append(xgemm)  # the registered address must outlive this function
        return xgemm.address

    return adapter(np.float32, types.float32, ord("s")), adapter(np.float64, types.float64, ord("d"))


def _pin_scipy_blas() -> None:
    """Pin every BLAS but NumPy's own wheel copy to one thread for good: SciPy's (its own library in the wheels;
    conda's NumPy and SciPy share one, so NumPy's ``np.dot`` is then single-threaded too)."""
    import scipy.linalg.cython_blas  # noqa: F401  (loads SciPy's BLAS so it can be found)
    from threadpoolctl import ThreadpoolController

    numpy_dir = os.path.dirname(np.__file__)  # its wheels' BLAS: numpy.libs beside it, or numpy/.dylibs
    numpy_dirs = tuple(os.path.realpath(d) + os.sep for d in (numpy_dir, os.path.join(numpy_dir, "..", "numpy.libs")))
    for lib in ThreadpoolController().select(user_api="blas").lib_controllers:
        if not os.path.realpath(lib.filepath).startswith(numpy_dirs):
            lib.set_num_threads(1)


def _bind() -> tuple[str, ctypes.CDLL | None]:
    """Register the GEMM symbols on NumPy's OpenBLAS, or on SciPy's; (which, NumPy's library or None)."""
    wanted = os.environ.get("GEN_MEDIA_BLAS", "numpy")
    if wanted not in BACKENDS:
        raise ValueError(f"GEN_MEDIA_BLAS: expected one of {BACKENDS}, got {wanted!r}")
    lib = _numpy_openblas() if wanted == "numpy" else None
    if lib is not None:
        addresses = [ctypes.cast(f, ctypes.c_void_p).value for f in (lib.scipy_cblas_sgemm64_,
                                                                      lib.scipy_cblas_dgemm64_)]
    else:
        addresses = _scipy_adapters()
        if not _KEEP_THREADS:
            _pin_scipy_blas()
    for name, address in zip(_SYMBOLS, addresses, strict=True):
        llvm.add_symbol(name, address)
    return ("numpy" if lib is not None else "scipy"), lib


_KEEP_THREADS = os.environ.get("GEN_MEDIA_KEEP_BLAS_THREADS") == "1"
BACKEND, _numpy_lib = _bind()
if _numpy_lib is not None and not _KEEP_THREADS:
    _get_threads = _numpy_lib.scipy_openblas_get_num_threads64_
    _set_threads = _numpy_lib.scipy_openblas_set_num_threads64_
    _get_threads.restype, _set_threads.argtypes, _set_threads.restype = ctypes.c_int, [ctypes.c_int], None
else:
    _get_threads = _set_threads = None


_pin_lock = threading.Lock()
_pin_depth = 0  # calls inside single_threaded functions, over all Python threads
_pin_saved = 1  # the count the first of them found, given back by the last


def _pin() -> None:
    global _pin_depth, _pin_saved
    with _pin_lock:
        if _pin_depth == 0:
            _pin_saved = _get_threads()
            if _pin_saved != 1:
                _set_threads(1)
        _pin_depth += 1


def _unpin() -> None:
    global _pin_depth
    with _pin_lock:
        _pin_depth -= 1
        if _pin_depth == 0 and _pin_saved != 1:
            _set_threads(_pin_saved)


def single_threaded(fn):
    """``fn`` with NumPy's OpenBLAS on one thread while it runs (when the kernels use that BLAS), the caller's
    count after. The count is global, so overlapping calls from several Python threads share one pin: the
    first saves the count, the last gives it back. A plain wrapper: a context manager cost 6 µs a call."""
    if _get_threads is None:
        return fn

    @functools.wraps(fn)
    def run(*args, **kwargs):
        _pin()
        try:
            return fn(*args, **kwargs)
        finally:
            _unpin()

    return run


@njit(cache=True)
def gemm(a, a_off, lda, a_t, b, b_off, ldb, b_t, c, c_off, ldc, m, n, k, beta):
    """Row-major ``C = A @ B + beta * C`` on flat arrays: ``C`` is ``m x n`` from ``c[c_off]`` with row stride
    ``ldc``; ``A`` (``m x k``) and ``B`` (``k x n``) likewise, or stored transposed when ``a_t`` / ``b_t``
    (``A`` as ``k x m``, ``B`` as ``n x k``).
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
    trans_a = _TRANS if a_t else _NO_TRANS
    trans_b = _TRANS if b_t else _NO_TRANS
    if c.itemsize == 4:
        _sgemm(_ROW_MAJOR, trans_a, trans_b, m, n, k, np.float32(1.0), a[a_off:].ctypes, lda, b[b_off:].ctypes, ldb,
               np.float32(beta), c[c_off:].ctypes, ldc)
    else:
        _dgemm(_ROW_MAJOR, trans_a, trans_b, m, n, k, 1.0, a[a_off:].ctypes, lda, b[b_off:].ctypes, ldb,
               np.float64(beta), c[c_off:].ctypes, ldc)
