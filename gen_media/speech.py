"""The speech pipeline: config, data as normalized log-mels, the training task (VAE or GAN), generation.

``gen_media.recipes.speech`` is the command line over this module.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from gen_media.audio import (
    MelConfig,
    griffin_lim,
    mel_spectrogram,
    save_mel_png,
    write_mel,
    write_mel_config,
    write_wav,
)
from gen_media.config import ConfigError, from_dict
from gen_media.data import DATASETS, load_speech_dataset
from gen_media.models.speech import MelDecoder, MelDiscriminator, MelEncoder
from gen_media.runs import load_checkpoint
from gen_media.tasks import ClassLabels, GenerativeTask, checkerboard_report
from gen_media.trainer import LoopConfig

# ------------------------------------------------------------------------------------------ config


@dataclass
class DataConfig:
    name: str = "digits-synth"  # digits-synth (built in) | sc09 | fsdd | ljspeech | folder
    root: str | None = None  # dataset directory (not needed for digits-synth)
    clip_seconds: float = 1.0  # every clip is cropped or padded to this length
    max_clips: int = 0  # use at most this many training clips (0: all); for quick runs

    def __post_init__(self) -> None:
        if self.name not in DATASETS:
            raise ConfigError(f"data.name: expected one of {sorted(DATASETS)}, got {self.name!r}")
        if self.clip_seconds <= 0:
            raise ConfigError(f"data.clip_seconds: expected > 0, got {self.clip_seconds}")


@dataclass
class MelSection:
    preset: Literal["default", "hifigan"] = "default"  # sample rate, FFT, hop and mel bands, declared once


@dataclass
class ModelConfig:
    objective: Literal["vae", "gan"] = "vae"
    backend: Literal["torch", "numba"] = "torch"  # transposed convolutions on torch's op or our Numba kernels
    latent_dim: int = 32
    label_dim: int = 32  # size of the class embedding (conditional data only)
    channels: tuple[int, ...] = (256, 256, 192, 128, 128)  # decoder widths: base, then one per x-stride stage
    encoder_channels: tuple[int, ...] = (128, 192, 256)  # VAE encoder / GAN discriminator widths
    stride: int = 2  # upsampling factor per decoder stage
    kernel_mult: int = 2  # transposed-convolution kernel = kernel_mult x stride
    kernel: int = 0  # > 0 overrides kernel_mult x stride (e.g. 3 at stride 2: uneven overlap, checkerboards)
    upsample: Literal["transposed", "resize"] = "transposed"  # resize: nearest x stride then a stride-1 conv
    norm: Literal["batch", "group", "none"] = "batch"
    beta: float = 1.0  # VAE: weight of the KL term (per element, see objectives.vae_terms)


@dataclass
class TrainConfig(LoopConfig):
    steps: int = 3000
    batch_size: int = 64
    lr: float = 2e-3  # Adam learning rate of the decoder (and encoder)
    lr_d: float = 2e-4  # GAN: discriminator learning rate
    warmup_steps: int = 100  # linear learning-rate warm-up, then cosine decay to 5%
    log_every: int = 25
    sample_every: int = 1000
    checkpoint_every: int = 500
    val_every: int = 500
    threads: int = 2  # torch and numba threads


@dataclass
class EvalConfig:
    n_per_class: int = 20  # generated clips per class in `evaluate`
    griffin_lim_iters: int = 32
    classifier_steps: int = 600


@dataclass
class SpeechConfig:
    seed: int = 0
    data: DataConfig = field(default_factory=DataConfig)
    mel: MelSection = field(default_factory=MelSection)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    @property
    def mel_config(self) -> MelConfig:
        return MelConfig.preset(self.mel.preset)


# ------------------------------------------------------------------------------------------ data


@dataclass
class MelData:
    """Log-mels of one split, normalized per mel band with the training split's statistics."""

    mels: torch.Tensor  # (N, n_mels, frames), normalized
    labels: torch.Tensor | None  # (N,) int64
    label_names: list[str]
    mean: torch.Tensor  # (n_mels, 1)
    std: torch.Tensor  # (n_mels, 1)
    skipped: dict[str, int]

    def batch(self, idx: torch.Tensor):
        return self.mels[idx], (None if self.labels is None else self.labels[idx])


def log_mels(waves: np.ndarray | torch.Tensor, mel: MelConfig, chunk: int = 256) -> torch.Tensor:
    """``(N, samples)`` -> ``(N, n_mels, frames)`` float32, computed in chunks."""
    waves = torch.as_tensor(waves, dtype=torch.float32)
    return torch.cat([mel_spectrogram(waves[i:i + chunk], mel) for i in range(0, len(waves), chunk)])


def load_mel_data(cfg: SpeechConfig, split: str, stats: tuple[torch.Tensor, torch.Tensor] | None = None) -> MelData:
    """Load a split of the configured dataset as normalized log-mels (statistics from ``stats`` or this split)."""
    mel = cfg.mel_config
    ds = load_speech_dataset(cfg.data.name, cfg.data.root, sample_rate=mel.sample_rate,
                             clip_seconds=cfg.data.clip_seconds, split=split, seed=cfg.seed)
    waves, labels = ds.waves, ds.labels
    if split == "train" and cfg.data.max_clips and len(waves) > cfg.data.max_clips:
        keep = np.random.default_rng(cfg.seed).permutation(len(waves))[: cfg.data.max_clips]
        waves, labels = waves[np.sort(keep)], (None if labels is None else labels[np.sort(keep)])
    mels = log_mels(waves, mel)
    if stats is None:
        mean = mels.mean(dim=(0, 2)).unsqueeze(-1)  # (n_mels, 1)
        std = mels.std(dim=(0, 2)).unsqueeze(-1).clamp_min(1e-3)
    else:
        mean, std = stats
    return MelData((mels - mean) / std, None if labels is None else torch.from_numpy(labels),
                   list(ds.label_names), mean, std, dict(ds.skipped))


# ------------------------------------------------------------------------------------------ models


def build_models(cfg: SpeechConfig, n_mels: int, frames: int, n_classes: int) -> dict[str, torch.nn.Module]:
    m = cfg.model
    models: dict[str, torch.nn.Module] = {
        "decoder": MelDecoder(n_mels, frames, n_classes, m.latent_dim, m.channels, m.label_dim, m.stride,
                              m.kernel_mult, m.norm, m.backend, m.upsample, m.kernel)}
    if m.objective == "vae":
        models["encoder"] = MelEncoder(n_mels, frames, n_classes, m.latent_dim, m.encoder_channels, m.label_dim,
                                       m.norm)
    else:
        models["discriminator"] = MelDiscriminator(n_mels, frames, n_classes, m.encoder_channels)
    return models


class SpeechTask(GenerativeTask):
    """The :class:`gen_media.trainer.TrainTask` of the speech recipe: normalized log-mels, MSE VAE or GAN."""

    def __init__(self, cfg: SpeechConfig, train: MelData, valid: MelData):
        self.train_data = train
        n_mels, frames = train.mels.shape[1:]
        self.n_classes = len(train.label_names) if train.labels is not None else 0
        super().__init__(cfg, build_models(cfg, n_mels, frames, self.n_classes), (valid.mels, valid.labels))

    def sample(self, run, step: int) -> None:
        """One clip per class (or 8 unconditional ones): a mel PNG and WAVs under samples/step_N/."""
        self.decoder.eval()
        gen = Generator(self.cfg, self.decoder, self.extra_state())
        labels = list(range(self.n_classes)) if self.n_classes else [None] * 8
        out = Path(run.samples_dir) / f"step_{step:06d}"
        gen.write(out, gen.generate(labels, seed=step), labels, griffin_lim_iters=16)

    def extra_state(self) -> dict:
        return {"mel_config": self.cfg.mel_config.to_dict(), "mel_mean": self.train_data.mean,
                "mel_std": self.train_data.std, "label_names": list(self.train_data.label_names),
                "n_classes": self.n_classes, "frames": int(self.train_data.mels.shape[-1])}


# ------------------------------------------------------------------------------------------ generation


class Generator(ClassLabels):
    """A trained decoder with what it needs to make audio: mel config, normalization, label names."""

    def __init__(self, cfg: SpeechConfig, decoder: MelDecoder, extra: dict):
        self.cfg, self.decoder = cfg, decoder.eval()
        self.mel = MelConfig.from_dict(extra["mel_config"])
        self.mean, self.std = extra["mel_mean"], extra["mel_std"]
        self.label_names: list[str] = list(extra["label_names"])
        self.n_classes = int(extra["n_classes"])

    @classmethod
    def load(cls, path: str | Path, *, best: bool = False, backend: str | None = None) -> Generator:
        """From a run directory (``last.pt``, or ``best.pt`` with best=True) or a checkpoint file."""
        path = Path(path)
        if path.is_dir() and best:
            path = path / "best.pt"
        ckpt = load_checkpoint(path)
        cfg = from_dict(SpeechConfig, ckpt["config"])
        if backend is not None:
            cfg.model.backend = backend
        extra = ckpt["extra"]
        decoder = build_models(cfg, int(extra["mel_mean"].shape[0]), int(extra["frames"]),
                               int(extra["n_classes"]))["decoder"]
        decoder.load_state_dict(ckpt["task"]["models"]["decoder"])
        return cls(cfg, decoder, extra)

    @torch.no_grad()
    def generate(self, labels: list[int | None], seed: int = 0, temperature: float = 1.0,
                 z: torch.Tensor | None = None, cond: torch.Tensor | None = None) -> torch.Tensor:
        """Log-mels ``(n, n_mels, frames)`` in the mel config's units (not normalized)."""
        mels = self.decode(labels, seed, temperature, z, cond)  # (n, n_mels, frames), normalized
        return mels * self.std + self.mean

    def vocode(self, mels: torch.Tensor, griffin_lim_iters: int = 32) -> torch.Tensor:
        """Log-mels ``(n, n_mels, frames)`` -> waves ``(n, samples)`` by Griffin-Lim."""
        return griffin_lim(mels, self.mel, n_iter=griffin_lim_iters)

    def names(self, labels: list[int | None]) -> list[str]:
        return [self.label_names[y] if y is not None else "sample" for y in labels]

    def write(self, out: Path, mels: torch.Tensor, labels: list[int | None], griffin_lim_iters: int = 32,
              titles: list[str] | None = None,
              vocoder: Callable[[torch.Tensor], torch.Tensor] | None = None) -> list[Path]:
        """WAVs (16-bit), .npy mels ``(n_mels, frames)`` and one PNG of all spectrograms into ``out``.

        ``vocoder``: log-mels ``(n, n_mels, frames)`` in the mel config's units -> waves ``(n, samples)``
        (e.g. a :class:`gen_media.vocoder.NeuralVocoder`); default Griffin-Lim."""
        out.mkdir(parents=True, exist_ok=True)
        waves = self.vocode(mels, griffin_lim_iters) if vocoder is None else vocoder(mels)
        names = [f"{i:03d}_{n}" for i, n in enumerate(self.names(labels))]
        paths = []
        for name, mel, wave in zip(names, mels, waves, strict=True):
            paths.append(write_wav(out / f"{name}.wav", wave.numpy(), self.mel.sample_rate))
            write_mel(out / f"{name}.npy", mel, self.mel.floor)
        write_mel_config(out, self.mel)
        save_mel_png(out / "spectrograms.png", mels.numpy(), self.mel, titles=titles or names)
        return paths


# ------------------------------------------------------------------------------------------ evaluation


def _fit_frames(mels: torch.Tensor, frames: int) -> torch.Tensor:
    """Crop or edge-pad the time axis of ``(N, n_mels, T)`` to ``frames``."""
    if mels.shape[-1] >= frames:
        return mels[..., :frames]
    return torch.nn.functional.pad(mels, (0, frames - mels.shape[-1]), mode="replicate")


def _digit_classifier(gen: Generator, run_dir: Path, train, test, progress: bool):
    """The run's digit classifier, trained on real training clips (cached in the run directory)."""
    from gen_media.eval.fit import cached_classifier
    from gen_media.eval.speech import load_classifier, save_classifier, train_classifier

    cfg = gen.cfg
    meta = {"dataset": cfg.data.name, "root": cfg.data.root, "mel_config": gen.mel.to_dict(),
            "steps": cfg.eval.classifier_steps, "seed": cfg.seed, "n_train": len(train[0])}
    return cached_classifier(
        run_dir / "eval_classifier.pt", meta, load_classifier, save_classifier,
        lambda: train_classifier(train[0], train[1], test[0], test[1], steps=cfg.eval.classifier_steps,
                                 seed=cfg.seed, n_classes=gen.n_classes, progress=progress))


def evaluate_run(path: str | Path, n_per_class: int | None = None, progress: bool = True) -> dict:
    """Scores of a run's generated audio from a digit classifier trained on the run dataset's real clips.

    Generated clips (``n_per_class`` per class) are vocoded with Griffin-Lim and analysed again, as a
    listener's ears would get them. Returns JSON-ready dicts: ``generated`` (vocoded audio),
    ``generated_mel`` (the decoder's mels, before vocoding), ``real_test`` (held-out real clips: the ceiling)
    and ``real_vocoded`` (held-out clips through the same Griffin-Lim: the vocoder's ceiling), each with
    accuracy, inception score and Frechet distance to the real training clips' embeddings.
    """
    from gen_media.eval.speech import classifier_scores, embed

    path = Path(path)
    run_dir = path if path.is_dir() else path.parent
    gen = Generator.load(path)
    cfg = gen.cfg
    if not gen.n_classes:
        raise ValueError("evaluate: the model is unconditional; the scores need a labelled dataset "
                         "(digits-synth, sc09, fsdd, or a folder with one sub-folder per class)")
    n = n_per_class or cfg.eval.n_per_class
    kw = dict(sample_rate=gen.mel.sample_rate, clip_seconds=cfg.data.clip_seconds, seed=cfg.seed)
    train_ds = load_speech_dataset(cfg.data.name, cfg.data.root, split="train", **kw)
    test_ds = load_speech_dataset(cfg.data.name, cfg.data.root, split="test", **kw)
    train = (log_mels(train_ds.waves, gen.mel), torch.from_numpy(train_ds.labels))
    test = (log_mels(test_ds.waves, gen.mel), torch.from_numpy(test_ds.labels))
    frames = train[0].shape[-1]
    clf, val_acc = _digit_classifier(gen, run_dir, train, test, progress)
    reference = embed(clf, train[0])

    labels = [c for c in range(gen.n_classes) for _ in range(n)]
    mels = torch.cat([gen.generate(labels[i:i + 256], seed=cfg.seed + 1 + i) for i in range(0, len(labels), 256)])
    iters = cfg.eval.griffin_lim_iters
    vocoded = log_mels(gen.vocode(mels, iters), gen.mel)
    # the real clips scored against the generated ones: as many (a Frechet distance grows as N shrinks)
    pick = torch.from_numpy(np.random.default_rng(cfg.seed).permutation(len(test[0]))[: len(labels)])
    real_vocoded = log_mels(gen.vocode(test[0][pick], iters), gen.mel)

    def scores(m, y):
        out = classifier_scores(clf, _fit_frames(m, frames), y, reference)
        return {k: v for k, v in out.items() if k in ("n", "accuracy", "inception_score", "frechet_distance")}

    return {"run": str(run_dir), "classifier": {"held_out_accuracy": val_acc, "train_clips": len(train[0])},
            "griffin_lim_iters": iters,
            "generated": scores(vocoded, labels), "generated_mel": scores(mels, labels),
            "real_test": scores(test[0][pick], test[1][pick]), "real_vocoded": scores(real_vocoded, test[1][pick]),
            "checkerboard": checkerboard_report(gen.decoder, mels, test[0])}
