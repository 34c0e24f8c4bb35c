"""Reconstruction losses of the vocoder: multi-resolution STFT and log-mel L1, plus the least-squares GAN terms.

The MR-STFT log-magnitude term is ``mean |log(|X| + eps) - log(|X_hat| + eps)|`` with the ``eps`` of
:func:`gen_media.audio.log_spectral_distance`, and one of its resolutions is the mel config's own STFT: the
loss is an L1 form of the metric the vocoder is judged by.

Magnitude losses say nothing direct about phase, which a vocoder must still get right frame to frame: a wrong
phase step makes adjacent frames cancel, and the re-analysed magnitude drops. The optional phase terms
(APNet's, Ai & Ling 2023) compare the phase of the mel's own STFT of both waves through the anti-wrapping
function ``|x - 2 pi round(x / 2 pi)|``: instantaneous phase, its difference along frequency (group delay)
and along time (instantaneous frequency), over the bins where the reference has energy.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from gen_media.audio import MelConfig, MelSpectrogram, stft

from .config import stft_config


def magnitude(wave: torch.Tensor, cfg: MelConfig) -> torch.Tensor:
    """``(..., samples)`` -> ``|STFT|`` ``(..., n_freqs, frames)``, with a gradient that stays finite at 0."""
    re_im = torch.view_as_real(stft(wave, cfg))  # (..., F, T, 2)
    return re_im.square().sum(-1).clamp_min(1e-14).sqrt()


def stft_terms(y_hat: torch.Tensor, y: torch.Tensor, cfg: MelConfig, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(spectral convergence, log-magnitude L1) of ``y_hat`` against ``y``, both ``(B, samples)``.

    The spectral convergence is taken over the whole batch, not per clip: a crop of digital silence has
    ``||M|| = 0`` and would make a per-clip ratio explode."""
    m_hat, m = magnitude(y_hat, cfg), magnitude(y, cfg)  # (B, F, T)
    sc = torch.linalg.vector_norm(m - m_hat) / torch.linalg.vector_norm(m).clamp_min(eps)
    log_l1 = ((m + eps).log() - (m_hat + eps).log()).abs().mean()
    return sc, log_l1


def anti_wrap(x: torch.Tensor) -> torch.Tensor:
    """``|x - 2 pi round(x / 2 pi)|``: the distance of a phase difference from the nearest multiple of 2 pi."""
    return (x - 2 * math.pi * torch.round(x / (2 * math.pi))).abs()


def _phase(spec: torch.Tensor) -> torch.Tensor:
    """``angle(spec)`` with a finite gradient: bins with ``|X|^2 < 1e-12`` read as phase 0, gradient 0."""
    re_im = torch.view_as_real(spec)  # (..., 2)
    tiny = re_im.square().sum(-1, keepdim=True) < 1e-12
    re_im = torch.where(tiny, torch.tensor([1.0, 0.0], dtype=re_im.dtype), re_im)
    return torch.atan2(re_im[..., 1], re_im[..., 0])


def phase_terms(y_hat: torch.Tensor, y: torch.Tensor, cfg: MelConfig, floor: float) -> torch.Tensor:
    """Mean of APNet's instantaneous-phase, group-delay and instantaneous-frequency losses between the STFTs
    of ``y_hat`` and ``y`` ``(B, samples)``, over bins where ``|Y| > floor`` (pairs of such bins for the two
    differences): elsewhere the reference phase is noise. All silence gives 0."""
    s_hat, s = stft(y_hat, cfg), stft(y, cfg)  # (B, F, T) complex
    p_hat, p = _phase(s_hat), _phase(s)
    keep = (s.abs() > floor).to(p.dtype)  # (B, F, T)
    k_f, k_t = keep[:, 1:] * keep[:, :-1], keep[..., 1:] * keep[..., :-1]

    def masked_mean(d: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        return (anti_wrap(d) * k).sum() / k.sum().clamp_min(1.0)

    return (masked_mean(p_hat - p, keep) + masked_mean(p_hat.diff(dim=1) - p.diff(dim=1), k_f)
            + masked_mean(p_hat.diff(dim=2) - p.diff(dim=2), k_t)) / 3


class ReconstructionLoss(nn.Module):
    """``weight_stft * mean_r (SC_r + logmag_r) + weight_mel * L1(log-mel) [+ weight_phase * phase]``; returns
    the terms by name. The phase term is taken at the mel's own STFT (computed only when its weight is > 0)."""

    def __init__(self, mel: MelConfig, scales: tuple[float, ...], stft_weight: float, mel_weight: float,
                 eps: float, phase_weight: float = 0.0, phase_floor: float = 1e-3):
        super().__init__()
        self.analysis = mel
        self.resolutions = [stft_config(mel, s) for s in scales]
        self.mel = MelSpectrogram(mel)
        self.stft_weight, self.mel_weight, self.eps = stft_weight, mel_weight, eps
        self.phase_weight, self.phase_floor = phase_weight, phase_floor

    def forward(self, y_hat: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        """``y_hat``, ``y``: ``(B, samples)``."""
        terms = [stft_terms(y_hat, y, r, self.eps) for r in self.resolutions]
        sc = torch.stack([t[0] for t in terms]).mean()
        log_mag = torch.stack([t[1] for t in terms]).mean()
        mel_l1 = (self.mel(y_hat) - self.mel(y)).abs().mean()  # (B, n_mels, T) log-mels
        loss = self.stft_weight * (sc + log_mag) + self.mel_weight * mel_l1
        out = {"sc": sc, "log_mag": log_mag, "mel_l1": mel_l1}
        if self.phase_weight > 0:
            out["phase"] = phase_terms(y_hat, y, self.analysis, self.phase_floor)
            loss = loss + self.phase_weight * out["phase"]
        return {"loss": loss, **out}


def lsgan_d_loss(real: list[torch.Tensor], fake: list[torch.Tensor]) -> torch.Tensor:
    """Discriminator: ``sum_k mean((1 - D_k(y))^2) + mean(D_k(y_hat)^2)``."""
    return sum(((1 - r).square().mean() + f.square().mean() for r, f in zip(real, fake, strict=True)),
               torch.zeros(()))


def lsgan_g_loss(fake: list[torch.Tensor]) -> torch.Tensor:
    """Generator: ``sum_k mean((1 - D_k(y_hat))^2)``."""
    return sum(((1 - f).square().mean() for f in fake), torch.zeros(()))


def feature_matching(real: list[list[torch.Tensor]], fake: list[list[torch.Tensor]]) -> torch.Tensor:
    """``sum`` over discriminators and layers of ``mean |feat(y) - feat(y_hat)|`` (real features detached)."""
    return sum(((r.detach() - f).abs().mean() for rs, fs in zip(real, fake, strict=True)
                for r, f in zip(rs, fs, strict=True)), torch.zeros(()))
