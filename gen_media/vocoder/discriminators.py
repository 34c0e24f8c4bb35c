"""HiFi-GAN's multi-period and multi-scale discriminators, narrowed (``disc_channels``) for CPU budgets.

Each returns ``(scores, features)``: per sub-discriminator a score map and the list of its hidden activations
(for feature matching).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

SLOPE = 0.1


def _score_and_features(convs: nn.ModuleList, post: nn.Module,
                        x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Run the conv stack (leaky ReLU after each) and the scoring conv: ``(scores (B, -1), every layer's output)``."""
    feats = []
    for conv in convs:
        x = F.leaky_relu(conv(x), SLOPE)
        feats.append(x)
    x = post(x)
    feats.append(x)
    return x.flatten(1), feats


class PeriodDiscriminator(nn.Module):
    """Folds ``(B, L)`` audio into ``(B, 1, L / p, p)`` and convolves along the first axis only."""

    def __init__(self, period: int, channels: tuple[int, ...], kernel: int = 5, stride: int = 3):
        super().__init__()
        self.period = period
        widths = (1, *channels)
        self.convs = nn.ModuleList(
            weight_norm(nn.Conv2d(a, b, (kernel, 1), (stride, 1), padding=(kernel // 2, 0)))
            for a, b in zip(widths[:-1], widths[1:], strict=True))
        self.post = weight_norm(nn.Conv2d(widths[-1], 1, (3, 1), padding=(1, 0)))

    def forward(self, wave: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        b, n = wave.shape
        pad = (-n) % self.period
        x = F.pad(wave, (0, pad), mode="reflect" if pad < n else "constant")  # (B, L'), L' multiple of p
        x = x.view(b, 1, -1, self.period)  # (B, 1, L' / p, p)
        return _score_and_features(self.convs, self.post, x)


class ScaleDiscriminator(nn.Module):
    """Strided grouped 1-D convolutions over ``(B, 1, L)`` audio."""

    def __init__(self, channels: tuple[int, ...], kernel: int = 15, stride: int = 4):
        super().__init__()
        widths = (1, *channels)
        layers = []
        for a, b in zip(widths[:-1], widths[1:], strict=True):
            groups = 1 if a == 1 else max(1, min(a, b) // 8)
            layers.append(weight_norm(nn.Conv1d(a, b, kernel, stride, padding=kernel // 2, groups=groups)))
        self.convs = nn.ModuleList(layers)
        self.post = weight_norm(nn.Conv1d(widths[-1], 1, 3, padding=1))

    def forward(self, wave: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        x = wave.unsqueeze(1)  # (B, 1, L)
        return _score_and_features(self.convs, self.post, x)


class VocoderDiscriminator(nn.Module):
    """Multi-period (one per period) + multi-scale (raw, then x2 average-pooled per extra scale)."""

    def __init__(self, periods: tuple[int, ...], scales: int, channels: tuple[int, ...]):
        super().__init__()
        self.mpd = nn.ModuleList(PeriodDiscriminator(p, channels) for p in periods)
        self.msd = nn.ModuleList(ScaleDiscriminator(channels) for _ in range(scales))

    def forward(self, wave: torch.Tensor) -> tuple[list[torch.Tensor], list[list[torch.Tensor]]]:
        """``(B, L)`` -> (scores, features), one entry per sub-discriminator."""
        outs = [d(wave) for d in self.mpd]
        x = wave
        for i, d in enumerate(self.msd):
            if i:
                x = F.avg_pool1d(x.unsqueeze(1), 4, 2, padding=2)[:, 0]  # (B, ~L / 2^i)
            outs.append(d(x))
        return [o[0] for o in outs], [o[1] for o in outs]
