"""A per-frame digit classifier for moving-digit clips and the scores the video recipe's ``evaluate`` reports.

The classifier sees one grayscale frame at a time (``(N, 1, H, W)`` in ``[0, 1]``, 64 x 64 by default) and must
find the digit wherever it sits on the canvas: it is fully convolutional with global max- and mean-pooling, and it
is trained on real digits pasted at random positions (:func:`paste_digits`) under random small affine jitter,
blur, contrast and noise (:func:`augment_frames`), so that it also reads a generator's slightly blurry frames.
Clips are scored frame by frame and the frames' class probabilities averaged, the way Inception scores images:

* ``accuracy``: does the clip (mean probability over its frames) show the digit the generator was asked for?
  ``frame_accuracy``: the same per frame (a digit that dissolves half-way through scores lower here).
* ``inception_score``: ``exp(E_x KL(p(y|x) || p(y)))`` of the clip-level probabilities, in ``[1, n_classes]``.
* ``frechet_distance``: Frechet distance between Gaussians fitted to clip embeddings (the classifier's penultimate
  frame embeddings averaged over the clip's frames) of the scored clips and of reference (real) clips.
* :func:`temporal_change`: mean absolute frame-to-frame change per pixel; report it for generated and real clips
  (and their ratio): a still clip scores 0, flicker scores high.

The statistics themselves (IS, FD) live in :mod:`gen_media.eval.metrics`, shared with the speech recipe.
Clips are ``(N, 1, T, H, W)`` (what a ConvTranspose3d decoder makes) or ``(N, T, H, W)``, float in ``[0, 1]``
(uint8 in ``[0, 255]`` is accepted and scaled); labels are integer classes ``(N,)``.

Typical use::

    x_tr, y_tr = paste_digits(train_digits, train_digit_labels, copies=2, seed=0)   # (N, 1, 64, 64)
    x_va, y_va = paste_digits(test_digits, test_digit_labels, seed=1)
    model, val_acc = train_frame_classifier(x_tr, y_tr, x_va, y_va, seed=0)
    save_frame_classifier(run_dir / "frame_classifier.pt", model, dataset="moving-digits")
    ref = embed_clips(model, real_clips)                                           # (M, D) real reference
    real = clip_scores(model, held_out_clips, held_out_labels, reference_embeddings=ref)   # the ceiling
    fake = clip_scores(model, generated_clips, wanted_labels, reference_embeddings=ref)
    ratio = temporal_change(generated_clips) / temporal_change(real_clips)
"""

from __future__ import annotations

import dataclasses
import math
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gen_media.files import atomic_write

from .fit import fit_classifier
from .metrics import frechet_distance_from_stats, gaussian_stats, inception_score

__all__ = [
    "FrameClassifierConfig",
    "FrameDigitClassifier",
    "augment_frames",
    "clip_scores",
    "embed_clips",
    "embed_frames",
    "load_frame_classifier",
    "paste_digits",
    "predict_frames",
    "save_frame_classifier",
    "temporal_change",
    "train_frame_classifier",
]

CHECKPOINT_FORMAT = "gen_media.eval.FrameDigitClassifier"
CHECKPOINT_VERSION = 1

ArrayLike = np.ndarray | torch.Tensor


@dataclasses.dataclass(frozen=True)
class FrameClassifierConfig:
    """Constructor arguments of :class:`FrameDigitClassifier`; saved in every classifier checkpoint.

    Attributes:
        height, width: frame size. The network is fully convolutional, but inputs are checked against this so a
            classifier is never silently applied to frames of another size.
        n_classes: number of classes.
        channels: output channels of the stem (a 5 x 5 conv with stride 2) and of the 3 x 3 conv blocks after
            it; a 2 x 2 max-pool follows every block but the last. The default's receptive field is 39 pixels,
            more than a 28 x 28 MNIST digit.
        embed_dim: size ``D`` of the penultimate embedding (:meth:`FrameDigitClassifier.embed`).
        dropout: dropout before the classifier layer (training only; the augmentation regularises enough that
            it only slowed short trainings down).
    """

    height: int = 64
    width: int = 64
    n_classes: int = 10
    channels: tuple[int, ...] = (16, 32, 64, 64)
    embed_dim: int = 64
    dropout: float = 0.0

    def __post_init__(self) -> None:
        for name in ("height", "width", "n_classes", "embed_dim"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"FrameClassifierConfig.{name}: expected a positive int, got {value!r}")
        if self.n_classes < 2:
            raise ValueError(f"FrameClassifierConfig.n_classes: expected at least 2, got {self.n_classes}")
        channels = tuple(self.channels)
        if len(channels) < 2 or any(isinstance(c, bool) or not isinstance(c, int) or c < 1 for c in channels):
            raise ValueError(f"FrameClassifierConfig.channels: expected a tuple of at least 2 positive ints "
                             f"(stem + blocks), got {self.channels!r}")
        object.__setattr__(self, "channels", channels)  # a list from JSON/TOML becomes a tuple
        min_size = 2 ** (len(channels) - 1)  # the stem halves the size, then every pool but the last block's
        if self.height < min_size or self.width < min_size:
            raise ValueError(f"FrameClassifierConfig: frames of {self.height} x {self.width} are too small for "
                             f"{len(channels)} stages (expected at least {min_size} x {min_size})")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"FrameClassifierConfig.dropout: expected a float in [0, 1), got {self.dropout!r}")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["channels"] = list(self.channels)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FrameClassifierConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown FrameClassifierConfig field(s) {unknown}; known: {sorted(names)}")
        return cls(**{**d, "channels": tuple(d.get("channels", cls.channels))})


# ------------------------------------------------------------------------------------------------ input checks


def _as_tensor(x: Any, what: str) -> torch.Tensor:
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(np.ascontiguousarray(x))
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{what}: expected a torch.Tensor or np.ndarray, got {type(x).__name__}")
    return x


def _to_unit_float(x: torch.Tensor, what: str) -> torch.Tensor:
    """uint8 in [0, 255] -> float32 in [0, 1]; floats -> float32 (a warning if clearly not in [0, 1])."""
    if x.dtype == torch.uint8:
        return x.float() / 255.0
    if not x.is_floating_point():
        raise TypeError(f"{what}: expected float pixels in [0, 1] (or uint8 in [0, 255]), got dtype {x.dtype}")
    x = x.float()
    if x.numel():
        lo, hi = float(x.min()), float(x.max())
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise ValueError(f"{what}: contains NaN or inf")
        if lo < -0.5 or hi > 1.5:
            warnings.warn(f"{what}: pixel values span [{lo:.3g}, {hi:.3g}], expected [0, 1] (0-255 data should be "
                          f"divided by 255 or passed as uint8)", RuntimeWarning, stacklevel=3)
    return x


def _check_frames(frames: ArrayLike, height: int | None, width: int | None, what: str = "frames") -> torch.Tensor:
    """Frames ``(N, 1, H, W)`` or ``(N, H, W)`` as float32 ``(N, 1, H, W)``; ``None`` sizes accept any."""
    x = _as_tensor(frames, what)
    want = f"(N, 1, H={height if height is not None else 'H'}, W={width if width is not None else 'W'})"
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4 or x.shape[1] != 1 or (height is not None and x.shape[2] != height) or \
            (width is not None and x.shape[3] != width):
        raise ValueError(f"{what}: expected grayscale frames of shape {want} or (N, H, W), "
                         f"got {tuple(_as_tensor(frames, what).shape)}")
    return _to_unit_float(x, what)


def _check_clips(clips: ArrayLike, height: int | None, width: int | None, what: str = "clips",
                 min_frames: int = 1) -> torch.Tensor:
    """Clips ``(N, 1, T, H, W)`` or ``(N, T, H, W)`` as float32 ``(N, T, H, W)``."""
    x = _as_tensor(clips, what)
    shape = tuple(x.shape)
    hw = f"H={height}, W={width}" if height is not None else "H, W"
    if x.ndim == 5:
        if x.shape[1] != 1:
            raise ValueError(f"{what}: expected grayscale clips of shape (N, 1, T, {hw}) or (N, T, {hw}), "
                             f"got {shape} (channel axis {x.shape[1]}, expected 1)")
        x = x[:, 0]
    if x.ndim != 4 or (height is not None and tuple(x.shape[2:]) != (height, width)):
        raise ValueError(f"{what}: expected grayscale clips of shape (N, 1, T, {hw}) or (N, T, {hw}), got {shape}")
    if x.shape[1] < min_frames:
        raise ValueError(f"{what}: expected at least {min_frames} frames per clip, got {x.shape[1]} (shape {shape})")
    return _to_unit_float(x, what)


def _check_labels(labels: ArrayLike, n: int, n_classes: int, what: str = "labels") -> torch.Tensor:
    """``labels`` as an int64 tensor ``(n,)`` with values in ``[0, n_classes)``."""
    if isinstance(labels, np.ndarray):
        labels = torch.from_numpy(labels)
    if not isinstance(labels, torch.Tensor):
        labels = torch.as_tensor(labels)
    if labels.is_floating_point() or labels.dtype == torch.bool:
        raise TypeError(f"{what}: expected integer class indices, got dtype {labels.dtype}")
    if tuple(labels.shape) != (n,):
        raise ValueError(f"{what}: expected shape ({n},), one label per clip/frame, got {tuple(labels.shape)}")
    labels = labels.long()
    if n and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(f"{what}: expected values in [0, {n_classes}), got range "
                         f"[{int(labels.min())}, {int(labels.max())}]")
    return labels


# ----------------------------------------------------------------------------------------------------- model


class FrameDigitClassifier(nn.Module):
    """Small translation-robust CNN on single grayscale frames.

    Stem (5 x 5 conv, stride 2) then 3 x 3 conv blocks (conv, batch norm, ReLU; 2 x 2 max-pool after all but the
    last), then global max- and mean-pooling over space: the digit may sit anywhere on the canvas. Zero padding
    matches the black background, so a digit reads the same near the border as in the middle.

    Shapes: input ``(N, 1, H, W)`` in ``[0, 1]`` -> :meth:`embed` ``(N, embed_dim)`` (the penultimate layer before
    its ReLU: no dead units, so its covariance is full-rank for the Frechet distance) -> ReLU, dropout, linear ->
    :meth:`forward` ``(N, n_classes)`` logits.

    Args:
        **kwargs: :class:`FrameClassifierConfig` fields (``height``, ``width``, ``n_classes``, ``channels``, ...).
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__()
        self.config = FrameClassifierConfig(**kwargs)
        cfg = self.config
        self.meta: dict[str, Any] = {}  # free-form, JSON-like: saved with the checkpoint (training summary, ...)
        c0 = cfg.channels[0]
        blocks: list[nn.Module] = [
            nn.Conv2d(1, c0, 5, stride=2, padding=2, bias=False),
            nn.BatchNorm2d(c0),
            nn.ReLU(inplace=True),
        ]
        c_in = c0
        for i, c_out in enumerate(cfg.channels[1:]):
            blocks += [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
            if i < len(cfg.channels) - 2:
                blocks.append(nn.MaxPool2d(2, ceil_mode=True))
            c_in = c_out
        self.features = nn.Sequential(*blocks)
        self.embedding = nn.Linear(2 * c_in, cfg.embed_dim)
        self.head = nn.Sequential(nn.ReLU(), nn.Dropout(cfg.dropout), nn.Linear(cfg.embed_dim, cfg.n_classes))

    @property
    def n_classes(self) -> int:
        return self.config.n_classes

    @property
    def embed_dim(self) -> int:
        return self.config.embed_dim

    def _check(self, frames: torch.Tensor) -> torch.Tensor:
        if not isinstance(frames, torch.Tensor):
            raise TypeError(f"frames: expected a torch.Tensor, got {type(frames).__name__}")
        h, w = self.config.height, self.config.width
        if frames.ndim != 4 or tuple(frames.shape[1:]) != (1, h, w):
            raise ValueError(f"frames: expected grayscale frames of shape (N, 1, H={h}, W={w}), "
                             f"got {tuple(frames.shape)}")
        return frames

    def embed(self, frames: torch.Tensor) -> torch.Tensor:
        """``(N, 1, H, W)`` frames in ``[0, 1]`` -> ``(N, embed_dim)`` penultimate embeddings."""
        h = self.features(self._check(frames))  # (N, C, H', W')
        h = torch.cat([h.amax(dim=(2, 3)), h.mean(dim=(2, 3))], dim=1)  # (N, 2C)
        return self.embedding(h)  # (N, D)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """``(N, 1, H, W)`` frames in ``[0, 1]`` -> ``(N, n_classes)`` logits."""
        return self.head(self.embed(frames))


# ------------------------------------------------------------------------------------------------ training data


def paste_digits(
    digits: ArrayLike,
    labels: ArrayLike,
    *,
    size: int | tuple[int, int] = 64,
    copies: int = 1,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Paste digit images onto black canvases at uniformly random positions (wholly inside the canvas).

    Args:
        digits: ``(N, h, w)`` digit images: uint8 in ``[0, 255]`` (MNIST's raw 28 x 28) or float in ``[0, 1]``.
        labels: ``(N,)`` int class of each digit.
        size: canvas ``H`` (= ``W``) or ``(H, W)``; at least the digit size.
        copies: canvases per digit, each at its own random position.
        seed: seeds the positions.

    Returns:
        ``(frames, labels)``: float32 ``(N * copies, 1, H, W)`` in ``[0, 1]`` and int64 ``(N * copies,)``, the
        copies of one digit consecutive.
    """
    d = _as_tensor(digits, "digits")
    if d.ndim != 3:
        raise ValueError(f"digits: expected digit images of shape (N, h, w), got {tuple(d.shape)}")
    d = _to_unit_float(d, "digits").numpy()
    n, h, w = d.shape
    y = _check_labels(labels, n, torch.iinfo(torch.int64).max).numpy()
    H, W = (size, size) if isinstance(size, int) else tuple(size)
    if h > H or w > W:
        raise ValueError(f"size: expected a canvas at least as large as the digits ({h} x {w}), got {H} x {W}")
    if isinstance(copies, bool) or not isinstance(copies, int) or copies < 1:
        raise ValueError(f"copies: expected a positive int, got {copies!r}")
    rng = np.random.default_rng(seed)
    m = n * copies
    src = np.repeat(np.arange(n), copies)  # (M,) digit of each canvas
    top = rng.integers(0, H - h + 1, size=m)
    left = rng.integers(0, W - w + 1, size=m)
    canvas = np.zeros((m, H, W), np.float32)
    rows = top[:, None, None] + np.arange(h)[None, :, None]  # (M, h, 1)
    cols = left[:, None, None] + np.arange(w)[None, None, :]  # (M, 1, w)
    canvas[np.arange(m)[:, None, None], rows, cols] = d[src]
    return torch.from_numpy(canvas[:, None]), torch.from_numpy(y[src].astype(np.int64))


def _gaussian_blur(x: torch.Tensor, sigma: torch.Tensor, radius: int) -> torch.Tensor:
    """Blur each of ``(B, 1, H, W)`` frames with its own Gaussian of std ``sigma`` ``(B,)`` (0: unchanged)."""
    b, _, h, w = x.shape
    r = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)  # (K,)
    s = sigma.clamp(min=1e-3)[:, None]  # (B, 1)
    k = torch.exp(-0.5 * (r[None, :] / s) ** 2)
    k = k / k.sum(dim=1, keepdim=True)  # (B, K)
    y = x.reshape(1, b, h, w)  # one group per frame
    y = F.conv2d(F.pad(y, (radius, radius, 0, 0)), k[:, None, None, :], groups=b)  # along W
    y = F.conv2d(F.pad(y, (0, 0, radius, radius)), k[:, None, :, None], groups=b)  # along H
    return y.reshape(b, 1, h, w)


def augment_frames(
    frames: torch.Tensor,
    generator: torch.Generator,
    *,
    max_shift: float = 4.0,
    max_rotation: float = 10.0,
    scale: tuple[float, float] = (0.9, 1.1),
    blur: float = 1.5,
    contrast: tuple[float, float] = (0.6, 1.0),
    noise_std: float = 0.05,
) -> torch.Tensor:
    """Random training perturbations of a batch of frames ``(B, 1, H, W)`` in ``[0, 1]`` (returns a new tensor).

    * an affine jitter: shift by up to ``max_shift`` pixels, rotation by up to ``max_rotation`` degrees and zoom
      by a factor in ``scale`` (bilinear, zeros outside the frame);
    * a Gaussian blur of a std drawn from ``[0, blur]`` pixels, so that a decoder's soft frames are still read;
    * contrast: the frame multiplied by a factor drawn from ``contrast`` (a faint digit);
    * Gaussian noise of a std drawn from ``[0, noise_std]``, then clamped to ``[0, 1]``.
    """
    b, _, h, w = frames.shape
    dev = frames.device

    def uniform(lo: float, hi: float) -> torch.Tensor:  # (B,) on `generator`, moved to the frames' device
        return (lo + (hi - lo) * torch.rand(b, generator=generator)).to(dev)

    x = frames
    if max_shift > 0 or max_rotation > 0 or scale != (1.0, 1.0):
        angle = uniform(-max_rotation, max_rotation) * (math.pi / 180.0)
        zoom = uniform(*scale)
        cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
        tx = uniform(-max_shift, max_shift) * (2.0 / w)  # pixels -> normalised [-1, 1] coordinates
        ty = uniform(-max_shift, max_shift) * (2.0 / h)
        theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)  # (B, 2, 3)
        grid = F.affine_grid(theta, [b, 1, h, w], align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    if blur > 0:
        x = _gaussian_blur(x, uniform(0.0, blur), radius=max(1, math.ceil(2.5 * blur)))
    if contrast != (1.0, 1.0):
        x = x * uniform(*contrast)[:, None, None, None]
    if noise_std > 0:
        std = uniform(0.0, noise_std)[:, None, None, None]
        x = x + std * torch.randn(x.shape, generator=generator).to(dev)
    return x.clamp(0.0, 1.0)


# ----------------------------------------------------------------------------------------------------- inference


@torch.no_grad()
def _batched(model: FrameDigitClassifier, frames: torch.Tensor, fn: Callable[[torch.Tensor], Any],
             batch_size: int) -> list[Any]:
    """``fn`` on ``(B, 1, H, W)`` chunks of ``frames`` in eval mode (training mode restored afterwards)."""
    was_training = model.training
    model.eval()
    dev = next(model.parameters()).device
    try:
        return [fn(frames[s:s + batch_size].to(dev)) for s in range(0, len(frames), batch_size)]
    finally:
        model.train(was_training)


def _probs_and_embeddings(model: FrameDigitClassifier, frames: torch.Tensor,
                          batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """One pass: ``(N, n_classes)`` probabilities and ``(N, embed_dim)`` embeddings, float32 on the CPU."""
    def fn(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        e = model.embed(x)
        return model.head(e).softmax(dim=1).float().cpu(), e.float().cpu()

    outs = _batched(model, frames, fn, batch_size)
    if not outs:
        return torch.zeros(0, model.n_classes), torch.zeros(0, model.embed_dim)
    return torch.cat([p for p, _ in outs]), torch.cat([e for _, e in outs])


def predict_frames(model: FrameDigitClassifier, frames: ArrayLike, batch_size: int = 512) -> torch.Tensor:
    """Class probabilities ``(N, n_classes)`` (float32, CPU) of frames ``(N, 1, H, W)`` or ``(N, H, W)``."""
    frames = _check_frames(frames, model.config.height, model.config.width)
    outs = _batched(model, frames, lambda x: model(x).softmax(dim=1).float().cpu(), batch_size)
    return torch.cat(outs) if outs else torch.zeros(0, model.n_classes)


def embed_frames(model: FrameDigitClassifier, frames: ArrayLike, batch_size: int = 512) -> np.ndarray:
    """Penultimate embeddings ``(N, embed_dim)`` (float64 NumPy) of frames ``(N, 1, H, W)`` or ``(N, H, W)``."""
    frames = _check_frames(frames, model.config.height, model.config.width)
    outs = _batched(model, frames, lambda x: model.embed(x).float().cpu(), batch_size)
    return (torch.cat(outs) if outs else torch.zeros(0, model.embed_dim)).double().numpy()


def embed_clips(model: FrameDigitClassifier, clips: ArrayLike, batch_size: int = 512) -> np.ndarray:
    """Clip embeddings ``(N, embed_dim)`` (float64 NumPy): frame embeddings averaged over each clip's ``T`` frames.

    ``clips``: ``(N, 1, T, H, W)`` or ``(N, T, H, W)``. Use it on real clips for ``clip_scores``'s reference.
    """
    x = _check_clips(clips, model.config.height, model.config.width)
    n, t, h, w = x.shape
    out = embed_frames(model, x.reshape(n * t, 1, h, w), batch_size)  # (N*T, D)
    return out.reshape(n, t, -1).mean(axis=1)


# ------------------------------------------------------------------------------------------------------ training


def train_frame_classifier(
    train_frames: ArrayLike,
    train_labels: ArrayLike,
    val_frames: ArrayLike | None = None,
    val_labels: ArrayLike | None = None,
    *,
    steps: int = 600,
    batch_size: int = 64,
    lr: float = 1e-2,
    weight_decay: float = 1e-2,
    seed: int = 0,
    n_classes: int | None = None,
    augmentation: bool = True,
    progress: bool | None = None,
    device: str | torch.device = "cpu",
    **model_kwargs: Any,
) -> tuple[FrameDigitClassifier, float]:
    """Train a :class:`FrameDigitClassifier` on real frames; report its accuracy on held-out frames.

    Args:
        train_frames: ``(N, 1, H, W)`` or ``(N, H, W)`` frames in ``[0, 1]`` (e.g. :func:`paste_digits` of the
            training split's digits, or frames of real training clips).
        train_labels: ``(N,)`` int class indices.
        val_frames, val_labels: ``(V, 1, H, W)`` and ``(V,)`` held-out frames (both or neither), e.g. the
            held-out digits pasted with another seed.
        steps: optimizer steps (AdamW, one-cycle schedule peaking at ``lr``); each draws a random batch.
            About 45 ms a step at batch 64 with the default network on 2 CPU cores (600 steps: ~30 s; on
            4,000 MNIST digits pasted on 64 x 64 canvases that reached 98% on 1,000 held-out ones).
        batch_size: frames per step.
        seed: seeds the initialisation, batches, augmentation and dropout (the global RNG is left as it was).
        n_classes: number of classes (default ``max(train_labels) + 1``).
        augmentation: apply :func:`augment_frames` to every training batch (affine jitter, blur, contrast, noise).
        progress: tqdm bar (``None``: only on a terminal).
        device: where to train; the returned model stays there.
        **model_kwargs: further :class:`FrameClassifierConfig` fields (``channels``, ``embed_dim``, ...).

    Returns:
        ``(model, val_accuracy)``: the model in eval mode with ``model.meta`` summarising the training;
        ``val_accuracy`` is NaN when no held-out frames were given.
    """
    train_frames = _check_frames(train_frames, None, None, "train_frames")
    n, _, height, width = train_frames.shape
    if n == 0:
        raise ValueError("train_frames: expected at least one frame, got 0")
    bound = torch.iinfo(torch.int64).max if n_classes is None else n_classes
    train_labels = _check_labels(train_labels, n, bound, "train_labels")
    n_classes = int(train_labels.max()) + 1 if n_classes is None else n_classes
    if (val_frames is None) != (val_labels is None):
        raise ValueError("pass both val_frames and val_labels, or neither")
    if val_frames is not None:
        val_frames = _check_frames(val_frames, height, width, "val_frames")
        val_labels = _check_labels(val_labels, len(val_frames), n_classes, "val_labels")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps: expected a positive int, got {steps!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 2:
        raise ValueError(f"batch_size: expected an int >= 2 (batch norm), got {batch_size!r}")
    device = torch.device(device)

    model, ema = fit_classifier(
        lambda: FrameDigitClassifier(height=height, width=width, n_classes=n_classes, **model_kwargs),
        train_frames, train_labels, steps=steps, batch_size=batch_size, lr=lr, weight_decay=weight_decay, seed=seed,
        augment=augment_frames if augmentation else None, progress=progress, device=device, desc="frame classifier")

    val_accuracy = math.nan
    if val_frames is not None and len(val_frames):
        pred = predict_frames(model, val_frames).argmax(dim=1)
        val_accuracy = float((pred == val_labels).float().mean())
    model.meta.update(steps=steps, batch_size=batch_size, lr=lr, seed=seed, augmentation=augmentation,
                      n_train=n, n_val=0 if val_frames is None else len(val_frames), final_loss=ema,
                      val_accuracy=val_accuracy)
    return model, val_accuracy


# ------------------------------------------------------------------------------------------------------- scoring


def temporal_change(clips: ArrayLike, batch_size: int = 256) -> float:
    """Mean absolute frame-to-frame change per pixel: ``mean |x[:, t+1] - x[:, t]|`` over clips, the ``T - 1``
    frame pairs and the pixels.

    Args:
        clips: ``(N, 1, T, H, W)`` or ``(N, T, H, W)`` in ``[0, 1]``, ``T >= 2``.
        batch_size: clips per chunk (bounds the memory used).

    Returns:
        A float in ``[0, 1]``: 0 for still clips. Compare generated with real clips (and report their ratio): a
        generator that freezes the digit scores far below the real value, one that flickers far above it.
    """
    x = _check_clips(clips, None, None, min_frames=2)
    n = len(x)
    if n == 0:
        raise ValueError("clips: expected at least one clip, got 0")
    total = 0.0
    for s in range(0, n, batch_size):
        chunk = x[s:s + batch_size].double()  # (B, T, H, W)
        total += float((chunk[:, 1:] - chunk[:, :-1]).abs().sum())
    _, t, h, w = x.shape
    return total / (n * (t - 1) * h * w)


def clip_scores(
    model: FrameDigitClassifier,
    clips: ArrayLike,
    labels: ArrayLike | None = None,
    reference_embeddings: np.ndarray | tuple[np.ndarray, np.ndarray] | None = None,
    *,
    batch_size: int = 512,
    splits: int = 1,
) -> dict[str, Any]:
    """Score clips frame by frame with a trained classifier.

    Every frame is classified; a clip's class probabilities are the mean over its frames (a soft vote) and its
    embedding the mean of its frames' embeddings.

    Args:
        model: a trained :class:`FrameDigitClassifier`.
        clips: ``(N, 1, T, H, W)`` or ``(N, T, H, W)`` in ``[0, 1]`` (generated, or real held-out for the ceiling).
        labels: ``(N,)`` the digit each clip should show (the generator's conditioning labels), or ``None``.
        reference_embeddings: ``(M, D)`` clip embeddings of real clips (:func:`embed_clips`), or their
            ``(mean, covariance)`` from :func:`gen_media.eval.metrics.gaussian_stats`; ``None`` skips the
            Frechet distance.
        batch_size: frames per forward pass.
        splits: inception-score splits (see :func:`gen_media.eval.metrics.inception_score`).

    Returns:
        ``{"n": N, "n_frames": T, "inception_score": float, "inception_score_std": float,
        "class_histogram": [C ints], "temporal_change": float}`` (``temporal_change`` is NaN for ``T = 1``), plus
        ``"accuracy"`` (clip level), ``"frame_accuracy"`` and ``"per_class_accuracy"`` (``[C floats]``, clip level,
        NaN for absent classes) when labels are given and ``"frechet_distance"`` when reference embeddings are.
        FD from few samples is biased upwards: compare models (and the real ceiling) at equal N.
    """
    x = _check_clips(clips, model.config.height, model.config.width)
    n, t, h, w = x.shape
    if n == 0:
        raise ValueError("clips: expected at least one clip, got 0")
    c = model.n_classes
    y = None if labels is None else _check_labels(labels, n, c).numpy()
    probs, emb = _probs_and_embeddings(model, x.reshape(n * t, 1, h, w), batch_size)  # (N*T, C), (N*T, D)
    frame_probs = probs.double().numpy().reshape(n, t, c)
    clip_probs = frame_probs.mean(axis=1)  # (N, C)
    clip_probs /= clip_probs.sum(axis=1, keepdims=True)
    is_mean, is_std = inception_score(clip_probs, splits=splits)
    pred = clip_probs.argmax(axis=1)  # (N,)
    out: dict[str, Any] = {
        "n": n,
        "n_frames": t,
        "inception_score": is_mean,
        "inception_score_std": is_std,
        "class_histogram": np.bincount(pred, minlength=c).tolist(),
        "temporal_change": temporal_change(x) if t >= 2 else math.nan,
    }
    if y is not None:
        correct = pred == y
        out["accuracy"] = float(correct.mean())
        out["frame_accuracy"] = float((frame_probs.argmax(axis=2) == y[:, None]).mean())
        out["per_class_accuracy"] = [float(correct[y == k].mean()) if (y == k).any() else math.nan for k in range(c)]
    if reference_embeddings is not None:
        if isinstance(reference_embeddings, tuple):
            mu_ref, sigma_ref = reference_embeddings
        else:
            ref = np.asarray(reference_embeddings)
            if ref.ndim != 2 or ref.shape[1] != model.embed_dim:
                raise ValueError(f"reference_embeddings: expected shape (M, embed_dim={model.embed_dim}), "
                                 f"got {ref.shape}")
            mu_ref, sigma_ref = gaussian_stats(ref)
        if n < 2:
            raise ValueError("frechet_distance needs at least 2 clips")
        clip_emb = emb.double().numpy().reshape(n, t, -1).mean(axis=1)  # (N, D)
        out["frechet_distance"] = frechet_distance_from_stats(*gaussian_stats(clip_emb), mu_ref, sigma_ref)
    return out


# --------------------------------------------------------------------------------------------------- checkpoints


def save_frame_classifier(path: str | os.PathLike, model: FrameDigitClassifier, **meta: Any) -> Path:
    """Write ``model`` (config, weights, ``model.meta`` updated with ``meta``) to ``path`` atomically (temporary
    file + rename). Put whatever decides whether a cached classifier still applies into ``meta`` -- e.g.
    ``dataset="moving-digits", digits_seed=0, frame_size=[64, 64]`` -- and compare it after
    :func:`load_frame_classifier`. ``meta`` must hold only JSON-like values (str, numbers, lists, dicts)."""
    path = Path(path)
    model.meta.update(meta)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    payload = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "config": model.config.to_dict(),
        "state_dict": state,
        "meta": dict(model.meta),
    }
    return atomic_write(path, lambda f: torch.save(payload, f))


def load_frame_classifier(path: str | os.PathLike,
                          map_location: str | torch.device = "cpu") -> FrameDigitClassifier:
    """Read a classifier written by :func:`save_frame_classifier` (``torch.load(weights_only=True)``); returned
    in eval mode with ``.meta`` restored."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no frame-classifier checkpoint at {path} (write one with save_frame_classifier)")
    payload = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a frame-classifier checkpoint (expected format {CHECKPOINT_FORMAT!r})")
    if payload.get("version") != CHECKPOINT_VERSION:
        raise ValueError(f"{path}: frame-classifier checkpoint version {payload.get('version')!r}, this code reads "
                         f"version {CHECKPOINT_VERSION}; retrain the classifier")
    model = FrameDigitClassifier(**FrameClassifierConfig.from_dict(payload["config"]).to_dict())
    model.load_state_dict(payload["state_dict"])
    model.meta = dict(payload.get("meta", {}))
    return model.to(map_location).eval()
