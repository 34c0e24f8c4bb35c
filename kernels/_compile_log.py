"""Log each JIT compilation of a kernel on the ``kernels`` logger (INFO).

On a cold cache a kernel family takes 5-20 s to compile (81 s for both default decoders on 2 cores), which would
otherwise look like a hung first call. Numba fires ``numba:compile`` only when it really compiles, not when it
loads the cache, so a warm process logs nothing. Only the outermost compilation is logged: it compiles the
helpers it calls itself.
"""

from __future__ import annotations

import logging
import threading
import time

from numba.core import event, types

log = logging.getLogger("kernels")


def _describe(data: dict) -> str:
    """``cpu._forward_kernel (float32)``: the function and its first array's dtype."""
    func = data["dispatcher"].py_func
    name = f"{func.__module__.removeprefix('kernels.')}.{func.__qualname__}"
    dtypes = [str(a.dtype) for a in data["args"] if isinstance(a, types.Array)]
    return f"{name} ({dtypes[0]})" if dtypes else name


class _CompileLog(event.Listener):
    def __init__(self) -> None:
        self._local = threading.local()  # per thread: nesting depth, and the start of a logged compilation

    def on_start(self, ev: event.Event) -> None:
        depth = getattr(self._local, "depth", 0)
        self._local.depth = depth + 1
        func = getattr(ev.data.get("dispatcher"), "py_func", None)  # other targets may send other data
        if depth == 0 and getattr(func, "__module__", "").startswith("kernels."):
            self._local.started = time.perf_counter()
            log.info("compiling %s with Numba (once: later processes load it from the cache)",
                     _describe(ev.data))

    def on_end(self, ev: event.Event) -> None:
        self._local.depth -= 1
        started = getattr(self._local, "started", None)
        if self._local.depth == 0 and started is not None:
            self._local.started = None
            # A failed compilation (a typing error, raised to the caller) added no overload; Numba 0.68's
            # Event.is_failed cannot tell (it is never True on an END event).
            if tuple(ev.data["args"]) not in ev.data["dispatcher"].overloads:
                return
            log.info("compiled %s in %.1f s", _describe(ev.data), time.perf_counter() - started)


def install() -> None:
    """Register the listener (once per process: ``kernels`` calls this on import)."""
    event.register("numba:compile", _CompileLog())
