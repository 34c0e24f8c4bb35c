"""Vocoding from log-mels without a neural network: least-squares mel inversion + fast Griffin-Lim.

Pipeline ``(..., n_mels, frames) -> (..., samples)``:

1. undo the log (``exp`` or ``10**``);
2. mel -> linear by least squares: ``s = max(pinv(A) @ mel, 0)`` with the filterbank's pseudo-inverse computed
   once per config (float64, cached), optionally refined by a few accelerated projected-gradient (FISTA)
   steps on ``min ||A s - mel||^2, s >= 0``; then ``|X| = s ** (1 / power)``;
3. fast Griffin-Lim (Perraudin, Balazs & Sondergaard 2013) with the config's own STFT pair
   (:func:`gen_media.audio.mel.stft` / :func:`~gen_media.audio.mel.istft`), so ``center=False`` with
   HiFi-GAN's padding inverts consistently.

The momentum step is written as librosa and torchaudio write it, ``c_n - m / (1 + m) * c_{n-1}`` followed by
the projection onto unit-modulus phases; that is ``(c_n + m (c_n - c_{n-1})) / (1 + m)`` and the projection
discards the scale, so it is Perraudin's ``t_n = c_n + alpha (c_n - c_{n-1})`` with ``alpha = m``.

Everything runs on the tensors' device; nothing here is iterative SGD. On the CPU (``backend="auto"`` or
``"numba"``) the work around the FFTs runs on our Numba kernels (:mod:`kernels.gl`, :mod:`kernels.ola`): the
FISTA refinement frame by frame with the banded filterbank, the momentum + projection step in one pass, and the
inverse STFT's overlap-add with window, normalisation and crop fused; the spectra stay frame-major
``(N, frames, n_freqs)`` throughout, the layout ``torch.stft`` returns and ``irfft`` wants. ``backend="torch"``
is the same algorithm in torch ops (any device, differentiable).
"""

from __future__ import annotations

import functools
import math
import warnings

import numpy as np
import torch
from torch import nn

from kernels.gl import banded, mel_nnls, phase_step
from kernels.ola import overlap_add

from .mel import MelConfig, _cached, _filterbank_np, _ola_norm, istft, stft, use_numba, window_tensor

__all__ = [
    "GriffinLimVocoder",
    "griffin_lim",
    "griffin_lim_from_magnitude",
    "log_spectral_distance",
    "mel_to_linear",
    "spectral_convergence",
]

_INITS = ("random", "zeros")


@functools.lru_cache(maxsize=32)
def _pinv_np(cfg: MelConfig) -> tuple[np.ndarray, float]:
    """``(pinv(A) (n_freqs, n_mels), ||A||_2^2)`` in float64, computed once per config."""
    a = _filterbank_np(cfg)
    pinv = np.linalg.pinv(a)
    pinv.setflags(write=False)
    return pinv, float(np.linalg.norm(a, 2) ** 2)


@functools.lru_cache(maxsize=32)
def _banded_fbank(cfg: MelConfig, dtype: np.dtype):
    return banded(_filterbank_np(cfg), dtype)


@functools.lru_cache(maxsize=32)
def _pinv_tensor(cfg: MelConfig, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    return torch.tensor(_pinv_np(cfg)[0], dtype=dtype, device=device)


def _check_mel(mel: torch.Tensor, cfg: MelConfig) -> None:
    if not isinstance(mel, torch.Tensor):
        raise TypeError(f"mel: expected a torch.Tensor (..., n_mels, frames), got {type(mel).__name__}")
    if not mel.is_floating_point():
        raise TypeError(f"mel: expected a floating tensor, got {mel.dtype}")
    if mel.dim() < 2 or mel.shape[-2] != cfg.n_mels or mel.shape[-1] < 1:
        raise ValueError(f"mel: expected shape (..., n_mels={cfg.n_mels}, frames>=1), got {tuple(mel.shape)}")


def _nnls_refine(s: torch.Tensor, m: torch.Tensor, a: torch.Tensor, lipschitz: float, n_iter: int) -> torch.Tensor:
    """FISTA on ``min_s ||A s - m||^2, s >= 0`` from ``s``; ``a`` (n_mels, F), ``s`` (..., F, T)."""
    at = a.transpose(0, 1)  # (F, n_mels)
    atm = torch.matmul(at, m)  # (..., F, T), constant part of the gradient
    x_prev, y, t = s, s, 1.0
    step = 1.0 / lipschitz
    for _ in range(n_iter):
        grad = torch.matmul(at, torch.matmul(a, y)) - atm  # (..., F, T)
        x = (y - step * grad).clamp_min(0)
        t_next = (1.0 + math.sqrt(1.0 + 4.0 * t * t)) / 2.0
        y = x + ((t - 1.0) / t_next) * (x - x_prev)
        x_prev, t = x, t_next
    return x_prev


def mel_to_linear(
    mel: torch.Tensor,
    cfg: MelConfig,
    nnls_iter: int = 50,
    fbank: torch.Tensor | None = None,
    pinv: torch.Tensor | None = None,
    backend: str = "auto",
) -> torch.Tensor:
    """Least-squares inversion of a log-mel spectrogram to a linear STFT magnitude.

    Args:
        mel: ``(..., n_mels, frames)`` log-mel as :func:`~gen_media.audio.mel.mel_spectrogram` makes it.
        nnls_iter: projected-gradient (FISTA) refinements of the clamped pseudo-inverse solution;
            0 = pseudo-inverse only.
        fbank, pinv: ``(n_mels, n_freqs)`` / ``(n_freqs, n_mels)`` overrides (the module passes its buffers).
        backend: ``"numba"`` (FISTA per frame on :func:`kernels.gl.mel_nnls`; CPU, no autograd), ``"torch"``
            (dense matmuls) or ``"auto"`` (numba where it can run).

    Returns:
        ``(..., n_freqs, frames)`` non-negative magnitude ``|X|`` (``power`` undone); from the numba backend
        a transposed view of frame-major memory.
    """
    _check_mel(mel, cfg)
    if isinstance(nnls_iter, bool) or not isinstance(nnls_iter, int) or nnls_iter < 0:
        raise ValueError(f"nnls_iter: expected an int >= 0, got {nnls_iter!r}")
    dev, dt = mel.device, mel.dtype
    if pinv is None:
        pinv = _pinv_tensor(cfg, dev, dt)
    m = torch.pow(10.0, mel) if cfg.log == "log10" else torch.exp(mel)  # (..., n_mels, T) linear mel
    if use_numba(backend, mel, pinv, *(() if fbank is None else (fbank,))):
        s = _mel_to_linear_numba(m, cfg, nnls_iter, fbank, pinv)
        return s if cfg.power == 1.0 else s.pow(1.0 / cfg.power)
    s = torch.matmul(pinv, m).clamp_min(0)  # (F, n_mels) @ (..., n_mels, T) -> (..., F, T)
    if nnls_iter:
        if fbank is None:
            fbank = _cached("fbank", cfg, dev, dt)
        s = _nnls_refine(s, m, fbank, _pinv_np(cfg)[1], nnls_iter)
    return s if cfg.power == 1.0 else s.pow(1.0 / cfg.power)


def _mel_to_linear_numba(m: torch.Tensor, cfg: MelConfig, nnls_iter: int, fbank: torch.Tensor | None,
                         pinv: torch.Tensor) -> torch.Tensor:
    """Frame-major mel inversion: ``(..., n_mels, T)`` linear mel -> ``(..., F, T)`` view of ``(..., T, F)``."""
    lead, (n_m, n_t) = m.shape[:-2], m.shape[-2:]
    rows = m.reshape(-1, n_m, n_t).transpose(1, 2).reshape(-1, n_m)  # (N*T, n_mels)
    s = torch.matmul(rows, pinv.transpose(0, 1)).clamp_min(0)  # (N*T, F)
    if nnls_iter:
        dt = rows.numpy().dtype
        a = _banded_fbank(cfg, dt) if fbank is None else banded(fbank.detach().numpy(), dt)
        s = torch.from_numpy(mel_nnls(s.numpy(), rows.contiguous().numpy(), a, _pinv_np(cfg)[1], nnls_iter))
    return s.reshape(*lead, n_t, cfg.n_freqs).transpose(-1, -2)


def _check_gl_args(n_iter: int, momentum: float, init: str) -> None:
    if isinstance(n_iter, bool) or not isinstance(n_iter, int) or n_iter < 0:
        raise ValueError(f"n_iter: expected an int >= 0, got {n_iter!r}")
    if not 0 <= momentum:
        raise ValueError(f"momentum: expected >= 0 (0.99 is the usual fast Griffin-Lim value), got {momentum}")
    if momentum > 1:
        warnings.warn(f"momentum={momentum} > 1 can make fast Griffin-Lim diverge", UserWarning, stacklevel=3)
    if init not in _INITS:
        raise ValueError(f"init: expected one of {_INITS}, got {init!r}")


def griffin_lim_from_magnitude(
    mag: torch.Tensor,
    cfg: MelConfig,
    n_iter: int = 32,
    momentum: float = 0.99,
    *,
    init: str = "random",
    seed: int = 0,
    length: int | None = None,
    window: torch.Tensor | None = None,
    backend: str = "auto",
) -> torch.Tensor:
    """Fast Griffin-Lim phase reconstruction of a linear magnitude.

    Args:
        mag: ``(..., n_freqs, frames)`` non-negative ``|X|``.
        n_iter: iterations (each one STFT and one inverse STFT).
        momentum: 0 = classic Griffin-Lim; 0.99 = fast Griffin-Lim.
        init: ``"random"`` phases drawn from ``seed`` (one ``(n_freqs, frames)`` draw shared by every batch
            item, so a batch gives the same result as its items one by one) or ``"zeros"`` (zero phase).
        length: output samples, default ``cfg.num_samples(frames)``.
        backend: ``"numba"`` (our kernels around torch's FFTs; CPU, no autograd), ``"torch"`` or ``"auto"``.

    Returns:
        ``(..., samples)`` waveform, same device and real dtype as ``mag``.
    """
    _check_gl_args(n_iter, momentum, init)
    if not isinstance(mag, torch.Tensor) or not mag.is_floating_point():
        raise TypeError(f"mag: expected a real floating torch.Tensor, got {getattr(mag, 'dtype', type(mag))}")
    if mag.dim() < 2 or mag.shape[-2] != cfg.n_freqs:
        raise ValueError(f"mag: expected shape (..., n_freqs={cfg.n_freqs}, frames), got {tuple(mag.shape)}")
    dev, dt = mag.device, mag.dtype
    n_t = mag.shape[-1]
    n_out = cfg.num_samples(n_t)
    if n_out < cfg.min_samples:
        raise ValueError(f"mag: {n_t} frames make {n_out} samples, fewer than the {cfg.min_samples} needed")
    if window is None:
        window = _cached("window", cfg, dev, dt)
    norm = _ola_norm(cfg, n_t, window)  # (total,), reused by every inverse STFT
    cdt = torch.complex128 if dt == torch.float64 else torch.complex64
    if init == "random":  # drawn on the CPU, so a seed gives the same phases on every device
        g = torch.Generator().manual_seed(int(seed))
        phase = torch.rand(mag.shape[-2:], generator=g, dtype=torch.float64) * (2 * math.pi)  # (F, T)
        angles = torch.polar(torch.ones_like(phase), phase).to(device=dev, dtype=cdt)
    else:
        angles = torch.ones(mag.shape[-2:], dtype=cdt, device=dev)
    factor = momentum / (1.0 + momentum)
    out_len = length if length is not None else n_out
    if use_numba(backend, mag, window):
        return _gl_numba(mag, angles, cfg, n_iter, factor, out_len, window, norm)
    angles = angles.expand_as(mag)
    tprev = None
    for _ in range(n_iter):
        inverse = istft(mag * angles, cfg, length=n_out, window=window, ola_norm=norm, backend="torch")
        rebuilt = stft(inverse, cfg, window)  # (..., F, T)
        angles = rebuilt - factor * tprev if (tprev is not None and factor) else rebuilt
        angles = angles / (angles.abs() + 1e-16)
        tprev = rebuilt
    return istft(mag * angles, cfg, length=out_len, window=window, ola_norm=norm, backend="torch")


def _gl_numba(mag: torch.Tensor, angles: torch.Tensor, cfg: MelConfig, n_iter: int, factor: float, length: int,
              window: torch.Tensor, norm: torch.Tensor) -> torch.Tensor:
    """The Griffin-Lim loop on frame-major spectra ``(N, T, F)``: ``irfft`` -> overlap-add kernel -> ``stft`` ->
    fused momentum/projection kernel. Same iterates as the torch loop (up to rounding)."""
    lead, (n_f, n_t) = mag.shape[:-2], mag.shape[-2:]
    mag_t = mag.reshape(-1, n_f, n_t).transpose(1, 2).contiguous()  # (N, T, F)
    spec = (mag_t * angles.transpose(0, 1)).contiguous()  # (N, T, F) complex, the current estimate
    n_out = cfg.num_samples(n_t)
    win, nrm, hop, pad = window.numpy(), norm.numpy(), cfg.hop_length, cfg.pad_amount
    mag_np, spec_np, prev = mag_t.numpy(), spec.numpy(), None

    def synthesize(n: int) -> torch.Tensor:  # (N, n) waveform of the current estimate
        frames = torch.fft.irfft(spec, n=cfg.n_fft, dim=-1)  # (N, T, n_fft), contiguous
        return torch.from_numpy(overlap_add(frames.numpy(), hop, win, norm=nrm, offset=pad, length=n))

    for _ in range(n_iter):
        rebuilt = stft(synthesize(n_out), cfg, window).transpose(1, 2)  # (N, T, F), frame-major memory
        rebuilt_np = rebuilt.contiguous().numpy()
        phase_step(rebuilt_np, rebuilt_np if prev is None else prev, mag_np, factor if prev is not None else 0.0,
                   out=spec_np)
        prev = rebuilt_np
    return synthesize(length).reshape(*lead, length)


def griffin_lim(
    mel: torch.Tensor,
    cfg: MelConfig,
    n_iter: int = 32,
    momentum: float = 0.99,
    *,
    init: str = "random",
    seed: int = 0,
    nnls_iter: int = 50,
    length: int | None = None,
    backend: str = "auto",
) -> torch.Tensor:
    """Log-mel to waveform: :func:`mel_to_linear` then :func:`griffin_lim_from_magnitude`.

    Args:
        mel: ``(..., n_mels, frames)`` log-mel (CPU or GPU).
        backend: ``"auto"`` (our Numba kernels on the CPU without autograd, else torch), ``"numba"`` or ``"torch"``.

    Returns:
        ``(..., samples)`` with ``samples = cfg.num_samples(frames)`` unless ``length`` is given.
    """
    mag = mel_to_linear(mel, cfg, nnls_iter=nnls_iter, backend=backend)
    return griffin_lim_from_magnitude(mag, cfg, n_iter, momentum, init=init, seed=seed, length=length,
                                      backend=backend)


class GriffinLimVocoder(nn.Module):
    """Module form of :func:`griffin_lim`; filterbank, its pseudo-inverse and the window are (non-persistent)
    buffers, so the module follows ``.to(device)``. ``(..., n_mels, frames) -> (..., samples)``."""

    fbank: torch.Tensor
    fbank_pinv: torch.Tensor
    window: torch.Tensor

    def __init__(
        self,
        cfg: MelConfig,
        n_iter: int = 32,
        momentum: float = 0.99,
        *,
        init: str = "random",
        seed: int = 0,
        nnls_iter: int = 50,
    ) -> None:
        super().__init__()
        if not isinstance(cfg, MelConfig):
            raise TypeError(f"cfg: expected a MelConfig, got {type(cfg).__name__}")
        _check_gl_args(n_iter, momentum, init)
        self.cfg, self.n_iter, self.momentum = cfg, n_iter, momentum
        self.init, self.seed, self.nnls_iter = init, seed, nnls_iter
        self.register_buffer("fbank", torch.tensor(_filterbank_np(cfg), dtype=torch.float32), persistent=False)
        self.register_buffer("fbank_pinv", torch.tensor(_pinv_np(cfg)[0], dtype=torch.float32), persistent=False)
        self.register_buffer("window", window_tensor(cfg), persistent=False)

    def forward(self, mel: torch.Tensor, length: int | None = None) -> torch.Tensor:
        dt = mel.dtype
        mag = mel_to_linear(mel, self.cfg, self.nnls_iter, fbank=self.fbank.to(dt), pinv=self.fbank_pinv.to(dt))
        return griffin_lim_from_magnitude(
            mag,
            self.cfg,
            self.n_iter,
            self.momentum,
            init=self.init,
            seed=self.seed,
            length=length,
            window=self.window.to(dt),
        )

    def extra_repr(self) -> str:
        return f"n_iter={self.n_iter}, momentum={self.momentum}, init={self.init!r}, nnls_iter={self.nnls_iter}"


# ---- metrics ---------------------------------------------------------------------------------------------
def _check_pair(ref: torch.Tensor, est: torch.Tensor) -> None:
    if ref.shape != est.shape:
        raise ValueError(
            f"ref_mag and est_mag must have the same (..., n_freqs, frames) shape, got {tuple(ref.shape)} "
            f"and {tuple(est.shape)} (trim the waveforms to the same length first)"
        )
    if ref.dim() < 2:
        raise ValueError(f"expected (..., n_freqs, frames) magnitudes, got shape {tuple(ref.shape)}")


def spectral_convergence(ref_mag: torch.Tensor, est_mag: torch.Tensor) -> torch.Tensor:
    """``||ref - est||_F / ||ref||_F`` over the last two axes: ``(..., F, T) -> (...)``. 0 is perfect."""
    _check_pair(ref_mag, est_mag)
    num = torch.linalg.vector_norm(ref_mag - est_mag, dim=(-2, -1))
    den = torch.linalg.vector_norm(ref_mag, dim=(-2, -1))
    return num / den.clamp_min(torch.finfo(den.dtype).tiny)


def log_spectral_distance(ref_mag: torch.Tensor, est_mag: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Log-spectral distance in dB: per frame ``sqrt(mean_f (20 log10((ref+eps)/(est+eps)))^2)``, averaged
    over frames. ``(..., F, T) -> (...)``. ``eps`` keeps silent bins from dominating."""
    _check_pair(ref_mag, est_mag)
    d = 20.0 * (torch.log10(ref_mag + eps) - torch.log10(est_mag + eps))  # (..., F, T) dB
    return d.square().mean(dim=-2).sqrt().mean(dim=-1)
