"""Overlap-add: the synthesis half of an inverse STFT, as a dedicated CPU kernel.

Overlap-add *is* a transposed convolution: ``out[t * hop + k] += w[k] * frames[t, k]`` is
``conv_transpose1d`` with stride = hop and kernel = the frame length. But each frame sample feeds exactly
one output sample, so as a convolution it has one input channel per frame sample and a diagonal weight
(``K`` times the work), or, in the polyphase form, ``hop`` groups of ``K / hop`` channels with ``K / hop``
taps of which one is non-zero. Here it is written directly: every output block of ``hop`` samples gathers
the ``ceil(K / hop)`` frames that cover it, so blocks are independent (no races, no atomics) and the inner
loop runs over a contiguous frame axis. Window, normalisation and the crop of the padding are fused in,
so an inverse STFT is one ``irfft`` plus one pass over the frames.

NumPy arrays in, NumPy arrays out; no torch.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

__all__ = ["overlap_add", "overlap_add_reference"]

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))  # native byte order: what the kernel compiles for


@njit(parallel=True, fastmath=True, cache=True)
def _ola_kernel(frames, hop, window, norm, offset, out):  # pragma: no cover - compiled
    n_batch, n_t, k_len = frames.shape
    length = out.shape[1]
    total = (n_t - 1) * hop + k_len
    n_blocks = (length + hop - 1) // hop
    for job in prange(n_batch * n_blocks):
        n = job // n_blocks
        i0 = (job % n_blocks) * hop + offset  # block [i0, i1) in the uncropped signal
        i1 = min(i0 + hop, length + offset)
        for i in range(i0, i1):
            out[n, i - offset] = 0.0
        t_lo = max(0, (i0 - k_len) // hop + 1)  # first frame with t * hop + K > i0
        t_hi = min(n_t, (i1 - 1) // hop + 1)  # one past the last frame with t * hop < i1
        for t in range(t_lo, t_hi):
            start = t * hop
            k0 = max(i0 - start, 0)
            k1 = min(i1 - start, k_len)
            for k in range(k0, k1):  # contiguous in frames[n, t, :]
                out[n, start + k - offset] += frames[n, t, k] * window[k]
        for i in range(i0, min(i1, total)):
            out[n, i - offset] /= norm[i]


def _check(frames, hop, window, norm, offset, length) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    if not isinstance(frames, np.ndarray) or frames.dtype not in _FLOATS:
        raise TypeError(f"frames: expected a native float32/float64 np.ndarray, got "
                        f"{getattr(frames, 'dtype', type(frames))}")
    if frames.ndim not in (2, 3) or 0 in frames.shape:
        raise ValueError(f"frames: expected a non-empty (N, frames, frame_length) or (frames, frame_length) array, "
                         f"got shape {frames.shape}")
    if isinstance(hop, bool) or not isinstance(hop, int | np.integer) or hop < 1:
        raise ValueError(f"hop: expected an int >= 1, got {hop!r}")
    n_t, k_len = frames.shape[-2:]
    total = (n_t - 1) * int(hop) + k_len
    dt = frames.dtype
    window = np.ones(k_len, dt) if window is None else np.ascontiguousarray(window, dtype=dt)
    if window.shape != (k_len,):
        raise ValueError(f"window: expected shape ({k_len},) (the frame length), got {window.shape}")
    norm = np.ones(total, dt) if norm is None else np.ascontiguousarray(norm, dtype=dt)
    if norm.shape != (total,):
        raise ValueError(f"norm: expected shape ({total},) ((frames - 1) * hop + frame_length), got {norm.shape}")
    if isinstance(offset, bool) or not isinstance(offset, int | np.integer) or not 0 <= offset <= total:
        raise ValueError(f"offset: expected an int in [0, {total}], got {offset!r}")
    length = total - int(offset) if length is None else length
    if isinstance(length, bool) or not isinstance(length, int | np.integer) or length < 0:
        raise ValueError(f"length: expected an int >= 0 or None, got {length!r}")
    return window, norm, np.ascontiguousarray(frames), int(length)


def overlap_add(frames: np.ndarray, hop: int, window: np.ndarray | None = None, *, norm: np.ndarray | None = None,
                offset: int = 0, length: int | None = None) -> np.ndarray:
    """Windowed overlap-add of frames, cropped: ``y[i] = sum_t w[k] frames[t, k] / norm[i + offset]`` where
    ``t * hop + k = i + offset``.

    Args:
        frames: ``(N, T, K)`` or ``(T, K)`` float32/float64, frame-major (each frame contiguous).
        hop: samples between frame starts.
        window: ``(K,)`` synthesis window (default ones).
        norm: ``(total,)`` divisor per uncropped sample, ``total = (T - 1) * hop + K`` (an inverse STFT passes the
            summed squared window); default ones.
        offset: uncropped samples dropped at the start (an inverse STFT's padding).
        length: samples returned; default ``total - offset``; samples past ``total`` are zero.

    Returns:
        ``(N, length)`` or ``(length,)``, the frames' dtype.
    """
    window, norm, frames, length = _check(frames, hop, window, norm, offset, length)
    x = frames if frames.ndim == 3 else frames[None]
    out = np.empty((x.shape[0], length), frames.dtype)
    if length:
        _ola_kernel(x, int(hop), window, norm, int(offset), out)
    return out if frames.ndim == 3 else out[0]


def overlap_add_reference(frames: np.ndarray, hop: int, window: np.ndarray | None = None, *,
                          norm: np.ndarray | None = None, offset: int = 0, length: int | None = None) -> np.ndarray:
    """Plain-loop float64 definition of :func:`overlap_add` (the test oracle)."""
    window, norm, frames, length = _check(frames, hop, window, norm, offset, length)
    x = frames.astype(np.float64) if frames.ndim == 3 else frames[None].astype(np.float64)
    n_batch, n_t, k_len = x.shape
    total = (n_t - 1) * hop + k_len
    full = np.zeros((n_batch, max(total, offset + length)))
    for n in range(n_batch):
        for t in range(n_t):
            for k in range(k_len):
                full[n, t * hop + k] += window[k] * x[n, t, k]
    full[:, :total] /= norm
    out = full[:, offset:offset + length]
    return out if frames.ndim == 3 else out[0]
