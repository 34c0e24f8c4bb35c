"""CPU kernels for Griffin-Lim vocoding around the FFTs: mel inversion and the phase update.

* :func:`mel_nnls` refines ``min_s ||A s - m||^2, s >= 0`` by FISTA, one frame at a time. The problem is
  separable over frames and a mel filterbank ``A`` is banded (each triangular filter covers a few
  neighbouring bins: about ``2 * n_freqs`` non-zeros of ``n_mels * n_freqs``), so each frame's iterations
  run on its own, in cache, with sparse products: ~``n_mels / 2`` times fewer flops than dense matmuls.
* :func:`phase_step` is one fast Griffin-Lim update fused into a single pass:
  ``X = mag * c / |c|`` with ``c = rebuilt - factor * prev`` (the momentum step, then the projection onto
  the given magnitude), instead of four elementwise tensor operations and their temporaries.

NumPy arrays in and out; no torch.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

__all__ = ["BandedMatrix", "banded", "mel_nnls", "mel_nnls_reference", "phase_step", "phase_step_reference"]


_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))  # native byte order: what the kernels compile for
_COMPLEX = (np.dtype(np.complex64), np.dtype(np.complex128))


class BandedMatrix:
    """A non-negative matrix ``(rows, cols)`` stored as one contiguous run of columns per row:
    ``values[ptr[r]:ptr[r + 1]]`` sit at columns ``start[r], start[r] + 1, ...``.

    The runs are checked against ``shape`` here, once: :func:`mel_nnls`'s kernel indexes by them unchecked."""

    def __init__(self, start: np.ndarray, ptr: np.ndarray, values: np.ndarray, shape: tuple[int, int]) -> None:
        rows, cols = shape
        start, ptr = np.ascontiguousarray(start, np.int64), np.ascontiguousarray(ptr, np.int64)
        values = np.ascontiguousarray(values)
        lengths = np.diff(ptr)
        if (start.shape != (rows,) or ptr.shape != (rows + 1,) or ptr[0] != 0 or ptr[-1] != values.size
                or values.ndim != 1 or (lengths < 0).any() or (start < 0).any() or (start + lengths > cols).any()):
            raise ValueError(f"BandedMatrix: runs (start {start.shape}, ptr {ptr.shape}, values {values.shape}) "
                             f"that do not fit shape {tuple(shape)}: expected ptr rising from 0 to values.size and "
                             "each row's run within [0, cols)")
        self.start, self.ptr, self.values, self.shape = start, ptr, values, (int(rows), int(cols))

    def dense(self) -> np.ndarray:
        out = np.zeros(self.shape, self.values.dtype)
        for r in range(self.shape[0]):
            n = self.ptr[r + 1] - self.ptr[r]
            out[r, self.start[r]:self.start[r] + n] = self.values[self.ptr[r]:self.ptr[r + 1]]
        return out


def banded(a: np.ndarray, dtype=np.float32) -> BandedMatrix:
    """Pack ``a`` ``(rows, cols)``: each row keeps the span from its first to its last non-zero."""
    a = np.asarray(a)
    if a.ndim != 2:
        raise ValueError(f"a: expected a 2-D matrix, got shape {a.shape}")
    start, ptr, values = np.zeros(a.shape[0], np.int64), np.zeros(a.shape[0] + 1, np.int64), []
    for r, row in enumerate(a):
        nz = np.flatnonzero(row)
        lo, hi = (nz[0], nz[-1] + 1) if nz.size else (0, 0)
        start[r], ptr[r + 1] = lo, ptr[r] + hi - lo
        values.append(row[lo:hi])
    return BandedMatrix(start, ptr, np.ascontiguousarray(np.concatenate(values), dtype=dtype), a.shape)


@njit(parallel=True, fastmath=True, cache=True)
def _nnls_kernel(s0, m, start, ptr, values, step, n_iter, out):  # pragma: no cover - compiled
    n_frames, n_cols = s0.shape
    n_rows = m.shape[1]
    for p in prange(n_frames):
        x_prev = s0[p].copy()
        y = s0[p].copy()
        g = np.empty(n_cols, s0.dtype)
        r = np.empty(n_rows, s0.dtype)
        t = 1.0
        for _ in range(n_iter):
            for b in range(n_rows):  # r = A y - m
                acc = 0.0
                for j in range(ptr[b + 1] - ptr[b]):
                    acc += values[ptr[b] + j] * y[start[b] + j]
                r[b] = acc - m[p, b]
            g[:] = 0.0
            for b in range(n_rows):  # g = A^T r
                for j in range(ptr[b + 1] - ptr[b]):
                    g[start[b] + j] += values[ptr[b] + j] * r[b]
            t_next = (1.0 + np.sqrt(1.0 + 4.0 * t * t)) / 2.0
            beta = (t - 1.0) / t_next
            for f in range(n_cols):  # projected gradient step, then Nesterov extrapolation
                x = max(y[f] - step * g[f], 0.0)
                y[f] = x + beta * (x - x_prev[f])
                x_prev[f] = x
            t = t_next
        for f in range(n_cols):  # a loop, not out[p] = x_prev: see kernels._runs on slice assignment
            out[p, f] = x_prev[f]


def _check_nnls(s0: np.ndarray, m: np.ndarray, a: BandedMatrix, n_iter: int) -> None:
    if not isinstance(a, BandedMatrix):
        raise TypeError(f"a: expected a BandedMatrix (see banded()), got {type(a).__name__}")
    for name, arr in (("s0", s0), ("m", m)):
        if not isinstance(arr, np.ndarray) or arr.dtype not in _FLOATS or arr.ndim != 2:
            raise TypeError(f"{name}: expected a 2-D native float32/float64 np.ndarray, got "
                            f"{getattr(arr, 'dtype', type(arr))} {getattr(arr, 'shape', '')}")
    if s0.shape[1] != a.shape[1] or m.shape != (s0.shape[0], a.shape[0]) or s0.dtype != m.dtype:
        raise ValueError(f"expected s0 (P, {a.shape[1]}) and m (P, {a.shape[0]}) of one dtype, got "
                         f"s0 {s0.shape} {s0.dtype} and m {m.shape} {m.dtype}")
    if isinstance(n_iter, bool) or not isinstance(n_iter, int | np.integer):
        raise TypeError(f"n_iter: expected an int, got {type(n_iter).__name__}")
    if n_iter < 0:
        raise ValueError(f"n_iter: expected an int >= 0, got {n_iter!r}")


def mel_nnls(s0: np.ndarray, m: np.ndarray, a: BandedMatrix, lipschitz: float, n_iter: int) -> np.ndarray:
    """FISTA (step ``1 / lipschitz``, ``lipschitz >= ||A||_2^2``) on ``min_s ||A s - m||^2, s >= 0`` per frame.

    Args:
        s0: ``(P, cols)`` start points (e.g. the clamped pseudo-inverse solution), one frame per row.
        m: ``(P, rows)`` targets (linear mel frames), ``s0``'s dtype.
        a: the ``(rows, cols)`` matrix, :func:`banded` in ``s0``'s dtype.

    Returns:
        ``(P, cols)`` non-negative solutions.
    """
    _check_nnls(s0, m, a, n_iter)
    s0, m = np.ascontiguousarray(s0), np.ascontiguousarray(m)
    out = np.empty_like(s0)
    _nnls_kernel(s0, m, a.start, a.ptr, a.values.astype(s0.dtype, copy=False), s0.dtype.type(1.0 / lipschitz),
                 int(n_iter), out)
    return out


def mel_nnls_reference(s0: np.ndarray, m: np.ndarray, a: np.ndarray, lipschitz: float, n_iter: int) -> np.ndarray:
    """Dense float64 FISTA, the definition :func:`mel_nnls` is tested against (``a`` dense)."""
    x_prev = y = s0.astype(np.float64)
    a, m, t = np.asarray(a, np.float64), m.astype(np.float64), 1.0
    for _ in range(n_iter):
        x = np.maximum(y - ((y @ a.T - m) @ a) / lipschitz, 0.0)
        t_next = (1.0 + np.sqrt(1.0 + 4.0 * t * t)) / 2.0
        y = x + (t - 1.0) / t_next * (x - x_prev)
        x_prev, t = x, t_next
    return x_prev


@njit(parallel=True, fastmath=True, cache=True)
def _phase_kernel(rebuilt, prev, mag, factor, out):  # pragma: no cover - compiled
    n_rows, n_cols = rebuilt.shape
    for p in prange(n_rows):
        for f in range(n_cols):
            c = rebuilt[p, f] - factor * prev[p, f]
            scale = mag[p, f] / (np.sqrt(c.real * c.real + c.imag * c.imag) + 1e-16)
            out[p, f] = c * scale


def phase_step(rebuilt: np.ndarray, prev: np.ndarray, mag: np.ndarray, factor: float,
               out: np.ndarray | None = None) -> np.ndarray:
    """``mag * c / (|c| + 1e-16)`` with ``c = rebuilt - factor * prev``, in one pass.

    Args:
        rebuilt, prev: ``(..., F)`` complex64/complex128, this and the previous iteration's STFT.
        mag: ``(..., F)`` target magnitude, the matching real dtype.
        factor: momentum ``m / (1 + m)`` (0: classic Griffin-Lim).
        out: optional C-contiguous destination of the same shape; it may be ``prev`` or ``rebuilt`` (elementwise).

    Returns:
        ``out``, the next iteration's spectrum.
    """
    if not (isinstance(rebuilt, np.ndarray) and rebuilt.dtype in _COMPLEX):
        got = getattr(rebuilt, "dtype", type(rebuilt))
        raise TypeError(f"rebuilt: expected a native complex64/complex128 np.ndarray, got {got}")
    real = np.float32 if rebuilt.dtype == np.complex64 else np.float64
    if rebuilt.ndim < 1 or prev.shape != rebuilt.shape or mag.shape != rebuilt.shape:
        raise ValueError(f"expected rebuilt, prev and mag of one (..., F) shape, got {rebuilt.shape}, "
                         f"{prev.shape}, {mag.shape}")
    if prev.dtype != rebuilt.dtype or mag.dtype != real:
        raise TypeError(f"expected prev {rebuilt.dtype} and mag {np.dtype(real)}, got {prev.dtype} and {mag.dtype}")
    if out is None:
        out = np.empty(rebuilt.shape, rebuilt.dtype)  # C order whatever rebuilt's, so reshape below is a view
    elif out.shape != rebuilt.shape or out.dtype != rebuilt.dtype or not out.flags.c_contiguous:
        raise ValueError(f"out: expected a C-contiguous {rebuilt.shape} {rebuilt.dtype} array")
    n_f = rebuilt.shape[-1]
    _phase_kernel(rebuilt.reshape(-1, n_f), prev.reshape(-1, n_f), mag.reshape(-1, n_f), real(factor),
                  out.reshape(-1, n_f))  # a C-contiguous out reshapes to a view
    return out


def phase_step_reference(rebuilt: np.ndarray, prev: np.ndarray, mag: np.ndarray, factor: float) -> np.ndarray:
    """NumPy definition of :func:`phase_step`."""
    c = rebuilt.astype(np.complex128) - factor * prev.astype(np.complex128)
    return mag * c / (np.abs(c) + 1e-16)
