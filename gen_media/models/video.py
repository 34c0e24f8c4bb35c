"""Video models: a ConvTranspose3d decoder from (latent, label) to a clip, its VAE encoder and GAN discriminator.

The decoder grows a ``(C0, t0, s0, s0)`` block into ``(channels, frames, size, size)`` the way VideoGAN's
spatio-temporal generator does (1x4x4 -> 2x8x8 -> ... -> 16x64x64): every stage doubles height and width,
and the last ``log2(frames / t0)`` stages double time as well; kernels are 2 x stride on every upsampled
axis. All sizes derive from the config's ``frames`` and ``size``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from gen_media.nn import ConvTranspose3d

from .plan import UpsamplePlan


def _norm3d(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm3d(channels)
    if kind == "group":
        return nn.GroupNorm(min(32, channels), channels)
    return nn.Identity()


class VideoDecoder(nn.Module):
    """``(z (B, latent_dim), label (B,))`` -> logits of frames ``(B, image_channels, frames, size, size)``."""

    def __init__(self, frames: int, size: int, image_channels: int, n_classes: int, latent_dim: int,
                 channels: tuple[int, ...], label_dim: int = 32, kernel_mult: int = 2, norm: str = "batch",
                 backend: str = "torch"):
        super().__init__()
        stages = len(channels)  # one per width, the last one to image_channels
        self.space = UpsamplePlan.make(size, stages, 2, kernel_mult)
        t_stages = min(stages, math.ceil(math.log2(frames))) if frames > 1 else 0
        self.time = UpsamplePlan.make(frames, t_stages, 2, kernel_mult)
        self.frames, self.size, self.n_classes, self.latent_dim = frames, size, n_classes, latent_dim
        self.image_channels = image_channels
        self.embed = nn.Embedding(n_classes, label_dim) if n_classes else None
        cond_dim = label_dim if n_classes else 0
        base = self.time.base_frames * self.space.base_frames**2
        self.fc = nn.Linear(latent_dim + cond_dim, channels[0] * base)
        self.norm0 = _norm3d(norm, channels[0])
        widths = (*channels, image_channels)
        self.ups = nn.ModuleList()
        self.conds = nn.ModuleList()
        self.norms = nn.ModuleList()
        for i, (c_in, c_out) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
            grows_time = i >= stages - t_stages
            t = self.time if grows_time else None
            self.ups.append(ConvTranspose3d(
                c_in, c_out,
                kernel_size=(t.kernel if t else 3, self.space.kernel, self.space.kernel),
                stride=(2 if t else 1, 2, 2),
                padding=(t.padding if t else 1, self.space.padding, self.space.padding),
                output_padding=(t.output_padding if t else 0, self.space.output_padding, self.space.output_padding),
                backend=backend))
            last = i == stages - 1
            self.conds.append(nn.Linear(cond_dim, c_out) if cond_dim and not last else nn.Identity())
            self.norms.append(nn.Identity() if last else _norm3d(norm, c_out))
        self.act = nn.LeakyReLU(0.2)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None,
                cond: torch.Tensor | None = None) -> torch.Tensor:
        if cond is None and self.embed is not None:
            if labels is None:
                raise ValueError(f"labels: this decoder is conditional ({self.n_classes} classes) and needs labels")
            cond = self.embed(labels)  # (B, label_dim)
        h = z if cond is None else torch.cat([z, cond], dim=1)
        s = self.space.base_frames
        h = self.act(self.norm0(self.fc(h).view(z.shape[0], -1, self.time.base_frames, s, s)))  # (B, C0, t0, s0, s0)
        for i, (up, cond_proj, norm) in enumerate(zip(self.ups, self.conds, self.norms, strict=True)):
            h = up(h)  # (B, C_i, T_i, H_i, W_i), each upsampled axis x2
            if i == len(self.ups) - 1:
                break
            if cond is not None:
                h = h + cond_proj(cond)[:, :, None, None, None]
            h = self.act(norm(h))
        return h[:, :, : self.frames, : self.size, : self.size]  # (B, C, T, H, W) logits


class _Down3d(nn.Module):
    """Stride-2 Conv3d stack (time halves until it is 1): (B, C, T, H, W) -> flat features (B, F)."""

    def __init__(self, image_channels: int, frames: int, size: int, channels: tuple[int, ...], norm: str,
                 spectral: bool):
        super().__init__()
        layers: list[nn.Module] = []
        c_prev, t, s = image_channels, frames, size
        for c in channels:
            kt, st = (4, 2) if t > 1 else (1, 1)
            conv = nn.Conv3d(c_prev, c, (kt, 4, 4), stride=(st, 2, 2), padding=(kt // 4, 1, 1))
            layers += [nn.utils.parametrizations.spectral_norm(conv) if spectral else conv,
                       _norm3d(norm, c), nn.LeakyReLU(0.2)]
            c_prev, t, s = c, t // st, s // 2
        self.net = nn.Sequential(*layers)
        self.features = c_prev * t * s * s

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten(1)


class VideoEncoder(nn.Module):
    """VAE posterior: ``(clip (B, C, T, H, W), label)`` -> ``(mu, logvar)``, each ``(B, latent_dim)``."""

    def __init__(self, image_channels: int, frames: int, size: int, n_classes: int, latent_dim: int,
                 channels: tuple[int, ...], label_dim: int = 32, norm: str = "batch"):
        super().__init__()
        self.down = _Down3d(image_channels, frames, size, channels, norm, spectral=False)
        self.embed = nn.Embedding(n_classes, label_dim) if n_classes else None
        self.head = nn.Linear(self.down.features + (label_dim if n_classes else 0), 2 * latent_dim)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None):
        h = self.down(x)
        if self.embed is not None:
            h = torch.cat([h, self.embed(labels)], dim=1)
        mu, logvar = self.head(h).chunk(2, dim=1)
        return mu, logvar.clamp(-10.0, 10.0)


class VideoDiscriminator(nn.Module):
    """Projection discriminator with spectral norm: ``(clip, label)`` -> score ``(B,)``. Takes clips in [0, 1]."""

    def __init__(self, image_channels: int, frames: int, size: int, n_classes: int, channels: tuple[int, ...]):
        super().__init__()
        self.down = _Down3d(image_channels, frames, size, channels, "none", spectral=True)
        self.score = nn.utils.parametrizations.spectral_norm(nn.Linear(self.down.features, 1))
        self.project = (nn.utils.parametrizations.spectral_norm(nn.Embedding(n_classes, self.down.features))
                        if n_classes else None)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        h = self.down(x)
        out = self.score(h).squeeze(1)
        if self.project is not None:
            out = out + (self.project(labels) * h).sum(dim=1)
        return out
