"""Speech models: a ConvTranspose1d decoder from (latent, label) to a log-mel spectrogram, its VAE encoder
and its GAN discriminator.

Every size derives from the mel config and the model config: the decoder starts at
``base_frames = ceil(frames / stride**stages)`` frames and each stage multiplies the length by
``stride`` (kernel ``kernel_mult * stride``: the checkerboard-free choice when the multiple is an
integer); the last frames past the target are cropped.
"""

from __future__ import annotations

import torch
from torch import nn

from .plan import UpsamplePlan, upsampler


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm1d(channels)
    if kind == "group":
        return nn.GroupNorm(min(32, channels), channels)
    return nn.Identity()


class _UpBlock(nn.Module):
    """Transposed convolution (x stride) + label-dependent channel shift + a residual 3-tap conv."""

    def __init__(self, c_in: int, c_out: int, plan: UpsamplePlan, cond_dim: int, norm: str, backend: str,
                 upsample: str = "transposed"):
        super().__init__()
        self.up = upsampler(1, c_in, c_out, (plan.kernel,), (plan.stride,), (plan.padding,), (plan.output_padding,),
                            upsample, backend)
        self.cond = nn.Linear(cond_dim, c_out) if cond_dim else None
        self.norm1 = _norm(norm, c_out)
        self.conv = nn.Conv1d(c_out, c_out, 3, padding=1)
        self.norm2 = _norm(norm, c_out)
        self.act = nn.LeakyReLU(0.2)

    def forward(self, h: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        h = self.up(h)  # (B, C_out, L*stride)
        if self.cond is not None:
            h = h + self.cond(cond).unsqueeze(-1)
        h = self.act(self.norm1(h))
        return h + self.act(self.norm2(self.conv(h)))


class MelDecoder(nn.Module):
    """``(z (B, latent_dim), label (B,))`` -> normalized log-mel ``(B, n_mels, frames)``."""

    def __init__(self, n_mels: int, frames: int, n_classes: int, latent_dim: int, channels: tuple[int, ...],
                 label_dim: int = 32, stride: int = 2, kernel_mult: int = 2, norm: str = "batch",
                 backend: str = "torch", upsample: str = "transposed", kernel: int = 0):
        super().__init__()
        if len(channels) < 2:
            raise ValueError(f"channels: expected at least 2 widths (one per stage + the base), got {channels}")
        self.plan = UpsamplePlan.make(frames, len(channels) - 1, stride, kernel_mult, kernel)
        self.upsampling_periods = {2: stride ** (len(channels) - 1)}  # output axis -> period of the stack
        self.n_mels, self.frames, self.n_classes, self.latent_dim = n_mels, frames, n_classes, latent_dim
        self.embed = nn.Embedding(n_classes, label_dim) if n_classes else None
        cond_dim = label_dim if n_classes else 0
        self.fc = nn.Linear(latent_dim + cond_dim, channels[0] * self.plan.base_frames)
        self.norm0 = _norm(norm, channels[0])
        self.blocks = nn.ModuleList(
            _UpBlock(c_in, c_out, self.plan, cond_dim, norm, backend, upsample)
            for c_in, c_out in zip(channels[:-1], channels[1:], strict=True))
        self.out = nn.Conv1d(channels[-1], n_mels, 3, padding=1)
        self.act = nn.LeakyReLU(0.2)

    def condition(self, labels: torch.Tensor | None) -> torch.Tensor | None:
        if self.embed is None:
            return None
        if labels is None:
            raise ValueError(f"labels: this decoder is conditional ({self.n_classes} classes) and needs labels")
        return self.embed(labels)  # (B, label_dim)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None,
                cond: torch.Tensor | None = None) -> torch.Tensor:
        """``cond`` (label embeddings) replaces ``labels`` when given, e.g. to interpolate between classes."""
        if cond is None:
            cond = self.condition(labels)
        h = z if cond is None else torch.cat([z, cond], dim=1)
        h = self.fc(h).view(z.shape[0], -1, self.plan.base_frames)  # (B, C0, base_frames)
        h = self.act(self.norm0(h))
        for block in self.blocks:
            h = block(h, cond)  # (B, C_i, L * stride)
        return self.out(h)[..., : self.frames]  # (B, n_mels, frames)


class _DownStack(nn.Module):
    """Stride-2 Conv1d stack: (B, n_mels, frames) -> flat features (B, F)."""

    def __init__(self, n_mels: int, frames: int, channels: tuple[int, ...], norm: str, spectral: bool):
        super().__init__()
        layers: list[nn.Module] = []
        c_prev, length = n_mels, frames
        for c in channels:
            conv = nn.Conv1d(c_prev, c, 4, stride=2, padding=1)
            layers += [nn.utils.parametrizations.spectral_norm(conv) if spectral else conv,
                       _norm(norm, c), nn.LeakyReLU(0.2)]
            c_prev, length = c, length // 2
        self.net = nn.Sequential(*layers)
        self.features = c_prev * length

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        return self.net(mel).flatten(1)  # (B, C * L)


class MelEncoder(nn.Module):
    """VAE posterior: ``(mel (B, n_mels, frames), label)`` -> ``(mu, logvar)``, each ``(B, latent_dim)``."""

    def __init__(self, n_mels: int, frames: int, n_classes: int, latent_dim: int, channels: tuple[int, ...],
                 label_dim: int = 32, norm: str = "batch"):
        super().__init__()
        self.down = _DownStack(n_mels, frames, channels, norm, spectral=False)
        self.embed = nn.Embedding(n_classes, label_dim) if n_classes else None
        self.head = nn.Linear(self.down.features + (label_dim if n_classes else 0), 2 * latent_dim)

    def forward(self, mel: torch.Tensor, labels: torch.Tensor | None = None):
        h = self.down(mel)
        if self.embed is not None:
            h = torch.cat([h, self.embed(labels)], dim=1)
        mu, logvar = self.head(h).chunk(2, dim=1)
        return mu, logvar.clamp(-10.0, 10.0)


class MelDiscriminator(nn.Module):
    """Projection discriminator (Miyato & Koyama 2018) with spectral norm: ``(mel, label)`` -> score ``(B,)``."""

    def __init__(self, n_mels: int, frames: int, n_classes: int, channels: tuple[int, ...]):
        super().__init__()
        self.down = _DownStack(n_mels, frames, channels, "none", spectral=True)
        self.score = nn.utils.parametrizations.spectral_norm(nn.Linear(self.down.features, 1))
        self.project = (nn.utils.parametrizations.spectral_norm(nn.Embedding(n_classes, self.down.features))
                        if n_classes else None)

    def forward(self, mel: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        h = self.down(mel)  # (B, F)
        out = self.score(h).squeeze(1)
        if self.project is not None:
            out = out + (self.project(labels) * h).sum(dim=1)
        return out
