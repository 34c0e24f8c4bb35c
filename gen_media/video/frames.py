"""Frame conventions for video clips: layouts, dtype conversion, integer upscaling and even-size padding.

A *clip* is an array of frames, NumPy or torch (any device), in one of three layouts:

- ``"THWC"`` (default): ``(T, H, W)`` grayscale or ``(T, H, W, C)`` with ``C`` in {1, 3};
- ``"CTHW"``: ``(C, T, H, W)``, what a ``ConvTranspose3d`` decoder produces per sample;
- ``"TCHW"``: ``(T, C, H, W)``, torchvision's video layout.

Values are ``uint8`` in [0, 255] or floating point in [0, 1]. :func:`to_uint8_frames` turns any of these into
``uint8`` ``(T, H, W)`` / ``(T, H, W, C)`` NumPy frames, the only form the writers touch. NaN/inf never reach a
file: NaN becomes 0 and +-inf are clamped, with a warning; float values outside [0, 1] are clipped, with a warning.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

__all__ = [
    "LAYOUTS",
    "MP4_MIN_SIDE",
    "GRID_MIN_SIDE",
    "auto_scale",
    "mp4_frame_size",
    "pad_even",
    "to_rgb",
    "to_uint8_frames",
    "upscale",
]

LAYOUTS = ("THWC", "CTHW", "TCHW")
MP4_MIN_SIDE = 128  # default MP4/GIF upscaling: short side at least this many pixels (64x64 digits -> x2)
GRID_MIN_SIDE = 64  # default frame-grid upscaling (8x8 digits -> x8; 64x64 stay as they are)


def _to_numpy(x) -> np.ndarray:
    if hasattr(x, "detach"):  # torch tensor, without importing torch here
        x = x.detach()
        if x.is_floating_point() and x.dtype.itemsize < 4:  # bfloat16 has no NumPy dtype
            x = x.float()
        return x.cpu().numpy()
    return np.asarray(x)


def _check_layout(layout: str) -> str:
    if layout not in LAYOUTS:
        raise ValueError(f"layout: expected one of {LAYOUTS}, got {layout!r}")
    return layout


def _to_thwc(x: np.ndarray, layout: str, name: str) -> np.ndarray:
    """Reorder axes to ``(T, H, W)`` / ``(T, H, W, C)`` and check the shape."""
    if layout == "THWC":
        if x.ndim not in (3, 4):
            raise ValueError(f"{name}: expected shape (T, H, W) or (T, H, W, C) for layout 'THWC', got {x.shape}")
        out = x
    elif layout == "CTHW":
        if x.ndim != 4:
            raise ValueError(f"{name}: expected shape (C, T, H, W) for layout 'CTHW', got {x.shape}")
        out = np.moveaxis(x, 0, -1)  # (C, T, H, W) -> (T, H, W, C)
    else:  # TCHW
        if x.ndim != 4:
            raise ValueError(f"{name}: expected shape (T, C, H, W) for layout 'TCHW', got {x.shape}")
        out = np.moveaxis(x, 1, -1)  # (T, C, H, W) -> (T, H, W, C)
    if out.ndim == 4 and out.shape[-1] not in (1, 3):
        hint = ""
        if layout == "THWC" and x.shape[0] in (1, 3):
            hint = " (is it (C, T, H, W)? pass layout='CTHW')"
        elif layout == "THWC" and x.shape[1] in (1, 3):
            hint = " (is it (T, C, H, W)? pass layout='TCHW')"
        raise ValueError(f"{name}: expected 1 or 3 channels, got shape {x.shape} for layout {layout!r}{hint}")
    if min(out.shape[:3]) == 0:
        raise ValueError(f"{name}: empty clip, (T, H, W) = {out.shape[:3]}")
    return out


def to_uint8_frames(x, layout: str = "THWC", *, name: str = "clip") -> np.ndarray:
    """Convert a clip to ``uint8`` frames in the writers' layout.

    Args:
        x: NumPy array or torch tensor (any device, any float dtype incl. bfloat16), shaped per ``layout``:
            ``"THWC"`` ``(T, H, W)`` or ``(T, H, W, C)``; ``"CTHW"`` ``(C, T, H, W)``; ``"TCHW"`` ``(T, C, H, W)``;
            ``C`` in {1, 3}. ``uint8`` values are taken as they are; floats are read as [0, 1]; other integer
            dtypes must already lie in [0, 255]; ``bool`` maps to {0, 255}.
        layout: one of :data:`LAYOUTS`.
        name: how warnings and errors refer to ``x``.

    Returns:
        C-contiguous ``uint8`` ``(T, H, W)`` when ``x`` was ``(T, H, W)``, else ``(T, H, W, C)``.

    Warns:
        RuntimeWarning: NaN/inf values (NaN -> 0, +inf -> 1, -inf -> 0).
        UserWarning: finite float values outside [0, 1] (clipped).
    """
    _check_layout(layout)
    arr = _to_thwc(_to_numpy(x), layout, name)
    if arr.dtype == np.uint8:
        return np.ascontiguousarray(arr)
    if arr.dtype == np.bool_:
        return np.ascontiguousarray(arr, dtype=np.uint8) * np.uint8(255)
    if np.issubdtype(arr.dtype, np.integer):
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi > 255:
            raise ValueError(
                f"{name}: integer frames must lie in [0, 255] (or pass floats in [0, 1]), "
                f"got dtype {arr.dtype} with range [{lo}, {hi}]"
            )
        return np.ascontiguousarray(arr, dtype=np.uint8)
    if not np.issubdtype(arr.dtype, np.floating):
        raise TypeError(f"{name}: expected uint8 or floating frames, got dtype {arr.dtype}")
    f = arr.astype(np.float32, copy=True)
    bad = ~np.isfinite(f)
    if bad.any():
        warnings.warn(
            f"{name}: {int(bad.sum())} NaN/inf values replaced (NaN -> 0, +inf -> 1, -inf -> 0)",
            RuntimeWarning,
            stacklevel=2,
        )
        np.nan_to_num(f, copy=False, nan=0.0, posinf=1.0, neginf=0.0)
    out = (f < 0.0) | (f > 1.0)
    if out.any():
        warnings.warn(
            f"{name}: {int(out.sum())} values outside [0, 1] clipped (range was [{f.min():.3g}, {f.max():.3g}])",
            UserWarning,
            stacklevel=2,
        )
        np.clip(f, 0.0, 1.0, out=f)
    return np.ascontiguousarray(np.rint(f * 255.0), dtype=np.uint8)


def to_rgb(frames: np.ndarray) -> np.ndarray:
    """``uint8`` ``(T, H, W)`` / ``(T, H, W, 1)`` / ``(T, H, W, 3)`` -> ``(T, H, W, 3)`` (gray repeated)."""
    if frames.ndim == 3:
        frames = frames[..., None]  # (T, H, W, 1)
    if frames.shape[-1] == 1:
        return np.repeat(frames, 3, axis=-1)  # (T, H, W, 3)
    return frames


def auto_scale(height: int, width: int, min_side: int = MP4_MIN_SIDE) -> int:
    """Smallest integer factor ``s >= 1`` with ``min(height, width) * s >= min_side``."""
    return max(1, math.ceil(min_side / max(1, min(height, width))))


def _check_scale(scale: int | None, height: int, width: int, min_side: int) -> int:
    if scale is None:
        return auto_scale(height, width, min_side)
    if isinstance(scale, bool) or not isinstance(scale, int | np.integer) or scale < 1:
        raise ValueError(f"scale: expected a positive int or None (automatic), got {scale!r}")
    return int(scale)


def upscale(frames: np.ndarray, scale: int) -> np.ndarray:
    """Nearest-neighbour integer upscaling of ``(T, H, W[, C])`` to ``(T, H*scale, W*scale[, C])``."""
    if scale == 1:
        return frames
    return np.repeat(np.repeat(frames, scale, axis=1), scale, axis=2)


def pad_even(frames: np.ndarray) -> np.ndarray:
    """Pad ``(T, H, W[, C])`` by one replicated edge row/column at the bottom/right where H/W is odd."""
    ph, pw = frames.shape[1] % 2, frames.shape[2] % 2
    if not (ph or pw):
        return frames
    pad = [(0, 0), (0, ph), (0, pw)] + [(0, 0)] * (frames.ndim - 3)
    return np.pad(frames, pad, mode="edge")


def mp4_frame_size(height: int, width: int, scale: int | None = None) -> tuple[int, int]:
    """The ``(height, width)`` that :func:`~gen_media.video.write_mp4` encodes an ``H x W`` clip at.

    ``scale=None`` picks :func:`auto_scale` (short side at least :data:`MP4_MIN_SIDE` = 128 px); the scaled size
    is then rounded up to even numbers (H.264 4:2:0 needs them) by edge replication.
    """
    s = _check_scale(scale, height, width, MP4_MIN_SIDE)
    h, w = height * s, width * s
    return h + h % 2, w + w % 2
