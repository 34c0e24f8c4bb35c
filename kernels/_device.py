"""Where the CUDA target's results and scratch arrays come from: Numba's ``cuda.device_array`` (a ``cuMemAlloc``
per array, freed later in batches by ``cuMemFree``, which waits for the device), or, inside :func:`allocator`, a
framework's caching allocator such as torch's, which hands back recycled blocks without a driver call."""

from __future__ import annotations

import contextlib
import contextvars

from numba import cuda

_ALLOCATOR: contextvars.ContextVar = contextvars.ContextVar("kernels_cuda_allocator", default=None)


@contextlib.contextmanager
def allocator(empty):
    """Inside the ``with`` block (in this thread or task), the CUDA target allocates its results and scratch
    arrays with ``empty(shape, dtype)`` (``dtype`` a NumPy dtype), which returns a C-contiguous array with
    ``__cuda_array_interface__`` on the current device, e.g. ``torch.empty(shape, dtype=..., device="cuda")``.
    The kernels write it on the legacy default stream; ``gen_media.nn`` orders that stream with torch's."""
    token = _ALLOCATOR.set(empty)
    try:
        yield
    finally:
        _ALLOCATOR.reset(token)


def empty(shape, dtype):
    """An uninitialised device array of ``shape`` and ``dtype`` from the current allocator."""
    make = _ALLOCATOR.get()
    if make is None:
        return cuda.device_array(shape, dtype=dtype)
    a = make(tuple(shape), dtype)
    return a if getattr(a, "__cuda_ndarray__", False) else cuda.as_cuda_array(a)
