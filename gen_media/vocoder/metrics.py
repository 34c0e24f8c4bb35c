"""Copy-synthesis scores: log-spectral distance of re-analysed audio, and the real-time factor of a vocoder."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

from gen_media.audio import MelConfig, log_spectral_distance, stft_magnitude


def lsd_report(reference: torch.Tensor, vocoded: torch.Tensor, mel: MelConfig, eps: float = 1e-5) -> dict:
    """Log-spectral distance (dB) between ``reference`` and ``vocoded`` waves ``(N, samples)``, both analysed with
    the mel config's STFT after cutting them to their common length.

    ``lsd``: :func:`gen_media.audio.log_spectral_distance` (mean over frames, then clips). ``lsd_voiced``: the
    same over the frames where the reference has any energy above ``eps``: digital silence, which any hiss
    turns into tens of dB, left out.
    """
    n = min(reference.shape[-1], vocoded.shape[-1])
    ref = stft_magnitude(reference[..., :n].float(), mel)  # (N, F, T)
    est = stft_magnitude(vocoded[..., :n].float(), mel)
    d = 20.0 * (torch.log10(ref + eps) - torch.log10(est + eps))  # (N, F, T) dB
    per_frame = d.square().mean(dim=-2).sqrt()  # (N, T)
    voiced = ref.amax(dim=-2) > eps  # (N, T)
    return {"lsd": float(log_spectral_distance(ref, est, eps).mean()),
            "lsd_voiced": float(per_frame[voiced].mean()) if voiced.any() else float("nan"),
            "voiced_frames": float(voiced.float().mean()), "clips": int(ref.shape[0])}


def real_time_factor(vocode: Callable[[torch.Tensor], torch.Tensor], mels: torch.Tensor, mel: MelConfig,
                     repeats: int = 3) -> float:
    """Seconds of compute per second of audio for ``vocode(mels)`` (best of ``repeats`` after a warm-up)."""
    vocode(mels[:1])  # warm-up (JIT compilation of the numba kernels, allocator)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        vocode(mels)
        best = min(best, time.perf_counter() - t0)
    seconds = mels.shape[0] * mels.shape[-1] * mel.hop_length / mel.sample_rate
    return best / seconds
