"""The video dataset container and the frame helpers the video loaders share.

Conventions: a clip is uint8 ``(T, H, W)`` (grayscale) or ``(T, H, W, 3)`` (RGB), time first, 0 = black;
a dataset holds ``(N, T, H, W)`` or ``(N, T, H, W, 3)``. Models get float32 ``(N, C, T, H, W)`` in [0, 1]
from :meth:`VideoDataset.tensors` (the layout ``torch.nn.Conv3d`` / ``ConvTranspose3d`` use).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

__all__ = [
    "PAD_MODES",
    "VIDEO_EXTENSIONS",
    "VideoDataset",
    "center_crop_square",
    "fit_frames",
    "read_video_frames",
    "resize_frames",
]

logger = logging.getLogger(__name__)

VIDEO_EXTENSIONS: tuple[str, ...] = (".mp4", ".avi", ".gif", ".webm", ".mov", ".mkv", ".m4v")
PAD_MODES: tuple[str, ...] = ("last", "zero", "loop")


@dataclass
class VideoDataset:
    """Fixed-size clips, ready for a model.

    Attributes:
        name: dataset name (a key of ``gen_media.data.VIDEO_DATASETS``).
        clips: uint8 ``(N, T, H, W)`` (grayscale) or ``(N, T, H, W, 3)`` (RGB), time first.
        labels: ``(N,)`` int64 indices into ``label_names``, or ``None`` for unlabelled data.
        label_names: class names (``["zero", ..., "nine"]`` for moving-digits; ``[]`` if unlabelled).
        fps: frames per second the clips are meant to play at.
        skipped: reason -> number of source files (or clips) left out, e.g. ``{"unreadable": 1}``.
        split: ``"train"``, ``"test"`` or ``"all"``.
        sources: ``(N,)`` where each clip came from (a file path, ``#k`` for the k-th window of a long file;
            for moving-digits the source digit images, ``"mnist-5k:123"`` or ``"mnist-5k:123+mnist-5k:77"``).
    """

    name: str
    clips: np.ndarray
    labels: np.ndarray | None
    label_names: list[str]
    fps: int
    skipped: dict[str, int] = field(default_factory=dict)
    split: str = "all"
    sources: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        c = self.clips
        if c.dtype != np.uint8 or not (c.ndim == 4 or (c.ndim == 5 and c.shape[-1] == 3)):
            raise ValueError(f"clips must be uint8 (N, T, H, W) or (N, T, H, W, 3), got {c.shape} {c.dtype}")
        if self.labels is not None:
            if self.labels.shape != (len(c),):
                raise ValueError(f"labels must be ({len(c)},), got {self.labels.shape}")
            if len(self.labels) and not (0 <= self.labels.min() and self.labels.max() < len(self.label_names)):
                raise ValueError(f"labels must index label_names ({len(self.label_names)} names), got values "
                                 f"{int(self.labels.min())}..{int(self.labels.max())}")
        if self.sources and len(self.sources) != len(c):
            raise ValueError(f"sources must have {len(c)} entries, got {len(self.sources)}")
        if not (isinstance(self.fps, int | np.integer) and self.fps > 0):
            raise ValueError(f"fps must be a positive integer, got {self.fps!r}")

    def __len__(self) -> int:
        return len(self.clips)

    @property
    def num_frames(self) -> int:
        """``T``, frames per clip."""
        return self.clips.shape[1]

    @property
    def frame_size(self) -> tuple[int, int]:
        """``(H, W)``."""
        return self.clips.shape[2], self.clips.shape[3]

    @property
    def channels(self) -> int:
        """1 (grayscale) or 3 (RGB)."""
        return 1 if self.clips.ndim == 4 else 3

    @property
    def seconds(self) -> float:
        """Clip duration at :attr:`fps`."""
        return self.num_frames / self.fps

    @property
    def num_classes(self) -> int:
        return len(self.label_names)

    def class_counts(self) -> dict[str, int]:
        """Clips per class name (empty for unlabelled data)."""
        if self.labels is None:
            return {}
        counts = np.bincount(self.labels, minlength=len(self.label_names))
        return {name: int(c) for name, c in zip(self.label_names, counts, strict=True)}

    def tensors(self, index=None):
        """``(clips, labels)`` as torch tensors for a model.

        Args:
            index: optional selection of clips (anything numpy indexing takes: a slice, an int array, a mask),
                so that a training loop can keep the uint8 clips and convert one batch at a time (the whole
                default moving-digits train set is 1.6 GB as float32).

        Returns:
            ``clips`` float32 ``(N, C, T, H, W)`` in [0, 1] (``C`` = :attr:`channels`), ``labels`` ``(N,)`` int64
            or ``None``.
        """
        import torch

        clips = self.clips if index is None else self.clips[index]
        labels = None if self.labels is None else (self.labels if index is None else self.labels[index])
        clips = clips[..., None] if clips.ndim == 4 else clips  # (N, T, H, W, C)
        x = np.ascontiguousarray(np.moveaxis(clips, -1, 1), dtype=np.float32)  # (N, C, T, H, W): one copy
        x = torch.from_numpy(x).mul_(1.0 / 255.0)
        return x, (None if labels is None else torch.from_numpy(np.array(labels, dtype=np.int64)))


# --------------------------------------------------------------------------------------------------------------
# frame helpers


def fit_frames(clip: np.ndarray, frames: int, pad: str = "last", start: int = 0) -> np.ndarray:
    """Cut or pad ``(T, ...)`` to ``(frames, ...)`` along time.

    A long clip keeps ``frames`` frames from ``start``; a short one (after ``start``) is padded at the end with
    its last frame (``pad="last"``), black frames (``"zero"``) or by playing it again from its first frame
    (``"loop"``). A clip with no frame left after ``start`` comes back black.
    """
    if pad not in PAD_MODES:
        raise ValueError(f"pad must be one of {list(PAD_MODES)}, got {pad!r}")
    if frames < 1:
        raise ValueError(f"frames must be >= 1, got {frames}")
    clip = clip[start:]
    n = len(clip)
    if n >= frames:
        return clip[:frames]
    out = np.zeros((frames, *clip.shape[1:]), dtype=clip.dtype)
    if n == 0:
        return out
    out[:n] = clip
    if pad == "last":
        out[n:] = clip[-1]
    elif pad == "loop":
        out[n:] = clip[np.arange(n, frames) % n]
    return out


def center_crop_square(frames: np.ndarray) -> np.ndarray:
    """The central ``(T, s, s[, C])`` square of ``(T, H, W[, C])``, ``s = min(H, W)`` (a view)."""
    h, w = frames.shape[1], frames.shape[2]
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    return frames[:, top : top + s, left : left + s]


def resize_frames(frames: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Resize uint8 ``(T, H, W)`` or ``(T, H, W, C)`` to ``(T, h, w[, C])``, ``(h, w) = size``.

    Shrinking both sides uses area averaging (``torch.nn.functional.interpolate(mode="area")``), anything else
    antialiased bilinear interpolation; the result is rounded back to uint8. A frame already at ``size`` is
    returned unchanged.
    """
    import torch
    import torch.nn.functional as F

    h, w = (size, size) if isinstance(size, int | np.integer) else size
    if h < 1 or w < 1:
        raise ValueError(f"size must be positive, got {size!r}")
    if frames.ndim not in (3, 4):
        raise ValueError(f"frames must be (T, H, W) or (T, H, W, C), got {frames.shape}")
    if frames.shape[1:3] == (h, w):
        return frames
    x = torch.from_numpy(frames.astype(np.float32))  # a copy: the input may be read-only
    x = x.unsqueeze(1) if frames.ndim == 3 else x.permute(0, 3, 1, 2)  # (T, C, H, W)
    if h <= frames.shape[1] and w <= frames.shape[2]:
        y = F.interpolate(x, size=(h, w), mode="area")
    else:
        y = F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False, antialias=True)
    y = y.round_().clamp_(0, 255).to(torch.uint8)
    y = y[:, 0] if frames.ndim == 3 else y.permute(0, 2, 3, 1)  # (T, h, w[, C])
    return y.contiguous().numpy()


def _stream_rate(stream) -> float | None:
    for attr in ("average_rate", "guessed_rate", "base_rate"):
        rate = getattr(stream, attr, None)
        if rate:
            rate = float(Fraction(rate))
            if rate > 0:
                return rate
    return None


def read_video_frames(
    path: str | os.PathLike,
    *,
    rgb: bool = False,
    fps: float | None = None,
    max_frames: int | None = None,
) -> tuple[np.ndarray, float | None]:
    """Decode the first video stream of a file with PyAV.

    Args:
        path: any container / codec FFmpeg reads (mp4, avi, gif, webm, ...).
        rgb: ``(T, H, W, 3)`` RGB instead of ``(T, H, W)`` grayscale (full-range luma).
        fps: resample time to this rate: output frame ``k`` is the last source frame shown at ``k / fps``
            seconds after the first (so frames are repeated or dropped); ``None`` keeps every decoded frame.
        max_frames: stop decoding once this many output frames are collected.

    Returns:
        ``(frames uint8 (T, H, W) or (T, H, W, 3), source frame rate or None if the file does not say)``.

    Raises:
        ``av.error.FFmpegError`` (a ``ValueError`` / ``OSError``) for unreadable files, ``ValueError`` for a
        file without a video stream.
    """
    import av

    fmt = "rgb24" if rgb else "gray"
    out: list[np.ndarray] = []
    with av.open(str(path)) as container:
        if not container.streams.video:
            raise ValueError(f"{path}: no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rate = _stream_rate(stream)
        step = 1.0 / rate if rate else 1.0 / 25.0
        t0: float | None = None
        prev: np.ndarray | None = None
        k = 0  # next output frame (when resampling)
        for i, frame in enumerate(container.decode(stream)):
            t = frame.time if frame.time is not None else i * step
            t0 = t if t0 is None else t0
            t -= t0
            if fps is None:
                out.append(frame.to_ndarray(format=fmt))
            else:
                # every target time before this frame's shows the previous frame
                while prev is not None and k / fps < t - 1e-6:
                    out.append(prev)
                    k += 1
                prev = frame.to_ndarray(format=fmt)
            if max_frames is not None and len(out) >= max_frames:
                break
        if fps is not None and prev is not None and (max_frames is None or len(out) < max_frames):
            # the last frame is shown for one source frame period
            end = (t if t0 is not None else 0.0) + step
            while k / fps < end - 1e-6 and (max_frames is None or len(out) < max_frames):
                out.append(prev)
                k += 1
            if not out:
                out.append(prev)
    shape = (0, 0, 0, 3) if rgb else (0, 0, 0)
    frames = np.stack(out) if out else np.zeros(shape, dtype=np.uint8)
    if max_frames is not None:
        frames = frames[:max_frames]
    return frames, rate


def _relative(path: Path, root: Path) -> str:
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
