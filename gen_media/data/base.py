"""The speech dataset container and the audio helpers the loaders share.

Conventions: a waveform is a 1-D float32 array ``(samples,)`` in [-1, 1]; a dataset holds ``(N, samples)``.
"""

from __future__ import annotations

import logging
import math
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gen_media.audio.io import read_audio, resample

__all__ = [
    "DIGIT_NAMES",
    "SILENCE_PEAK",
    "SPLITS",
    "SpeechDataset",
    "clip_length",
    "data_home",
    "fit_length",
    "read_audio",
    "read_audio_middle",
    "resample",
    "trim_silence",
]

DIGIT_NAMES: tuple[str, ...] = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
SPLITS: tuple[str, ...] = ("train", "valid", "test", "all")
SILENCE_PEAK = 1e-4  # a file whose absolute peak is below this (-80 dBFS) counts as silent


@dataclass
class SpeechDataset:
    """Fixed-length mono clips, ready for a model.

    Attributes:
        name: dataset name (a key of ``gen_media.data.DATASETS``).
        waves: ``(N, samples)`` float32 in [-1, 1], ``samples = round(clip_seconds * sample_rate)``.
        labels: ``(N,)`` int64 indices into ``label_names``, or ``None`` for unlabelled data.
        label_names: class names (``["zero", ..., "nine"]`` for the digit datasets; ``[]`` if unlabelled).
        sample_rate: Hz.
        skipped: reason -> number of source files (or clips) left out, e.g. ``{"unreadable": 1}``.
        split: ``"train"``, ``"valid"``, ``"test"`` or ``"all"``.
        sources: ``(N,)`` where each clip came from (a file path, with ``#k`` for the k-th segment of a
            long file; or the synthesis parameters).
    """

    name: str
    waves: np.ndarray
    labels: np.ndarray | None
    label_names: list[str]
    sample_rate: int
    skipped: dict[str, int] = field(default_factory=dict)
    split: str = "all"
    sources: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.waves.ndim != 2 or self.waves.dtype != np.float32:
            raise ValueError(f"waves must be (N, samples) float32, got {self.waves.shape} {self.waves.dtype}")
        if self.labels is not None and self.labels.shape != (len(self.waves),):
            raise ValueError(f"labels must be ({len(self.waves)},), got {self.labels.shape}")
        if self.sources and len(self.sources) != len(self.waves):
            raise ValueError(f"sources must have {len(self.waves)} entries, got {len(self.sources)}")

    def __len__(self) -> int:
        return len(self.waves)

    @property
    def num_samples(self) -> int:
        """Samples per clip."""
        return self.waves.shape[1]

    @property
    def clip_seconds(self) -> float:
        return self.num_samples / self.sample_rate

    @property
    def num_classes(self) -> int:
        return len(self.label_names)

    def class_counts(self) -> dict[str, int]:
        """Clips per class name (empty for unlabelled data)."""
        if self.labels is None:
            return {}
        counts = np.bincount(self.labels, minlength=len(self.label_names))
        return {name: int(c) for name, c in zip(self.label_names, counts, strict=True)}

    def tensors(self):
        """``(waves, labels)`` as torch tensors: ``(N, samples)`` float32 and ``(N,)`` int64 (or ``None``)."""
        import torch

        waves = torch.from_numpy(self.waves)
        labels = None if self.labels is None else torch.from_numpy(self.labels)
        return waves, labels


def data_home() -> Path:
    """Root of the on-disk data cache: ``$GEN_MEDIA_DATA``, else ``~/.cache/gen_media``."""
    env = os.environ.get("GEN_MEDIA_DATA")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "gen_media"


def clip_length(clip_seconds: float, sample_rate: int) -> int:
    """Samples per clip, ``round(clip_seconds * sample_rate)``, validated."""
    if not (isinstance(sample_rate, int | np.integer) and sample_rate > 0):
        raise ValueError(f"sample_rate must be a positive integer (Hz), got {sample_rate!r}")
    if not (math.isfinite(clip_seconds) and clip_seconds > 0):
        raise ValueError(f"clip_seconds must be positive, got {clip_seconds!r}")
    n = round(clip_seconds * sample_rate)
    if n < 1:
        raise ValueError(f"clip_seconds={clip_seconds} at {sample_rate} Hz is shorter than one sample")
    return n


def trim_silence(wave: np.ndarray, sample_rate: int, top_db: float = 40.0, margin_s: float = 0.02) -> np.ndarray:
    """Cut leading and trailing silence from ``(samples,)``.

    Silence is every 10 ms frame whose RMS is more than ``top_db`` below the loudest frame's; ``margin_s``
    seconds are kept on each side of the sound. An all-zero input comes back empty.
    """
    frame = max(1, round(0.01 * sample_rate))
    n_frames = -(-len(wave) // frame)
    if n_frames == 0:
        return wave[:0]
    padded = np.zeros(n_frames * frame, dtype=np.float64)
    padded[: len(wave)] = wave
    rms = np.sqrt(np.mean(padded.reshape(n_frames, frame) ** 2, axis=1))  # (n_frames,)
    peak = rms.max()
    if peak <= 0:
        return wave[:0]
    loud = np.flatnonzero(rms > peak * 10 ** (-top_db / 20))
    margin = round(margin_s * sample_rate)
    start = max(0, loud[0] * frame - margin)
    stop = min(len(wave), (loud[-1] + 1) * frame + margin)
    return wave[start:stop]


def read_audio_middle(path: str | os.PathLike, seconds: float, margin_s: float = 0.05) -> tuple[np.ndarray, int]:
    """Like :func:`read_audio` (mono float32, native rate), but of a file longer than ``seconds`` only the middle
    ``seconds`` plus ``margin_s`` on each side is read: what a centre crop keeps, with room for a resampling
    filter's edges. Files whose length soundfile cannot tell are read whole."""
    import soundfile as sf

    info = sf.info(str(path))
    want = math.ceil((seconds + 2 * margin_s) * info.samplerate)
    if not 0 < want < info.frames:
        return read_audio(path)
    data, rate = sf.read(str(path), start=(info.frames - want) // 2, frames=want, dtype="float32",
                         always_2d=True)  # (want, channels)
    wave = data.mean(axis=1, dtype=np.float32) if data.shape[1] > 1 else data[:, 0]
    return np.ascontiguousarray(wave), int(rate)


def fit_length(wave: np.ndarray, length: int, offset: int | None = None) -> np.ndarray:
    """Zero-pad or crop ``(samples,)`` to ``(length,)``.

    A short wave is placed at ``offset`` (default: centred); a long one is centre-cropped.
    """
    n = len(wave)
    out = np.zeros(length, dtype=np.float32)
    if n >= length:
        start = (n - length) // 2
        out[:] = wave[start : start + length]
        return out
    free = length - n
    offset = free // 2 if offset is None else min(max(int(offset), 0), free)
    out[offset : offset + n] = wave
    return out


class SkipCounter(Counter):
    """reason -> count of skipped inputs, as a plain ``dict[str, int]`` via :meth:`as_dict`."""

    def as_dict(self) -> dict[str, int]:
        return {k: int(v) for k, v in sorted(self.items()) if v}


def read_keyed_cache(path: Path, key: str, what: str) -> dict[str, np.ndarray] | None:
    """The arrays of an ``.npz`` cache whose ``key`` entry equals ``key``; None (rebuild it) when the file is
    missing, holds another key, or is unreadable (truncated or foreign). ``what`` names the dataset in warnings."""
    log = logging.getLogger(__name__)
    try:
        with np.load(path, allow_pickle=False) as f:
            if str(f["key"]) != key:
                log.warning("%s cache %s has another key; rebuilding", what, path)
                return None
            return {name: f[name] for name in f.files}
    except FileNotFoundError:
        return None
    except Exception as exc:  # a truncated or foreign file: rebuild it
        log.warning("%s cache %s is unreadable (%s); rebuilding", what, path, exc)
        return None
