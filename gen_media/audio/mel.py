"""Log-mel spectrograms: one declared configuration, a stateless function and a thin module.

The analysis is declared once, in a :class:`MelConfig` that is saved inside every checkpoint
(``to_dict`` / ``from_dict``); everything else (frame counts, filterbanks, the vocoder) derives from it.

Framing conventions (``pad`` = samples of reflect padding added on each side before framing):

* ``center=True``: ``pad = n_fft // 2`` (torch / librosa / torchaudio convention),
  ``frames = 1 + samples // hop_length``.
* ``center=False``: ``pad`` defaults to ``(n_fft - hop_length) // 2`` (HiFi-GAN's ``mel_spectrogram``),
  ``frames = 1 + (samples + 2 * pad - n_fft) // hop_length``, which is ``samples // hop_length``
  when ``n_fft - hop_length`` is even: exactly one frame per hop, as a vocoder upsampling by the hop expects.

The filterbank is computed here in float64 from its definition (librosa's ``filters.mel``), so it does
not depend on torchaudio's ``melscale_fbanks`` (which places its frequency bins on ``sample_rate // 2``).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import types
import warnings
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from kernels.ola import overlap_add as _overlap_add

__all__ = [
    "MelConfig",
    "MelSpectrogram",
    "mel_filterbank",
    "mel_spectrogram",
    "mel_spectrogram_np",
    "stft",
    "istft",
    "stft_magnitude",
    "window_tensor",
]

_WINDOWS = ("hann", "hamming", "blackman", "bartlett", "rectangular")
_LOGS = ("log10", "ln")
_MEL_SCALES = ("htk", "slaney")
_NORMS = (None, "slaney")


def _check_int(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"MelConfig.{name}: expected an int, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"MelConfig.{name}: expected an int >= {minimum}, got {value}")


def _check_real(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise TypeError(f"MelConfig.{name}: expected a number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"MelConfig.{name}: expected a finite number, got {value}")
    return value


def _check_choice(name: str, value: Any, choices: tuple) -> None:
    if value not in choices:
        raise ValueError(f"MelConfig.{name}: expected one of {choices}, got {value!r}")


@dataclasses.dataclass(frozen=True)
class MelConfig:
    """Everything that defines a log-mel spectrogram (and its inversion). Immutable and hashable.

    Attributes:
        sample_rate: Hz.
        n_fft: FFT size; ``n_fft // 2 + 1`` frequency bins.
        hop_length: samples between frames.
        win_length: window length (<= n_fft, centred in the FFT frame); ``None`` -> ``n_fft``.
        window: ``"hann"`` (periodic, as torch and librosa use), ``"hamming"``, ``"blackman"``,
            ``"bartlett"`` or ``"rectangular"``.
        n_mels: number of mel bands.
        fmin, fmax: band edges in Hz; ``fmax=None`` -> Nyquist.
        log: ``"log10"`` or ``"ln"`` (natural log, HiFi-GAN).
        floor: magnitudes are clamped to at least this before the log.
        mel_scale: ``"slaney"`` (librosa's default, HiFi-GAN) or ``"htk"``.
        norm: ``"slaney"`` (area-normalised triangles) or ``None`` (peak 1).
        center: see the module docstring.
        pad: reflect padding on each side when ``center=False``; ``None`` -> ``(n_fft - hop_length) // 2``.
            Must be ``None`` when ``center=True``.
        power: 1.0 for magnitude, 2.0 for power.
        mag_eps: added to ``|X|^2`` before the square root (HiFi-GAN uses 1e-9); 0 for plain ``|X|``.
    """

    sample_rate: int = 16_000
    n_fft: int = 1024
    hop_length: int = 256
    win_length: int | None = None
    window: str = "hann"
    n_mels: int = 80
    fmin: float = 0.0
    fmax: float | None = None
    log: str = "ln"
    floor: float = 1e-5
    mel_scale: str = "slaney"
    norm: str | None = "slaney"
    center: bool = True
    pad: int | None = None
    power: float = 1.0
    mag_eps: float = 0.0

    PRESETS: ClassVar[types.MappingProxyType] = types.MappingProxyType(
        {
            "default": dict(sample_rate=16_000, n_fft=1024, hop_length=256, win_length=None, n_mels=80),
            "hifigan": dict(
                sample_rate=22_050,
                n_fft=1024,
                hop_length=256,
                win_length=1024,
                window="hann",
                n_mels=80,
                fmin=0.0,
                fmax=8000.0,
                log="ln",
                floor=1e-5,
                mel_scale="slaney",
                norm="slaney",
                center=False,
                pad=None,
                power=1.0,
                mag_eps=1e-9,
            ),
        }
    )

    def __post_init__(self) -> None:
        _check_int("sample_rate", self.sample_rate, 1)
        _check_int("n_fft", self.n_fft, 2)
        _check_int("hop_length", self.hop_length, 1)
        if self.win_length is None:
            object.__setattr__(self, "win_length", self.n_fft)
        _check_int("win_length", self.win_length, 1)
        if self.win_length > self.n_fft:
            raise ValueError(f"MelConfig.win_length: expected <= n_fft={self.n_fft}, got {self.win_length}")
        _check_choice("window", self.window, _WINDOWS)
        _check_int("n_mels", self.n_mels, 1)
        nyquist = self.sample_rate / 2
        object.__setattr__(self, "fmin", _check_real("fmin", self.fmin))
        if self.fmax is not None:
            object.__setattr__(self, "fmax", _check_real("fmax", self.fmax))
        if not 0 <= self.fmin < self.f_max:
            raise ValueError(f"MelConfig.fmin: expected 0 <= fmin < fmax={self.f_max}, got {self.fmin}")
        if self.f_max > nyquist:
            raise ValueError(f"MelConfig.fmax: expected <= Nyquist ({nyquist} Hz) or None, got {self.fmax}")
        _check_choice("log", self.log, _LOGS)
        object.__setattr__(self, "floor", _check_real("floor", self.floor))
        if self.floor <= 0:
            raise ValueError(f"MelConfig.floor: expected > 0 (it is clamped before the log), got {self.floor}")
        _check_choice("mel_scale", self.mel_scale, _MEL_SCALES)
        _check_choice("norm", self.norm, _NORMS)
        if not isinstance(self.center, bool):
            raise TypeError(f"MelConfig.center: expected a bool, got {type(self.center).__name__}")
        if self.pad is not None:
            if self.center:
                raise ValueError(
                    f"MelConfig.pad: only used with center=False (center=True pads n_fft//2), got {self.pad}"
                )
            _check_int("pad", self.pad, 0)
        object.__setattr__(self, "power", _check_real("power", self.power))
        if self.power <= 0:
            raise ValueError(f"MelConfig.power: expected > 0 (1 magnitude, 2 power), got {self.power}")
        object.__setattr__(self, "mag_eps", _check_real("mag_eps", self.mag_eps))
        if self.mag_eps < 0:
            raise ValueError(f"MelConfig.mag_eps: expected >= 0, got {self.mag_eps}")

    # ---- construction / serialisation -------------------------------------------------------------------
    @classmethod
    def preset(cls, name: str, **overrides: Any) -> MelConfig:
        """A named configuration (``"default"``, ``"hifigan"``), optionally with fields overridden."""
        if name not in cls.PRESETS:
            raise ValueError(f"unknown MelConfig preset {name!r}; expected one of {sorted(cls.PRESETS)}")
        return cls.from_dict({**cls.PRESETS[name], **overrides})

    def to_dict(self) -> dict[str, Any]:
        """Plain ``dict`` of the fields (JSON / TOML / checkpoint friendly)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MelConfig:
        """Inverse of :meth:`to_dict`; unknown keys are errors, missing keys take the defaults."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"MelConfig: unknown key(s) {unknown}; valid keys are {sorted(names)}")
        return cls(**d)

    def replace(self, **changes: Any) -> MelConfig:
        """A copy with some fields changed (validated again)."""
        return self.from_dict({**self.to_dict(), **changes})

    # ---- derived quantities ------------------------------------------------------------------------------
    @property
    def f_max(self) -> float:
        """``fmax`` with ``None`` resolved to Nyquist."""
        return self.sample_rate / 2 if self.fmax is None else float(self.fmax)

    @property
    def n_freqs(self) -> int:
        """Number of one-sided STFT bins, ``n_fft // 2 + 1``."""
        return self.n_fft // 2 + 1

    @property
    def pad_amount(self) -> int:
        """Reflect padding added on each side of the signal before framing."""
        if self.center:
            return self.n_fft // 2
        return (self.n_fft - self.hop_length) // 2 if self.pad is None else self.pad

    @property
    def frame_rate(self) -> float:
        """Frames per second, ``sample_rate / hop_length``."""
        return self.sample_rate / self.hop_length

    @property
    def min_samples(self) -> int:
        """Shortest signal that can be analysed (reflect padding needs ``pad < samples``; one full frame)."""
        p = self.pad_amount
        return max(p + 1, self.n_fft - 2 * p, 1)

    def num_frames(self, num_samples: int) -> int:
        """Frames produced for a signal of ``num_samples`` samples."""
        if num_samples < self.min_samples:
            raise ValueError(
                f"signal too short: {num_samples} samples; this MelConfig needs at least {self.min_samples}"
            )
        return 1 + (num_samples + 2 * self.pad_amount - self.n_fft) // self.hop_length

    def num_samples(self, num_frames: int) -> int:
        """Signal length that the inverse STFT makes from ``num_frames`` frames.

        ``(num_frames - 1) * hop + n_fft - 2 * pad``: ``(num_frames - 1) * hop`` for ``center=True`` (even
        ``n_fft``), ``num_frames * hop`` for HiFi-GAN's padding. ``num_frames(num_samples(f)) == f``.
        """
        if num_frames < 1:
            raise ValueError(f"num_frames: expected >= 1, got {num_frames}")
        return max((num_frames - 1) * self.hop_length + self.n_fft - 2 * self.pad_amount, 0)


# ---- filterbank ------------------------------------------------------------------------------------------
def _hz_to_mel(f: np.ndarray, scale: str) -> np.ndarray:
    f = np.asarray(f, dtype=np.float64)
    if scale == "htk":
        return 2595.0 * np.log10(1.0 + f / 700.0)
    f_sp, min_log_hz = 200.0 / 3, 1000.0  # Slaney: linear below 1 kHz, logarithmic above
    logstep = math.log(6.4) / 27.0
    return np.where(
        f >= min_log_hz,
        min_log_hz / f_sp + np.log(np.maximum(f, min_log_hz) / min_log_hz) / logstep,
        f / f_sp,
    )


def _mel_to_hz(m: np.ndarray, scale: str) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    if scale == "htk":
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, math.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


@functools.lru_cache(maxsize=32)
def _filterbank_np(cfg: MelConfig) -> np.ndarray:
    """(n_mels, n_freqs) float64 triangular filters, as librosa.filters.mel defines them."""
    fft_freqs = np.fft.rfftfreq(cfg.n_fft, d=1.0 / cfg.sample_rate)  # (n_freqs,)
    mel_pts = np.linspace(_hz_to_mel(cfg.fmin, cfg.mel_scale), _hz_to_mel(cfg.f_max, cfg.mel_scale), cfg.n_mels + 2)
    hz_pts = _mel_to_hz(mel_pts, cfg.mel_scale)  # (n_mels + 2,) band edges
    fdiff = np.diff(hz_pts)
    ramps = hz_pts[:, None] - fft_freqs[None, :]  # (n_mels + 2, n_freqs)
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    fb = np.maximum(0.0, np.minimum(lower, upper))  # (n_mels, n_freqs)
    if cfg.norm == "slaney":
        fb *= (2.0 / (hz_pts[2:] - hz_pts[:-2]))[:, None]
    empty = np.flatnonzero(fb.max(axis=1) <= 0)
    if empty.size:
        warnings.warn(
            f"{empty.size} of {cfg.n_mels} mel filters are empty (bands {empty[:8].tolist()}...): n_mels="
            f"{cfg.n_mels} is too many for n_fft={cfg.n_fft} over {cfg.fmin}-{cfg.f_max} Hz; "
            "lower n_mels or raise n_fft",
            UserWarning,
            stacklevel=3,
        )
    fb.setflags(write=False)
    return fb


def mel_filterbank(
    cfg: MelConfig, device: torch.device | str | None = None, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Mel filterbank ``A`` of shape ``(n_mels, n_freqs)``: ``mel = A @ |STFT|^power``. A fresh tensor."""
    return torch.tensor(_filterbank_np(cfg), dtype=dtype, device=device)


def window_tensor(
    cfg: MelConfig, device: torch.device | str | None = None, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """The analysis window zero-padded (centred) to ``n_fft`` samples, shape ``(n_fft,)``."""
    n = cfg.win_length
    if cfg.window == "rectangular":
        w = torch.ones(n, dtype=torch.float64)
    else:
        w = getattr(torch, f"{cfg.window}_window")(n, periodic=True, dtype=torch.float64)
    left = (cfg.n_fft - n) // 2
    w = F.pad(w, (left, cfg.n_fft - n - left))
    return w.to(device=device, dtype=dtype)


@functools.lru_cache(maxsize=64)
def _cached(kind: str, cfg: MelConfig, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    # Key = (kind, frozen config, device, dtype): every field that changes the tensor is in the key.
    if kind == "fbank":
        return mel_filterbank(cfg, device, dtype)
    if kind == "window":
        return window_tensor(cfg, device, dtype)
    raise KeyError(kind)


def _check_wave(wave: torch.Tensor, cfg: MelConfig, name: str = "wave") -> None:
    if not isinstance(wave, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor (..., samples), got {type(wave).__name__}")
    if not wave.is_floating_point():
        raise TypeError(f"{name}: expected a floating tensor (float32/float64), got {wave.dtype}")
    if wave.dim() < 1:
        raise ValueError(f"{name}: expected shape (..., samples), got a 0-d tensor")
    if wave.shape[-1] < cfg.min_samples:
        raise ValueError(
            f"{name}: too short, {wave.shape[-1]} samples; this MelConfig needs at least {cfg.min_samples}"
        )


# ---- STFT pair -------------------------------------------------------------------------------------------
def stft(wave: torch.Tensor, cfg: MelConfig, window: torch.Tensor | None = None) -> torch.Tensor:
    """Complex one-sided STFT with the config's framing.

    Args:
        wave: ``(..., samples)`` float tensor.
        window: ``(n_fft,)`` window (see :func:`window_tensor`); cached per device/dtype if ``None``.

    Returns:
        ``(..., n_freqs, frames)`` complex tensor, ``frames = cfg.num_frames(samples)``.
    """
    _check_wave(wave, cfg)
    if window is None:
        window = _cached("window", cfg, wave.device, wave.dtype)
    lead = wave.shape[:-1]
    x = wave.reshape(-1, 1, wave.shape[-1])  # (N, 1, L)
    p = cfg.pad_amount
    if p:
        x = F.pad(x, (p, p), mode="reflect")  # (N, 1, L + 2p)
    spec = torch.stft(
        x[:, 0],
        cfg.n_fft,
        hop_length=cfg.hop_length,
        win_length=cfg.n_fft,
        window=window,
        center=False,
        normalized=False,
        onesided=True,
        return_complex=True,
    )  # (N, F, T)
    return spec.reshape(*lead, *spec.shape[-2:])


def _ola_norm(cfg: MelConfig, frames: int, window: torch.Tensor) -> torch.Tensor:
    """Sum of squared windows at each output sample, ``(total,)``, with near-zeros replaced by 1."""
    total = (frames - 1) * cfg.hop_length + cfg.n_fft
    w2 = (window * window)[None, :, None].expand(1, cfg.n_fft, frames)  # (1, n_fft, T)
    wss = F.fold(w2, output_size=(1, total), kernel_size=(1, cfg.n_fft), stride=(1, cfg.hop_length)).reshape(total)
    return torch.where(wss > 1e-8 * wss.max(), wss, torch.ones_like(wss))


def istft(
    spec: torch.Tensor,
    cfg: MelConfig,
    length: int | None = None,
    window: torch.Tensor | None = None,
    ola_norm: torch.Tensor | None = None,
    backend: str = "auto",
) -> torch.Tensor:
    """Least-squares inverse of :func:`stft` (weighted overlap-add), for either framing convention.

    Unlike ``torch.istft(center=False)`` it does not reject windows that vanish at the frame edges: the
    padding region, where the window sum may be ~0, is cut off.

    The overlap-add (a transposed convolution with stride = hop, kernel = n_fft) runs on our
    :func:`kernels.overlap_add` for CPU tensors that need no gradient: it gathers each hop-sized output block
    from the frames that cover it, with the window, the normalisation and the crop fused in, about 3x faster
    than ``F.fold`` and 2x faster than ``torch.istft`` on 2 cores (``python -m gen_media.bench.vocoding``).

    Args:
        spec: ``(..., n_freqs, frames)`` complex tensor.
        length: output samples; default ``cfg.num_samples(frames)``; longer is zero-padded.
        window: ``(n_fft,)`` real tensor, default the config's.
        ola_norm: precomputed :func:`_ola_norm` for this frame count (Griffin-Lim reuses it).
        backend: ``"numba"`` (our overlap-add kernel; CPU only, no autograd), ``"torch"`` (``F.fold``: any device,
            differentiable) or ``"auto"`` (numba for CPU tensors that need no gradient, else torch).

    Returns:
        ``(..., samples)`` real tensor.
    """
    if not torch.is_complex(spec):
        raise TypeError(f"spec: expected a complex tensor (..., n_freqs, frames), got {spec.dtype}")
    if spec.dim() < 2 or spec.shape[-2] != cfg.n_freqs:
        raise ValueError(f"spec: expected shape (..., {cfg.n_freqs}, frames), got {tuple(spec.shape)}")
    real_dtype = spec.real.dtype
    if window is None:
        window = _cached("window", cfg, spec.device, real_dtype)
    lead, (n_f, n_t) = spec.shape[:-2], spec.shape[-2:]
    if ola_norm is None:
        ola_norm = _ola_norm(cfg, n_t, window)
    p = cfg.pad_amount
    n_out = cfg.num_samples(n_t) if length is None else int(length)
    if use_numba(backend, spec, window):
        frames = torch.fft.irfft(spec.reshape(-1, n_f, n_t).transpose(-1, -2), n=cfg.n_fft, dim=-1)  # (N, T, n_fft)
        y = _overlap_add(frames.contiguous().numpy(), cfg.hop_length, window.numpy(), norm=ola_norm.numpy(),
                         offset=p, length=n_out)  # (N, n_out), cropped and normalised
        return torch.from_numpy(y).reshape(*lead, n_out)
    frames = torch.fft.irfft(spec.reshape(-1, n_f, n_t), n=cfg.n_fft, dim=-2)  # (N, n_fft, T)
    frames = frames * window[:, None]
    total = (n_t - 1) * cfg.hop_length + cfg.n_fft
    y = F.fold(frames, output_size=(1, total), kernel_size=(1, cfg.n_fft), stride=(1, cfg.hop_length))
    y = y.reshape(-1, total) / ola_norm  # (N, total)
    y = y[:, p : p + n_out]
    if y.shape[-1] < n_out:
        y = F.pad(y, (0, n_out - y.shape[-1]))
    return y.reshape(*lead, n_out)


BACKENDS = ("auto", "numba", "torch")


def use_numba(backend: str, *tensors: torch.Tensor) -> bool:
    """Whether to run on our Numba kernels (NumPy, CPU, no autograd) rather than torch ops: ``backend`` is
    ``"numba"``, ``"torch"`` or ``"auto"`` (numba when every tensor is on the CPU and none needs a gradient)."""
    if backend not in BACKENDS:
        raise ValueError(f"backend: expected one of {BACKENDS}, got {backend!r}")
    usable = all(t.device.type == "cpu" and not (torch.is_grad_enabled() and t.requires_grad) for t in tensors)
    if backend == "numba" and not usable:
        raise ValueError("backend='numba' needs CPU tensors without autograd; use backend='torch' here")
    return backend == "numba" or (backend == "auto" and usable)


def stft_magnitude(wave: torch.Tensor, cfg: MelConfig) -> torch.Tensor:
    """Plain ``|STFT|`` (no ``power``, no ``mag_eps``): ``(..., samples) -> (..., n_freqs, frames)``."""
    return stft(wave, cfg).abs()


# ---- log-mel ---------------------------------------------------------------------------------------------
def _mel_from_wave(wave: torch.Tensor, cfg: MelConfig, fbank: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    spec = stft(wave, cfg, window)  # (..., F, T) complex
    if cfg.mag_eps == 0 and cfg.power == 1.0:
        mag = spec.abs()
    else:
        p2 = torch.view_as_real(spec).square().sum(-1) + cfg.mag_eps  # (..., F, T), |X|^2 + eps
        mag = p2.sqrt() if cfg.power == 1.0 else p2.pow(cfg.power / 2)
    mel = torch.matmul(fbank, mag)  # (n_mels, F) @ (..., F, T) -> (..., n_mels, T)
    mel = mel.clamp_min(cfg.floor)
    return mel.log10() if cfg.log == "log10" else mel.log()


def mel_spectrogram(wave: torch.Tensor, cfg: MelConfig) -> torch.Tensor:
    """Log-mel spectrogram ``log(max(A @ |STFT(wave)|^power, floor))``.

    Args:
        wave: ``(..., samples)`` float32/float64 tensor on any device; differentiable.
        cfg: the analysis configuration.

    Returns:
        ``(..., n_mels, frames)`` with ``frames = cfg.num_frames(samples)``, same dtype/device as ``wave``.
    """
    _check_wave(wave, cfg)
    fbank = _cached("fbank", cfg, wave.device, wave.dtype)
    window = _cached("window", cfg, wave.device, wave.dtype)
    return _mel_from_wave(wave, cfg, fbank, window)


def mel_spectrogram_np(wave: np.ndarray, cfg: MelConfig) -> np.ndarray:
    """NumPy convenience: ``(..., samples)`` array -> ``(..., n_mels, frames)`` float32 array (CPU)."""
    x = torch.from_numpy(np.ascontiguousarray(wave, dtype=np.float32))
    with torch.no_grad():
        return mel_spectrogram(x, cfg).numpy()


class MelSpectrogram(nn.Module):
    """Module form of :func:`mel_spectrogram`; the filterbank and window are buffers.

    The buffers are not persistent (they derive from ``cfg``, which checkpoints carry via ``to_dict``),
    so ``state_dict()`` is empty and the module follows ``.to(device)`` like any other.
    """

    fbank: torch.Tensor
    window: torch.Tensor

    def __init__(self, cfg: MelConfig) -> None:
        super().__init__()
        if not isinstance(cfg, MelConfig):
            raise TypeError(f"cfg: expected a MelConfig, got {type(cfg).__name__}")
        self.cfg = cfg
        self.register_buffer("fbank", mel_filterbank(cfg), persistent=False)  # (n_mels, n_freqs)
        self.register_buffer("window", window_tensor(cfg), persistent=False)  # (n_fft,)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        """``(..., samples) -> (..., n_mels, frames)``."""
        _check_wave(wave, self.cfg)
        fbank, window = self.fbank.to(wave.dtype), self.window.to(wave.dtype)
        return _mel_from_wave(wave, self.cfg, fbank, window)

    def extra_repr(self) -> str:
        c = self.cfg
        return f"sample_rate={c.sample_rate}, n_fft={c.n_fft}, hop_length={c.hop_length}, n_mels={c.n_mels}"
