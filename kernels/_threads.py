"""Thread-pool hygiene: Numba's threads do the parallel work, so the BLAS Numba calls runs on one."""

from __future__ import annotations

import os


def single_threaded_blas() -> None:
    """Pin the BLAS behind ``scipy.linalg.cython_blas`` (the one ``np.dot`` in ``njit`` uses) to 1 thread.

    Only SciPy's own BLAS is touched; NumPy's (a separate library in the wheels) keeps its
    threads. Where both share one library (some conda builds) that one is pinned too.
    Set ``GEN_MEDIA_KEEP_BLAS_THREADS=1`` to leave BLAS alone.
    """
    if os.environ.get("GEN_MEDIA_KEEP_BLAS_THREADS") == "1":
        return
    import scipy.linalg.cython_blas  # noqa: F401  (loads SciPy's BLAS so it can be found)
    from threadpoolctl import ThreadpoolController

    scipy_dir = os.path.dirname(os.path.dirname(os.path.abspath(__import__("scipy").__file__)))
    for lib in ThreadpoolController().select(user_api="blas").lib_controllers:
        if lib.filepath.startswith(scipy_dir) and "numpy" not in os.path.basename(os.path.dirname(lib.filepath)):
            lib.set_num_threads(1)
