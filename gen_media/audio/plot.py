"""Mel-spectrogram pictures (PNG), drawn with matplotlib's object API on the Agg canvas: no display, no pyplot
global state, safe in worker processes and threads. matplotlib is imported on first use only."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from gen_media.files import atomic_write

from .mel import MelConfig

__all__ = ["save_mel_png"]


def _as_list(mels) -> list[np.ndarray]:
    if hasattr(mels, "detach"):  # torch tensor
        mels = mels.detach().float().cpu().numpy()
    if isinstance(mels, np.ndarray):
        if mels.ndim == 2:
            return [mels]
        if mels.ndim == 3:
            return list(mels)
        raise ValueError(f"mels: expected (n_mels, frames) or (batch, n_mels, frames), got shape {mels.shape}")
    out = []
    for i, m in enumerate(mels):
        m = m.detach().float().cpu().numpy() if hasattr(m, "detach") else np.asarray(m)
        if m.ndim != 2:
            raise ValueError(f"mels[{i}]: expected (n_mels, frames), got shape {m.shape}")
        out.append(m)
    return out


def save_mel_png(
    path: str | os.PathLike, mels, cfg: MelConfig, titles: Sequence[str] | None = None, *, dpi: int = 100
) -> Path:
    """Save one or more log-mel spectrograms as a grid of images.

    Args:
        path: ``.png`` destination (written atomically; parent directories are created).
        mels: ``(n_mels, frames)``, ``(batch, n_mels, frames)`` or a list of ``(n_mels, frames)`` (lengths may
            differ); NumPy arrays or torch tensors.
        cfg: gives the time axis (seconds, from ``hop_length / sample_rate``) and the log unit.
        titles: one per spectrogram.

    Returns:
        The path written.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    items = _as_list(mels)
    if not items:
        raise ValueError("mels: nothing to plot")
    for i, m in enumerate(items):
        if m.shape[0] != cfg.n_mels:
            raise ValueError(f"mels[{i}]: expected {cfg.n_mels} mel bins (cfg.n_mels), got shape {m.shape}")
    if titles is not None and len(titles) != len(items):
        raise ValueError(f"titles: expected {len(items)} titles, got {len(titles)}")
    n = len(items)
    ncols = 1 if n <= 3 else 2
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(6.0 * ncols, 2.6 * nrows), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    finite = np.concatenate([m[np.isfinite(m)].ravel() for m in items])
    vmin, vmax = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    unit = "log10 mel" if cfg.log == "log10" else "ln mel"
    im = None
    for k, ax in enumerate(axes.ravel()):
        if k >= n:
            ax.set_axis_off()
            continue
        m = items[k]
        seconds = m.shape[1] * cfg.hop_length / cfg.sample_rate
        im = ax.imshow(
            m,
            origin="lower",
            aspect="auto",
            interpolation="nearest",
            cmap="magma",
            extent=(0.0, seconds, 0, cfg.n_mels),
            vmin=vmin,
            vmax=vmax,
        )
        ax.set_xlabel("time (s)")
        ax.set_ylabel("mel bin")
        if titles is not None:
            ax.set_title(str(titles[k]), fontsize=10)
    fig.colorbar(im, ax=axes.ravel().tolist(), label=unit, shrink=0.9)
    return atomic_write(path, lambda f: fig.savefig(f, format="png"))
