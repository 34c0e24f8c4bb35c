"""A spoken-digit classifier on log-mels and the scores the speech recipe's ``evaluate`` reports with it.

The classifier is trained on the dataset's real training clips and checked on its held-out clips; it then
scores generated (or vocoded) clips the way Inception scores images:

* ``accuracy``: does the classifier hear the digit the generator was asked for (conditional accuracy)?
* ``inception_score``: ``exp(E_x KL(p(y|x) || p(y)))``, in ``[1, n_classes]``: confident *and* diverse.
* ``frechet_distance``: Frechet distance between Gaussians fitted to the classifier's penultimate embeddings
  of the scored clips and of reference (real) clips: lower is closer to the real distribution.

Score real held-out clips the same way for the ceiling.  Everything works on log-mel tensors
``(N, n_mels, n_frames)`` (what :func:`gen_media.audio.mel_spectrogram` returns for ``(N, samples)`` waves) and
integer labels ``(N,)``; nothing here reads audio or datasets.

Typical use::

    model, val_acc = train_classifier(train_mels, train_labels, test_mels, test_labels, seed=0)
    save_classifier(run_dir / "digit_classifier.pt", model)       # later: model = load_classifier(path)
    ref = embed(model, train_mels)                                # (N, D) real reference embeddings
    real = classifier_scores(model, test_mels, test_labels, reference_embeddings=ref)    # the ceiling
    fake = classifier_scores(model, generated_mels, wanted_labels, reference_embeddings=ref)
"""

from __future__ import annotations

import dataclasses
import math
import os
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
    "ClassifierConfig",
    "augment",
    "DigitClassifier",
    "classifier_scores",
    "embed",
    "load_classifier",
    "predict",
    "save_classifier",
    "train_classifier",
]

CHECKPOINT_FORMAT = "gen_media.eval.DigitClassifier"
CHECKPOINT_VERSION = 1

ArrayLike = np.ndarray | torch.Tensor


@dataclasses.dataclass(frozen=True)
class ClassifierConfig:
    """Constructor arguments of :class:`DigitClassifier`; saved in every classifier checkpoint.

    Attributes:
        n_mels: mel bands of the input.
        n_frames: frames of the input (the network pools over time, but inputs are checked against this so a
            classifier is never silently applied to a different analysis).
        n_classes: number of classes.
        channels: output channels of the temporal conv blocks (a max-pool by 2 over time follows each block
            but the last).
        kernel_size: temporal kernel of every conv (odd).
        embed_dim: size ``D`` of the penultimate embedding (:meth:`DigitClassifier.embed`).
        dropout: dropout before the classifier layer (training only).
        dynamic_range: each utterance is referenced to its own maximum and clamped at ``max - dynamic_range``
            (librosa's ``power_to_db(ref=np.max, top_db=...)``), in the input's log units: 8 natural-log units
            is 69 dB (for log10 mels use about 3.5). ``None``: reference to the maximum only, no clamp.
    """

    n_mels: int
    n_frames: int
    n_classes: int
    channels: tuple[int, ...] = (128, 128, 128)
    kernel_size: int = 5
    embed_dim: int = 128
    dropout: float = 0.2
    dynamic_range: float | None = 8.0

    def __post_init__(self) -> None:
        for name in ("n_mels", "n_frames", "n_classes", "kernel_size", "embed_dim"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"ClassifierConfig.{name}: expected a positive int, got {value!r}")
        if self.n_classes < 2:
            raise ValueError(f"ClassifierConfig.n_classes: expected at least 2, got {self.n_classes}")
        if self.kernel_size % 2 == 0:
            raise ValueError(f"ClassifierConfig.kernel_size: expected an odd int, got {self.kernel_size}")
        channels = tuple(self.channels)
        if not channels or any(isinstance(c, bool) or not isinstance(c, int) or c < 1 for c in channels):
            raise ValueError(f"ClassifierConfig.channels: expected a non-empty tuple of positive ints, got "
                             f"{self.channels!r}")
        object.__setattr__(self, "channels", channels)  # a list from JSON/TOML becomes a tuple
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"ClassifierConfig.dropout: expected a float in [0, 1), got {self.dropout!r}")
        if self.dynamic_range is not None and not self.dynamic_range > 0:
            raise ValueError(f"ClassifierConfig.dynamic_range: expected a positive float or None, got "
                             f"{self.dynamic_range!r}")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["channels"] = list(self.channels)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ClassifierConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown ClassifierConfig field(s) {unknown}; known: {sorted(names)}")
        return cls(**{**d, "channels": tuple(d.get("channels", cls.channels))})


def _check_mels(mels: ArrayLike, n_mels: int, n_frames: int, what: str = "mels") -> torch.Tensor:
    """``mels`` as a float32 tensor ``(N, n_mels, n_frames)``; ValueError naming expected vs got otherwise."""
    if isinstance(mels, np.ndarray):
        mels = torch.from_numpy(mels)
    if not isinstance(mels, torch.Tensor):
        raise TypeError(f"{what}: expected a torch.Tensor or np.ndarray, got {type(mels).__name__}")
    if mels.ndim != 3 or tuple(mels.shape[1:]) != (n_mels, n_frames):
        raise ValueError(f"{what}: expected log-mels of shape (N, n_mels={n_mels}, n_frames={n_frames}), "
                         f"got {tuple(mels.shape)}")
    if not mels.is_floating_point():
        raise TypeError(f"{what}: expected floating-point log-mels, got dtype {mels.dtype}")
    return mels.float()


def _check_labels(labels: ArrayLike, n: int, n_classes: int, what: str = "labels") -> torch.Tensor:
    """``labels`` as an int64 tensor ``(n,)`` with values in ``[0, n_classes)``."""
    if isinstance(labels, np.ndarray):
        labels = torch.from_numpy(labels)
    if not isinstance(labels, torch.Tensor):
        labels = torch.as_tensor(labels)
    if labels.is_floating_point() or labels.dtype == torch.bool:
        raise TypeError(f"{what}: expected integer class indices, got dtype {labels.dtype}")
    if tuple(labels.shape) != (n,):
        raise ValueError(f"{what}: expected shape ({n},) to match the mels, got {tuple(labels.shape)}")
    labels = labels.long()
    if n and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(f"{what}: expected values in [0, {n_classes}), got range "
                         f"[{int(labels.min())}, {int(labels.max())}]")
    return labels


class DigitClassifier(nn.Module):
    """Small temporal CNN on log-mels: mel bands are channels, convolutions run over time (as TC-ResNet does
    for keyword spotting), then average- and max-pooling over time make it insensitive to where the word sits.

    Normalisation lives inside the model, so a checkpoint is self-contained: each utterance is referenced to
    its maximum and clamped to ``dynamic_range`` (gain-invariant), then standardised per mel band with the
    ``mel_mean`` / ``mel_std`` buffers (``(n_mels,)``) that :meth:`set_normalization` fits on training mels.

    Shapes: input ``(N, n_mels, n_frames)`` log-mels -> :meth:`embed` ``(N, embed_dim)`` (the penultimate
    layer before its ReLU: no dead units, so its covariance is full-rank for the Frechet distance) -> ReLU,
    dropout, linear -> :meth:`forward` ``(N, n_classes)`` logits.

    Args:
        n_mels, n_frames, n_classes: see :class:`ClassifierConfig`; further keyword arguments are its other
            fields.
    """

    def __init__(self, n_mels: int, n_frames: int, n_classes: int, **kwargs: Any) -> None:
        super().__init__()
        self.config = ClassifierConfig(n_mels=n_mels, n_frames=n_frames, n_classes=n_classes, **kwargs)
        cfg = self.config
        self.meta: dict[str, Any] = {}  # free-form, JSON-like: saved with the checkpoint (training summary, ...)
        self.register_buffer("mel_mean", torch.zeros(n_mels))
        self.register_buffer("mel_std", torch.ones(n_mels))
        blocks: list[nn.Module] = []
        c_in = n_mels
        for i, c_out in enumerate(cfg.channels):
            blocks += [
                nn.Conv1d(c_in, c_out, cfg.kernel_size, padding=cfg.kernel_size // 2, bias=False),
                nn.BatchNorm1d(c_out),
                nn.ReLU(inplace=True),
            ]
            if i < len(cfg.channels) - 1:
                blocks.append(nn.MaxPool1d(2, ceil_mode=True))
            c_in = c_out
        self.features = nn.Sequential(*blocks)
        self.embedding = nn.Linear(2 * c_in, cfg.embed_dim)
        self.head = nn.Sequential(nn.ReLU(), nn.Dropout(cfg.dropout), nn.Linear(cfg.embed_dim, n_classes))

    @property
    def n_mels(self) -> int:
        return self.config.n_mels

    @property
    def n_frames(self) -> int:
        return self.config.n_frames

    @property
    def n_classes(self) -> int:
        return self.config.n_classes

    def reference(self, mels: torch.Tensor) -> torch.Tensor:
        """``(N, M, T)`` log-mels -> the same referenced to each utterance's maximum: values in
        ``[-dynamic_range, 0]``."""
        x = mels - mels.amax(dim=(1, 2), keepdim=True)
        if self.config.dynamic_range is not None:
            x = x.clamp(min=-self.config.dynamic_range)
        return x

    @torch.no_grad()
    def set_normalization(self, mels: ArrayLike, batch_size: int = 1024) -> None:
        """Fit the per-band ``mel_mean`` / ``mel_std`` buffers to training log-mels ``(N, n_mels, n_frames)``."""
        mels = _check_mels(mels, self.n_mels, self.n_frames)
        if len(mels) == 0:
            raise ValueError("set_normalization needs at least one utterance")
        total = torch.zeros(self.n_mels, dtype=torch.float64)
        total_sq = torch.zeros(self.n_mels, dtype=torch.float64)
        for start in range(0, len(mels), batch_size):
            x = self.reference(mels[start:start + batch_size]).double()  # (B, M, T)
            total += x.sum(dim=(0, 2))
            total_sq += (x * x).sum(dim=(0, 2))
        count = len(mels) * self.n_frames
        mean = total / count
        std = (total_sq / count - mean * mean).clamp(min=0).sqrt().clamp(min=1e-3)
        self.mel_mean.copy_(mean.float())
        self.mel_std.copy_(std.float())

    def _check(self, mels: torch.Tensor) -> torch.Tensor:
        if not isinstance(mels, torch.Tensor):
            raise TypeError(f"mels: expected a torch.Tensor, got {type(mels).__name__}")
        if mels.ndim != 3 or tuple(mels.shape[1:]) != (self.n_mels, self.n_frames):
            raise ValueError(f"mels: expected log-mels of shape (N, n_mels={self.n_mels}, n_frames={self.n_frames}), "
                             f"got {tuple(mels.shape)}")
        return mels

    def embed(self, mels: torch.Tensor) -> torch.Tensor:
        """``(N, n_mels, n_frames)`` log-mels -> ``(N, embed_dim)`` penultimate embeddings."""
        x = self.reference(self._check(mels))
        x = (x - self.mel_mean[:, None]) / self.mel_std[:, None]  # (N, M, T)
        h = self.features(x)  # (N, C, T')
        h = torch.cat([h.mean(dim=2), h.amax(dim=2)], dim=1)  # (N, 2C)
        return self.embedding(h)  # (N, D)

    def forward(self, mels: torch.Tensor) -> torch.Tensor:
        """``(N, n_mels, n_frames)`` log-mels -> ``(N, n_classes)`` logits."""
        return self.head(self.embed(mels))


# --------------------------------------------------------------------------------------------- augmentation


def augment(
    mels: torch.Tensor,
    generator: torch.Generator,
    *,
    max_shift: int | None = None,
    max_freq_shift: int = 2,
    blur: float = 1.0,
    noise_std: float = 0.3,
    time_mask: int | None = None,
    freq_mask: int | None = None,
) -> torch.Tensor:
    """Random training perturbations of a batch of log-mels ``(B, M, T)`` (returns a new tensor).

    * time shift by up to ``max_shift`` frames (default ``T // 8``), the gap filled with the utterance's minimum
      (its silence floor);
    * frequency shift by up to ``max_freq_shift`` bands (edge bands repeated): a small change of speaker pitch
      and formants;
    * blending with a 3 x 3 moving average by a weight drawn from ``[0, blur]``, so that smooth (e.g. a VAE
      decoder's) spectrograms are still recognised;
    * Gaussian noise of a standard deviation drawn from ``[0, noise_std]`` per utterance, in log units;
    * one SpecAugment mask of up to ``time_mask`` frames (default ``T // 8``) and one of up to ``freq_mask``
      bands (default ``M // 8``), filled with the utterance's mean.
    """
    b, m, t = mels.shape
    dev = mels.device
    max_shift = t // 8 if max_shift is None else max_shift
    time_mask = t // 8 if time_mask is None else time_mask
    freq_mask = m // 8 if freq_mask is None else freq_mask

    def randint(high: int, size: tuple[int, ...]) -> torch.Tensor:  # uniform in [0, high], on `generator`
        return torch.randint(0, high + 1, size, generator=generator).to(dev)

    floor = mels.amin(dim=(1, 2), keepdim=True)  # (B, 1, 1)
    x = mels
    if max_shift > 0:
        shift = randint(2 * max_shift, (b, 1)) - max_shift  # (B, 1)
        src = torch.arange(t, device=dev)[None, :] - shift  # (B, T): output frame j reads input frame j - shift
        valid = (src >= 0) & (src < t)
        x = torch.gather(x, 2, src.clamp(0, t - 1)[:, None, :].expand(b, m, t))
        x = torch.where(valid[:, None, :], x, floor)
    if max_freq_shift > 0:
        shift = randint(2 * max_freq_shift, (b, 1)) - max_freq_shift  # (B, 1)
        src = (torch.arange(m, device=dev)[None, :] - shift).clamp(0, m - 1)  # (B, M)
        x = torch.gather(x, 1, src[:, :, None].expand(b, m, t))
    if blur:
        smooth = F.avg_pool2d(x[:, None], 3, stride=1, padding=1, count_include_pad=False)[:, 0]  # (B, M, T)
        amount = torch.rand((b, 1, 1), generator=generator).to(dev) * blur
        x = x + amount * (smooth - x)
    if noise_std > 0:
        std = torch.rand((b, 1, 1), generator=generator).to(dev) * noise_std
        x = x + std * torch.randn((b, m, t), generator=generator).to(dev)
    fill = mels.mean(dim=(1, 2), keepdim=True)  # (B, 1, 1)
    if time_mask > 0:
        width = randint(time_mask, (b, 1))
        start = (torch.rand((b, 1), generator=generator).to(dev) * (t - width + 1)).long()
        j = torch.arange(t, device=dev)[None, :]
        x = torch.where(((j >= start) & (j < start + width))[:, None, :], fill, x)
    if freq_mask > 0:
        width = randint(freq_mask, (b, 1))
        start = (torch.rand((b, 1), generator=generator).to(dev) * (m - width + 1)).long()
        i = torch.arange(m, device=dev)[None, :]
        x = torch.where(((i >= start) & (i < start + width))[:, :, None], fill, x)
    return x


# ----------------------------------------------------------------------------------------------------- training


@torch.no_grad()
def _batched(model: DigitClassifier, mels: torch.Tensor, fn, batch_size: int) -> torch.Tensor:
    was_training = model.training
    model.eval()
    dev = model.mel_mean.device
    try:
        outs = [fn(mels[s:s + batch_size].to(dev)).float().cpu() for s in range(0, len(mels), batch_size)]
    finally:
        model.train(was_training)
    return torch.cat(outs) if outs else torch.zeros(0)


def predict(model: DigitClassifier, mels: ArrayLike, batch_size: int = 512) -> torch.Tensor:
    """Class probabilities ``(N, n_classes)`` (float32, CPU) of log-mels ``(N, n_mels, n_frames)``, in eval mode."""
    mels = _check_mels(mels, model.n_mels, model.n_frames)
    logits = _batched(model, mels, model, batch_size).reshape(len(mels), model.n_classes)
    return logits.softmax(dim=1)


def embed(model: DigitClassifier, mels: ArrayLike, batch_size: int = 512) -> np.ndarray:
    """Penultimate embeddings ``(N, embed_dim)`` (float64 NumPy) of log-mels ``(N, n_mels, n_frames)``."""
    mels = _check_mels(mels, model.n_mels, model.n_frames)
    out = _batched(model, mels, model.embed, batch_size).reshape(len(mels), model.config.embed_dim)
    return out.double().numpy()


def train_classifier(
    train_mels: ArrayLike,
    train_labels: ArrayLike,
    val_mels: ArrayLike | None = None,
    val_labels: ArrayLike | None = None,
    *,
    steps: int = 800,
    batch_size: int = 64,
    lr: float = 3e-3,
    weight_decay: float = 1e-2,
    seed: int = 0,
    n_classes: int | None = None,
    augmentation: bool = True,
    progress: bool | None = None,
    device: str | torch.device = "cpu",
    **model_kwargs: Any,
) -> tuple[DigitClassifier, float]:
    """Train a :class:`DigitClassifier` on real clips; report its accuracy on held-out clips.

    Args:
        train_mels: ``(N, n_mels, n_frames)`` log-mels of the training clips.
        train_labels: ``(N,)`` int class indices.
        val_mels, val_labels: ``(V, n_mels, n_frames)`` and ``(V,)`` held-out clips (both or neither).
        steps: optimizer steps (AdamW, one-cycle schedule peaking at ``lr``); each draws a random batch.
            About 25 ms a step at batch 64 on 2 CPU cores for 80 x 63 mels (800 steps: ~20 s).
        batch_size: clips per step.
        seed: seeds the initialisation, batches, augmentation and dropout (the global RNG is left as it was).
        n_classes: number of classes (default ``max(train_labels) + 1``).
        augmentation: apply :func:`augment` to every training batch (time/frequency shifts, noise, masks), so
            the classifier generalises from real clips to generated and vocoded ones.
        progress: tqdm bar (``None``: only on a terminal).
        device: where to train; the returned model stays there.
        **model_kwargs: further :class:`ClassifierConfig` fields (``channels``, ``embed_dim``, ...).

    Returns:
        ``(model, val_accuracy)``: the model in eval mode with ``model.meta`` summarising the training;
        ``val_accuracy`` is NaN when no held-out clips were given.
    """
    train_mels = _as_mels(train_mels, "train_mels")
    n, n_mels, n_frames = train_mels.shape
    if n == 0:
        raise ValueError("train_mels: expected at least one clip, got 0")
    bound = torch.iinfo(torch.int64).max if n_classes is None else n_classes
    train_labels = _check_labels(train_labels, n, bound, "train_labels")
    n_classes = int(train_labels.max()) + 1 if n_classes is None else n_classes
    if (val_mels is None) != (val_labels is None):
        raise ValueError("pass both val_mels and val_labels, or neither")
    if val_mels is not None:
        val_mels = _check_mels(val_mels, n_mels, n_frames, "val_mels")
        val_labels = _check_labels(val_labels, len(val_mels), n_classes, "val_labels")
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps: expected a positive int, got {steps!r}")
    if not isinstance(batch_size, int) or batch_size < 2:
        raise ValueError(f"batch_size: expected an int >= 2 (batch norm), got {batch_size!r}")
    device = torch.device(device)

    def build() -> DigitClassifier:
        model = DigitClassifier(n_mels, n_frames, n_classes, **model_kwargs)
        model.set_normalization(train_mels)
        return model

    model, ema = fit_classifier(build, train_mels, train_labels, steps=steps, batch_size=batch_size, lr=lr,
                                weight_decay=weight_decay, seed=seed, augment=augment if augmentation else None,
                                progress=progress, device=device, desc="digit classifier")

    val_accuracy = math.nan
    if val_mels is not None and len(val_mels):
        pred = predict(model, val_mels).argmax(dim=1)
        val_accuracy = float((pred == val_labels).float().mean())
    model.meta.update(steps=steps, batch_size=batch_size, lr=lr, seed=seed, augmentation=augmentation,
                      n_train=n, n_val=0 if val_mels is None else len(val_mels), final_loss=ema,
                      val_accuracy=val_accuracy)
    return model, val_accuracy


def _as_mels(mels: ArrayLike, what: str) -> torch.Tensor:
    """Any ``(N, M, T)`` float log-mels as a float32 tensor (used before the model fixes M and T)."""
    if isinstance(mels, np.ndarray):
        mels = torch.from_numpy(mels)
    if not isinstance(mels, torch.Tensor):
        raise TypeError(f"{what}: expected a torch.Tensor or np.ndarray, got {type(mels).__name__}")
    if mels.ndim != 3:
        raise ValueError(f"{what}: expected log-mels of shape (N, n_mels, n_frames), got {tuple(mels.shape)}")
    return _check_mels(mels, mels.shape[1], mels.shape[2], what)


# ------------------------------------------------------------------------------------------------------ scoring


def classifier_scores(
    model: DigitClassifier,
    mels: ArrayLike,
    labels: ArrayLike | None = None,
    reference_embeddings: np.ndarray | tuple[np.ndarray, np.ndarray] | None = None,
    *,
    batch_size: int = 512,
    splits: int = 1,
) -> dict[str, Any]:
    """Score log-mels with a trained classifier.

    Args:
        model: a trained :class:`DigitClassifier`.
        mels: ``(N, n_mels, n_frames)`` log-mels (generated, vocoded or real held-out).
        labels: ``(N,)`` the classes the clips should be (the generator's conditioning labels), or ``None``.
        reference_embeddings: ``(M, D)`` embeddings of real clips (:func:`embed` of the training set), or their
            ``(mean, covariance)`` from :func:`gen_media.eval.metrics.gaussian_stats`; ``None`` skips the
            Frechet distance.
        batch_size: clips per forward pass.
        splits: inception-score splits (see :func:`gen_media.eval.metrics.inception_score`).

    Returns:
        ``{"n": N, "inception_score": float, "inception_score_std": float, "class_histogram": [C ints]}`` plus
        ``"accuracy"`` and ``"per_class_accuracy"`` (``[C floats]``, NaN for absent classes) when labels are
        given and ``"frechet_distance"`` when reference embeddings are. FD from few samples is biased upwards:
        compare models (and the real ceiling) at equal N.
    """
    mels = _check_mels(mels, model.n_mels, model.n_frames)
    n = len(mels)
    if n == 0:
        raise ValueError("mels: expected at least one clip, got 0")
    probs = predict(model, mels, batch_size).double().numpy()  # (N, C)
    is_mean, is_std = inception_score(probs, splits=splits)
    pred = probs.argmax(axis=1)
    out: dict[str, Any] = {
        "n": n,
        "inception_score": is_mean,
        "inception_score_std": is_std,
        "class_histogram": np.bincount(pred, minlength=model.n_classes).tolist(),
    }
    if labels is not None:
        y = _check_labels(labels, n, model.n_classes).numpy()
        correct = pred == y
        out["accuracy"] = float(correct.mean())
        out["per_class_accuracy"] = [float(correct[y == c].mean()) if (y == c).any() else math.nan
                                     for c in range(model.n_classes)]
    if reference_embeddings is not None:
        if isinstance(reference_embeddings, tuple):
            mu_ref, sigma_ref = reference_embeddings
        else:
            ref = np.asarray(reference_embeddings)
            if ref.ndim != 2 or ref.shape[1] != model.config.embed_dim:
                raise ValueError(f"reference_embeddings: expected shape (M, embed_dim={model.config.embed_dim}), "
                                 f"got {ref.shape}")
            mu_ref, sigma_ref = gaussian_stats(ref)
        if n < 2:
            raise ValueError("frechet_distance needs at least 2 clips")
        mu, sigma = gaussian_stats(embed(model, mels, batch_size))
        out["frechet_distance"] = frechet_distance_from_stats(mu, sigma, mu_ref, sigma_ref)
    return out


# ------------------------------------------------------------------------------------------------- checkpoints


def save_classifier(path: str | os.PathLike, model: DigitClassifier, **meta: Any) -> Path:
    """Write ``model`` (config, weights, normalisation buffers, ``model.meta`` updated with ``meta``) to ``path``
    atomically (temporary file + rename). Put whatever decides whether a cached classifier still applies into
    ``meta`` -- e.g. ``mel_config=cfg.to_dict(), label_names=[...], dataset="digits-synth"`` -- and compare it
    after :func:`load_classifier`. ``meta`` must hold only JSON-like values (str, numbers, lists, dicts)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
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


def load_classifier(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> DigitClassifier:
    """Read a classifier written by :func:`save_classifier`; returned in eval mode with ``.meta`` restored."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no classifier checkpoint at {path} (write one with save_classifier)")
    payload = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a digit-classifier checkpoint (expected format {CHECKPOINT_FORMAT!r})")
    if payload.get("version") != CHECKPOINT_VERSION:
        raise ValueError(f"{path}: classifier checkpoint version {payload.get('version')!r}, this code reads "
                         f"version {CHECKPOINT_VERSION}; retrain the classifier")
    cfg = ClassifierConfig.from_dict(payload["config"])
    kwargs = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in ("n_mels", "n_frames", "n_classes")}
    model = DigitClassifier(cfg.n_mels, cfg.n_frames, cfg.n_classes, **kwargs)
    model.load_state_dict(payload["state_dict"])
    model.meta = dict(payload.get("meta", {}))
    return model.to(map_location).eval()
