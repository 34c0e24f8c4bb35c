"""The video pipeline: config, clips as tensors, the training task (VAE or GAN), generation.

``gen_media.recipes.video`` is the command line over this module; it shares the trainer, the run
directory, the config system and :class:`gen_media.tasks.GenerativeTask` with the speech recipe.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from gen_media.config import ConfigError, from_dict
from gen_media.data import VIDEO_DATASETS, load_video_dataset
from gen_media.models.video import SpriteMotionDecoder, VideoDecoder, VideoDiscriminator, VideoEncoder
from gen_media.runs import load_checkpoint
from gen_media.tasks import ClassLabels, GenerativeTask, checkerboard_report
from gen_media.trainer import LoopConfig

# ------------------------------------------------------------------------------------------ config


@dataclass
class VideoDataConfig:
    name: str = "moving-digits"  # moving-digits (built in) | moving-mnist | folder
    root: str | None = None  # dataset directory (not needed for moving-digits)
    frames: int = 16  # frames per clip
    size: int = 64  # frame height and width
    max_clips: int = 0  # use at most this many training clips (0: all); for quick runs

    def __post_init__(self) -> None:
        if self.name not in VIDEO_DATASETS:
            raise ConfigError(f"data.name: expected one of {sorted(VIDEO_DATASETS)}, got {self.name!r}")
        if self.frames < 1 or self.size < 4:
            raise ConfigError(f"data: expected frames >= 1 and size >= 4, got frames={self.frames}, size={self.size}")


@dataclass
class VideoModelConfig:
    objective: Literal["vae", "gan"] = "vae"
    backend: Literal["torch", "numba"] = "torch"  # transposed convolutions on torch's op or our Numba kernels
    decoder: Literal["content-motion", "spatiotemporal"] = "content-motion"
    latent_dim: int = 32  # content-motion: the first half draws the sprite, the second the motion
    label_dim: int = 32
    channels: tuple[int, ...] = (128, 64, 32, 16)  # spatiotemporal widths; one x2 stage each, then the image
    sprite_channels: tuple[int, ...] = (128, 64, 32)  # content-motion: sprite stack, 4x4 -> sprite_size
    motion_channels: tuple[int, ...] = (64, 32, 16)  # content-motion: position-map stack
    sprite_size: int = 32  # content-motion: sprite height and width
    placement: Literal["mode", "soft"] = "mode"  # content-motion, generation: sprite at each map's mode, or averaged
    encoder_channels: tuple[int, ...] = (16, 32, 64, 128)  # VAE encoder / GAN discriminator widths
    kernel_mult: int = 2  # transposed-convolution kernel = kernel_mult x stride on upsampled axes
    kernel: int = 0  # > 0 overrides kernel_mult x stride (e.g. 3 at stride 2: uneven overlap, checkerboards)
    upsample: Literal["transposed", "resize"] = "transposed"  # resize: nearest x stride then a stride-1 conv
    norm: Literal["batch", "group", "none"] = "batch"
    beta: float = 1.0  # VAE: weight of the KL term


@dataclass
class VideoTrainConfig(LoopConfig):
    steps: int = 5000
    batch_size: int = 16
    lr: float = 2e-3
    lr_d: float = 2e-4
    warmup_steps: int = 100
    log_every: int = 25
    sample_every: int = 1000
    checkpoint_every: int = 500
    val_every: int = 500
    threads: int = 2


@dataclass
class VideoEvalConfig:
    n_per_class: int = 20  # generated clips per class in `evaluate`
    classifier_steps: int = 400  # steps of the per-frame digit classifier trained on real digits


@dataclass
class VideoConfig:
    seed: int = 0
    fps: int = 8  # frame rate of exported clips
    data: VideoDataConfig = field(default_factory=VideoDataConfig)
    model: VideoModelConfig = field(default_factory=VideoModelConfig)
    train: VideoTrainConfig = field(default_factory=VideoTrainConfig)
    eval: VideoEvalConfig = field(default_factory=VideoEvalConfig)


# ------------------------------------------------------------------------------------------ data


@dataclass
class ClipData:
    """Clips of one split kept as uint8 ``(N, C, T, H, W)``; batches come out as float in [0, 1]."""

    clips: torch.Tensor  # (N, C, T, H, W) uint8
    labels: torch.Tensor | None  # (N,) int64
    label_names: list[str]
    fps: int
    skipped: dict[str, int]

    def batch(self, idx: torch.Tensor):
        return self.clips[idx].float() / 255.0, (None if self.labels is None else self.labels[idx])

    def spread(self, n: int, seed: int):
        """``batch`` of up to ``n`` clips drawn evenly from the whole split, in their order: a folder dataset
        lists its clips class by class, so its first n would hold the first classes only."""
        return self.batch(torch.from_numpy(np.sort(np.random.default_rng(seed).permutation(len(self.clips))[:n])))


def _channels_first(clips: np.ndarray) -> torch.Tensor:
    """(N, T, H, W) or (N, T, H, W, C) uint8 -> (N, C, T, H, W)."""
    t = torch.from_numpy(np.ascontiguousarray(clips))
    if t.ndim == 4:
        return t.unsqueeze(1)
    return t.permute(0, 4, 1, 2, 3).contiguous()


def load_clip_data(cfg: VideoConfig, split: str) -> ClipData:
    d = cfg.data
    ds = load_video_dataset(d.name, d.root, frames=d.frames, size=d.size, split=split, seed=cfg.seed)
    clips, labels = ds.clips, ds.labels
    if split == "train" and d.max_clips and len(clips) > d.max_clips:
        keep = np.sort(np.random.default_rng(cfg.seed).permutation(len(clips))[: d.max_clips])
        clips, labels = clips[keep], (None if labels is None else labels[keep])
    return ClipData(_channels_first(clips), None if labels is None else torch.from_numpy(labels),
                    list(ds.label_names), int(ds.fps), dict(ds.skipped))


# ------------------------------------------------------------------------------------------ models and task


def build_models(cfg: VideoConfig, image_channels: int, n_classes: int) -> dict[str, torch.nn.Module]:
    m, d = cfg.model, cfg.data
    if m.decoder == "spatiotemporal":
        decoder = VideoDecoder(d.frames, d.size, image_channels, n_classes, m.latent_dim, m.channels, m.label_dim,
                               m.kernel_mult, m.norm, m.backend, m.upsample, m.kernel)
    else:
        decoder = SpriteMotionDecoder(d.frames, d.size, image_channels, n_classes, m.latent_dim, m.sprite_channels,
                                      m.motion_channels, min(m.sprite_size, d.size), m.label_dim, m.kernel_mult,
                                      m.norm, m.backend, m.upsample, m.kernel, m.placement)
    models: dict[str, torch.nn.Module] = {"decoder": decoder}
    if m.objective == "vae":
        models["encoder"] = VideoEncoder(image_channels, d.frames, d.size, n_classes, m.latent_dim,
                                         m.encoder_channels, m.label_dim, m.norm)
    else:
        models["discriminator"] = VideoDiscriminator(image_channels, d.frames, d.size, n_classes, m.encoder_channels)
    return models


class VideoTask(GenerativeTask):
    """The :class:`gen_media.trainer.TrainTask` of the video recipe: clips in [0, 1], BCE VAE or GAN."""

    def __init__(self, cfg: VideoConfig, train: ClipData, valid: ClipData):
        self.train_data = train
        self.n_classes = len(train.label_names) if train.labels is not None else 0
        self.image_channels = int(train.clips.shape[1])
        valid_x, valid_y = valid.spread(256, cfg.seed)
        super().__init__(cfg, build_models(cfg, self.image_channels, self.n_classes), (valid_x, valid_y),
                         recon="bce")

    def sample(self, run, step: int) -> None:
        """One clip per class (or 8 unconditional ones): a frame-grid PNG and a GIF per clip."""
        self.decoder.eval()
        gen = VideoGenerator(self.cfg, self.decoder, self.extra_state())
        labels = list(range(self.n_classes)) if self.n_classes else [None] * 8
        gen.write(Path(run.samples_dir) / f"step_{step:06d}", gen.generate(labels, seed=step), labels,
                  formats=("gif", "png"))

    def extra_state(self) -> dict:
        return {"label_names": list(self.train_data.label_names), "n_classes": self.n_classes,
                "image_channels": self.image_channels, "fps": self.cfg.fps}


# ------------------------------------------------------------------------------------------ generation


class VideoGenerator(ClassLabels):
    """A trained decoder with what it needs to make clips: label names, channels, frame rate."""

    def __init__(self, cfg: VideoConfig, decoder: torch.nn.Module, extra: dict):
        self.cfg, self.decoder = cfg, decoder.eval()
        self.label_names: list[str] = list(extra["label_names"])
        self.n_classes = int(extra["n_classes"])
        self.fps = int(extra["fps"])

    @classmethod
    def load(cls, path: str | Path, *, backend: str | None = None) -> VideoGenerator:
        """From a run directory (``last.pt``) or a checkpoint file."""
        ckpt = load_checkpoint(path)
        cfg = from_dict(VideoConfig, ckpt["config"])
        if backend is not None:
            cfg.model.backend = backend
        extra = ckpt["extra"]
        decoder = build_models(cfg, int(extra["image_channels"]), int(extra["n_classes"]))["decoder"]
        decoder.load_state_dict(ckpt["task"]["models"]["decoder"])
        return cls(cfg, decoder, extra)

    def generate(self, labels: list[int | None], seed: int = 0, temperature: float = 1.0,
                 z: torch.Tensor | None = None, cond: torch.Tensor | None = None) -> torch.Tensor:
        """Clips ``(n, C, T, H, W)`` float in [0, 1]."""
        return self.decode(labels, seed, temperature, z, cond)

    def names(self, labels: list[int | None]) -> list[str]:
        return [f"{i:03d}_{self.label_names[y] if y is not None else 'sample'}" for i, y in enumerate(labels)]

    def write(self, out: Path, clips: torch.Tensor, labels: list[int | None],
              formats: tuple[str, ...] = ("mp4", "gif", "npy", "png"), names: list[str] | None = None,
              titles: list[str] | None = None) -> list[Path]:
        """Every clip in every format, file names ``names`` (default: index and label), the grids captioned
        with ``titles`` (default: the names)."""
        from gen_media.video.export import export_clips

        frames = clips.permute(0, 2, 3, 4, 1).numpy()  # (n, T, H, W, C)
        return export_clips(out, list(frames), self.fps, names or self.names(labels), formats=formats,
                            titles=titles)


# ------------------------------------------------------------------------------------------ evaluation


def _frames_of(clips: ClipData, per_clip: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``per_clip`` random frames of every clip, ``(N * per_clip, C, H, W)`` in [0, 1], with the clip labels."""
    n, _, t = clips.clips.shape[:3]
    g = torch.Generator().manual_seed(seed)
    pick = torch.randint(0, t, (n, per_clip), generator=g)  # (N, per_clip)
    frames = clips.clips[torch.arange(n)[:, None], :, pick]  # (N, per_clip, C, H, W)
    return frames.flatten(0, 1).float() / 255.0, clips.labels.repeat_interleave(per_clip)


def _frame_classifier(gen: VideoGenerator, run_dir: Path, train: ClipData, test: ClipData, progress: bool):
    """The run's per-frame digit classifier, trained on frames of real training clips (cached in the run)."""
    from gen_media.eval.fit import cached_classifier
    from gen_media.eval.video import load_frame_classifier, save_frame_classifier, train_frame_classifier

    cfg = gen.cfg
    meta = {"dataset": cfg.data.name, "root": cfg.data.root, "frames": cfg.data.frames, "size": cfg.data.size,
            "steps": cfg.eval.classifier_steps, "seed": cfg.seed, "n_train": len(train.clips)}

    def train_it():
        x, y = _frames_of(train, 2, cfg.seed)
        vx, vy = _frames_of(test, 1, cfg.seed + 1)
        return train_frame_classifier(x, y, vx, vy, steps=cfg.eval.classifier_steps, seed=cfg.seed,
                                      n_classes=gen.n_classes, progress=progress)

    return cached_classifier(run_dir / "eval_classifier.pt", meta, load_frame_classifier, save_frame_classifier,
                             train_it)


def evaluate_run(path: str | Path, n_per_class: int | None = None, progress: bool = True) -> dict:
    """Scores of a run's generated clips: a per-frame digit classifier trained on the run dataset's real
    clips (checked on held-out ones) gives the conditional accuracy, inception score and Frechet distance
    of clip embeddings; motion is the mean frame-to-frame change, generated against real."""
    from gen_media.eval.video import clip_scores, embed_clips, temporal_change

    path = Path(path)
    run_dir = path if path.is_dir() else path.parent
    gen = VideoGenerator.load(path)
    cfg = gen.cfg
    if not gen.n_classes:
        raise ValueError("evaluate: the model is unconditional; the scores need a labelled dataset "
                         "(moving-digits, or a folder with one sub-folder per class)")
    n = n_per_class or cfg.eval.n_per_class
    train, test = load_clip_data(cfg, "train"), load_clip_data(cfg, "test")
    clf, val_acc = _frame_classifier(gen, run_dir, train, test, progress)
    reference = embed_clips(clf, train.spread(2000, cfg.seed)[0])

    labels = [c for c in range(gen.n_classes) for _ in range(n)]
    clips = torch.cat([gen.generate(labels[i:i + 64], seed=cfg.seed + 1 + i) for i in range(0, len(labels), 64)])
    real, real_labels = test.spread(len(labels), cfg.seed)

    def scores(x, y):
        out = clip_scores(clf, x, y, reference)
        return {k: v for k, v in out.items() if k in ("n", "accuracy", "frame_accuracy", "inception_score",
                                                      "frechet_distance")}

    change_gen, change_real = temporal_change(clips), temporal_change(real)
    return {"run": str(run_dir), "classifier": {"held_out_frame_accuracy": val_acc},
            "generated": scores(clips, labels), "real_test": scores(real, real_labels),
            "temporal_change": {"generated": change_gen, "real": change_real,
                                "ratio": change_gen / max(change_real, 1e-12)},
            "checkerboard": checkerboard_report(gen.decoder, clips, real)}
