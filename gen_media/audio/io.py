"""WAV / FLAC / OGG reading and 16-bit WAV writing through soundfile (no torchcodec needed).

``write_wav`` is atomic: it writes a temporary file in the destination directory and ``os.replace``-s it, so
a reader never sees a half-written file and an interrupted run leaves the old file intact.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from pathlib import Path

import numpy as np
import soundfile as sf

from gen_media.files import atomic_write, atomic_write_text

__all__ = ["MEL_CONFIG_FILE", "read_audio", "write_mel", "write_mel_config", "write_wav"]

MEL_CONFIG_FILE = "mel_config.json"  # beside .npy mels: the analysis that made them, which `vocode` reads back


def resample(wave: np.ndarray, orig: int, target: int) -> np.ndarray:
    """Polyphase resampling (``scipy.signal.resample_poly``, Kaiser window) along the last axis."""
    if orig == target:
        return np.asarray(wave, dtype=np.float32)
    from scipy.signal import resample_poly  # polyphase FIR (Kaiser window): no extra dependency

    g = math.gcd(orig, target)
    return resample_poly(np.asarray(wave, dtype=np.float32), target // g, orig // g, axis=-1).astype(np.float32)


def read_audio(path: str | os.PathLike, sample_rate: int | None = None) -> tuple[np.ndarray, int]:
    """Read an audio file as mono float32 in [-1, 1].

    Args:
        path: any format libsndfile reads (WAV, FLAC, OGG, ...).
        sample_rate: resample to this rate if given and different (polyphase, ``scipy.signal.resample_poly``).

    Returns:
        ``(wave, rate)``: ``wave`` of shape ``(samples,)`` float32 (channels averaged), ``rate`` in Hz.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"audio file not found: {path}")
    if sample_rate is not None and (
        isinstance(sample_rate, bool) or not isinstance(sample_rate, int | np.integer) or sample_rate <= 0
    ):
        raise ValueError(f"sample_rate: expected a positive int or None, got {sample_rate!r}")
    data, rate = sf.read(str(path), dtype="float32", always_2d=True)  # (samples, channels)
    wave = data.mean(axis=1, dtype=np.float32) if data.shape[1] > 1 else data[:, 0]
    if sample_rate is not None and sample_rate != rate:
        wave, rate = resample(wave, int(rate), int(sample_rate)), int(sample_rate)
    return np.ascontiguousarray(wave, dtype=np.float32), int(rate)


def write_wav(path: str | os.PathLike, wave, sample_rate: int) -> Path:
    """Write 16-bit PCM WAV atomically.

    Args:
        path: destination; parent directories are created.
        wave: ``(samples,)`` or ``(channels, samples)`` NumPy array or torch tensor (any device), in [-1, 1].
            NaN/inf become 0 (with a warning); values outside [-1, 1] are clipped (with a warning).
        sample_rate: Hz.

    Returns:
        The path written.
    """
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int | np.integer) or sample_rate <= 0:
        raise ValueError(f"sample_rate: expected a positive int, got {sample_rate!r}")
    if hasattr(wave, "detach"):  # torch tensor, without importing torch here
        wave = wave.detach().cpu().numpy()
    x = np.asarray(wave)
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"wave: expected floating samples in [-1, 1], got dtype {x.dtype} (scale PCM integers first)")
    if x.ndim == 2:
        x = x.T  # (channels, samples) -> (samples, channels) as soundfile wants
    elif x.ndim != 1:
        raise ValueError(f"wave: expected shape (samples,) or (channels, samples), got {x.shape}")
    x = x.astype(np.float64, copy=True)
    bad = ~np.isfinite(x)
    if bad.any():
        warnings.warn(
            f"write_wav({path}): {int(bad.sum())} NaN/inf samples replaced by 0", RuntimeWarning, stacklevel=2
        )
        x[bad] = 0.0
    over = np.abs(x) > 1.0
    if over.any():
        warnings.warn(
            f"write_wav({path}): {int(over.sum())} samples outside [-1, 1] clipped", UserWarning, stacklevel=2
        )
        np.clip(x, -1.0, 1.0, out=x)
    return atomic_write(path, lambda f: sf.write(f, x, int(sample_rate), subtype="PCM_16", format="WAV"))


def write_mel(path: str | os.PathLike, mel, floor: float) -> Path:
    """Write a log-mel ``(n_mels, frames)`` as float32 ``.npy`` atomically. NaN/inf become ``log(floor)``, the
    mel config's silence (with a warning), as :func:`write_wav` writes 0 for them."""
    if hasattr(mel, "detach"):  # torch tensor, without importing torch here
        mel = mel.detach().cpu().numpy()
    x = np.array(mel, dtype=np.float32)
    bad = ~np.isfinite(x)
    if bad.any():
        warnings.warn(f"write_mel({path}): {int(bad.sum())} NaN/inf values replaced by log(floor) = "
                      f"{math.log(floor):.4g}", RuntimeWarning, stacklevel=2)
        x[bad] = math.log(floor)
    return atomic_write(path, lambda f: np.save(f, x, allow_pickle=False))


def write_mel_config(directory: str | os.PathLike, cfg) -> Path:
    """``directory/mel_config.json``: ``cfg`` (a :class:`~gen_media.audio.MelConfig`) as JSON, atomically; once
    per directory of mels."""
    return atomic_write_text(Path(directory) / MEL_CONFIG_FILE, json.dumps(cfg.to_dict(), indent=2))
