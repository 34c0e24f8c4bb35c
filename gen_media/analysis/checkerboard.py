"""A checkerboard measure: how much of a signal's energy sits at the upsampling period's frequencies.

A stack of transposed convolutions with total stride ``p`` along an axis builds its output from ``p``
interleaved phases; when the phases are treated unevenly (kernel not divisible by stride, or weights that
have not learned to balance them), the output carries a pattern that repeats every ``p`` samples: energy at
the frequencies ``k/p`` cycles per sample, ``k = 1 .. p-1``. (The harmonics of each stage's own stride ``s``
are among them, since ``s`` divides ``p``: pass the product of the strides to cover all stages.)

Definition, for ``x`` of shape ``(N, C, *spatial)`` (anything, really) and one ``axis``:

1. Keep the first ``L' = p * floor(L / p)`` samples along ``axis`` (so that every ``k/p`` is an exact DFT bin,
   ``k * L'/p``) and subtract the mean along ``axis``.
2. Power spectrum along ``axis``: ``P[f] = |DFT(x)[f]|^2``, summed over every other axis (batch, channels,
   the other spatial axes), so loud examples weigh more, as in a spectrum of the whole batch.
3. ``energy_share = sum_{k=1}^{p-1} P[k L'/p] / sum_f P[f]`` (by Parseval, the denominator is the
   energy after the mean removal). It is 1 for a signal that repeats exactly every ``p`` samples and about
   ``(p - 1)/(L' - 1)`` for white noise; a constant signal (no energy left) gives 0.

``checkerboard_ratio(generated, real, p, axis) = energy_share(generated) / energy_share(real)``: 1 means the
generated data carry as much period-``p`` energy as real data; above 1, the decoder adds a periodic artefact.
Use it on log-mels along time (``axis=-1`` of ``(N, n_mels, frames)``) and on video along T, H and W
(axes 2, 3, 4 of ``(N, C, T, H, W)``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _as_numpy(x) -> np.ndarray:
    if hasattr(x, "detach"):  # a torch tensor
        x = x.detach().cpu().numpy()
    return np.asarray(x, np.float64)


def energy_share(x, period: int, axis: int = -1) -> float:
    """Share of ``x``'s energy along ``axis`` at the frequencies ``k/period``, ``k = 1 .. period-1``.

    Args:
        x: array or tensor, e.g. ``(N, n_mels, frames)`` or ``(N, C, T, H, W)``.
        period: the upsampling period along ``axis`` (the product of the strides), >= 2.
        axis: the axis to analyse.
    """
    x = _as_numpy(x)
    if isinstance(period, bool) or not isinstance(period, (int, np.integer)) or period < 2:
        raise ValueError(f"period: expected an int >= 2, got {period!r}")
    if x.ndim == 0:
        raise ValueError("x: expected an array with at least one axis, got a scalar")
    axis = axis % x.ndim
    length = x.shape[axis] - x.shape[axis] % period
    if length < period:
        raise ValueError(f"x: axis {axis} has {x.shape[axis]} samples, fewer than one period ({period})")
    x = np.take(x, np.arange(length), axis=axis)
    x = x - x.mean(axis=axis, keepdims=True)
    power = np.abs(np.fft.fft(x, axis=axis)) ** 2
    power = np.moveaxis(power, axis, -1).reshape(-1, length).sum(axis=0)  # (L',) summed over all other axes
    total = power.sum()
    if total <= 0:
        return 0.0
    bins = np.arange(1, period) * (length // period)
    return float(power[bins].sum() / total)


def checkerboard_ratio(generated, real, period: int, axis: int = -1) -> float:
    """``energy_share(generated) / energy_share(real)`` along ``axis``: 1 = like real data, > 1 = artefacts.

    ``generated`` and ``real`` need the same length along ``axis`` only for bins to match exactly; other sizes
    (batch) may differ. Raises ``ValueError`` when the real data have no energy at those frequencies.
    """
    ref = energy_share(real, period, axis)
    if ref <= 0:
        raise ValueError(f"real: no energy at the period-{period} frequencies along axis {axis}; the ratio is "
                         "undefined (use energy_share of the generated data alone)")
    return energy_share(generated, period, axis) / ref


def checkerboard_ratios(generated, real, periods: Sequence[int], axes: Sequence[int]) -> dict[int, float]:
    """:func:`checkerboard_ratio` for several axes at once, e.g. video ``periods=(4, 8, 8), axes=(2, 3, 4)``."""
    if len(periods) != len(axes):
        raise ValueError(f"periods: expected one per axis ({len(axes)}), got {len(periods)}")
    return {a: checkerboard_ratio(generated, real, p, a) for p, a in zip(periods, axes, strict=True)}


__all__ = ["checkerboard_ratio", "checkerboard_ratios", "energy_share"]
