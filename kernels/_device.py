"""The CUDA target's device arrays: callers' arrays as Numba device arrays (:func:`as_device`), and where results
and scratch arrays come from: Numba's ``cuda.device_array`` (a ``cuMemAlloc``
per array, freed later in batches by ``cuMemFree``, which waits for the device), or, inside :func:`allocator`, a
framework's caching allocator such as torch's, which hands back recycled blocks without a driver call."""

from __future__ import annotations

import contextlib
import contextvars

import numpy as np
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
    return as_device(make(tuple(shape), dtype))


def as_device(a):
    """A Numba device array for ``a``: device arrays pass through (without a copy), host arrays
    are copied over. Device arrays must be C-contiguous (the caller reshapes them to 5-D)."""
    if getattr(a, "__cuda_ndarray__", False):  # Numba's own device array (real or simulated)
        d = a
    elif hasattr(a, "__cuda_array_interface__"):  # e.g. a torch CUDA tensor: a zero-copy view
        if not hasattr(cuda, "as_cuda_array"):
            raise TypeError(f"got a foreign CUDA array ({type(a).__name__}), which the CUDA "
                            "simulator cannot read; pass a NumPy array or a numba.cuda device array")
        d = cuda.as_cuda_array(a)
    else:
        return cuda.to_device(np.ascontiguousarray(a))
    if not d.is_c_contiguous():
        raise ValueError(f"expected a C-contiguous CUDA device array, got shape {tuple(d.shape)} with "
                         f"strides {tuple(d.strides)}; make a contiguous copy first (torch: .contiguous())")
    return d
