"""Vocoder generators: log-mel ``(B, n_mels, T)`` -> waveform ``(B, T * hop_length)``, frame ``t`` -> samples
``[t * hop, (t + 1) * hop)``. Two designs share the input normalization, the backend switch and the silence gate:

* :class:`ISTFTGenerator` (the default, ``model.generator = "istft"``): a ConvNeXt stack at the frame rate
  predicts each frame's log-magnitude and phase in the mel's own STFT, and one ConvTranspose1d with
  stride = hop turns them into samples: its fixed weight is the windowed inverse DFT, so the transposed
  convolution *is* the inverse STFT's overlap-add (:class:`InverseSTFT`). All learned layers run at the frame
  rate (1/256 of the sample rate), and the magnitude is predicted in the very spectrogram the log-spectral
  distance re-analyses: on 2 cores it reaches Griffin-Lim's distance within minutes where the HiFi-GAN
  generator, which must learn to synthesise every sample, stays ~3 dB behind after 17 minutes.
* :class:`HiFiGANGenerator` (``"hifigan"``): conv_pre -> [leaky ReLU -> ConvTranspose1d (kernel 2 x stride) ->
  mean of multi-receptive-field residual blocks] per stride -> leaky ReLU -> conv_post -> tanh, weight norm;
  the strides multiply to the mel hop. With kernel = 2 x stride every output sample of a transposed
  convolution gets the same number of taps (no checkerboard).

Two things HiFi-GAN does not do, both because the training budget is minutes on two cores:

* the input is normalized per mel band with the training data's statistics (persistent buffers), so the
  first layer does not spend its early steps learning an offset of about -11 nats;
* an optional *silence gate*: frames whose every band sits at the analysis floor are digital silence (they
  come from exact zeros), and the network's output there is multiplied by a gain that ramps linearly
  between frame centres from 1 (sound) to 0 (silence). A convolution fed a constant cannot make an exact
  zero (its stride phases differ), and a hiss 80 dB down still costs tens of dB of log-spectral distance.
  The iSTFT generator does not need it: its magnitudes are ``exp`` of its output and go as low as asked.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import weight_norm

from gen_media.audio import MelConfig
from gen_media.audio.mel import _ola_norm, window_tensor
from gen_media.nn import ConvTranspose1d, set_backend

from .config import VocoderModelConfig, check_upsample_rates


def upsample_padding(stride: int) -> tuple[int, int]:
    """``(padding, output_padding)`` that make ``ConvTranspose1d(kernel=2*stride, stride)`` map L -> L*stride.

    ``L_out = (L - 1) s - 2p + 2s + op = L s + s - 2p + op``, so ``2p - op = s``.
    """
    return (stride + stride % 2) // 2, stride % 2


class MelToWave(nn.Module):
    """What both generators share: per-band input normalization, the input check, the silence gate, the
    backend switch and weight-norm folding. Subclasses implement ``synthesize(normalized_mel) -> (B, T*hop)``."""

    mel_mean: torch.Tensor
    mel_std: torch.Tensor

    def __init__(self, mel: MelConfig, cfg: VocoderModelConfig):
        super().__init__()
        self.mel, self.cfg = mel, cfg
        self.register_buffer("mel_mean", torch.zeros(mel.n_mels, 1))  # (n_mels, 1), set by set_normalization
        self.register_buffer("mel_std", torch.ones(mel.n_mels, 1))

    @property
    def hop_length(self) -> int:
        return self.mel.hop_length

    def set_normalization(self, mels: torch.Tensor) -> None:
        """Per-band mean / std of training log-mels ``(N, n_mels, T)``."""
        self.mel_mean.copy_(mels.mean(dim=(0, 2)).unsqueeze(-1))
        self.mel_std.copy_(mels.std(dim=(0, 2)).unsqueeze(-1).clamp_min(1e-3))

    def set_backend(self, backend: str) -> MelToWave:
        set_backend(self, backend)
        return self

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """``(B, n_mels, T)`` -> ``(B, T * hop)``."""
        if mel.dim() != 3 or mel.shape[1] != self.mel.n_mels:
            raise ValueError(f"mel: expected (batch, n_mels={self.mel.n_mels}, frames), got {tuple(mel.shape)}")
        wave = self.synthesize((mel - self.mel_mean) / self.mel_std)  # (B, T * hop)
        if self.cfg.silence_gate:
            wave = wave * silence_gain(mel, self.mel, self.cfg.gate_margin)
        return wave

    def synthesize(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def fold(self) -> MelToWave:
        """Bake any weight-norm parametrizations into plain weights (same outputs, less work per call)."""
        for m in self.modules():
            if parametrize.is_parametrized(m, "weight"):
                parametrize.remove_parametrizations(m, "weight", leave_parametrized=True)
        return self


# ------------------------------------------------------------------------------------------------ HiFi-GAN
def _init(m: nn.Module) -> None:
    if isinstance(m, nn.Conv1d | nn.ConvTranspose1d):
        nn.init.normal_(m.weight, 0.0, 0.01)  # HiFi-GAN's init: small, so the residual stack starts near identity


class ResBlock(nn.Module):
    """``x + conv_d(leaky(x))`` for each dilation ``d`` (HiFi-GAN's "type 2" block); ``(B, C, L)`` -> same."""

    def __init__(self, channels: int, kernel: int, dilations: tuple[int, ...], slope: float):
        super().__init__()
        self.slope = slope
        self.convs = nn.ModuleList(
            nn.Conv1d(channels, channels, kernel, dilation=d, padding=d * (kernel - 1) // 2) for d in dilations)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in self.convs:
            x = x + conv(F.leaky_relu(x, self.slope))  # (B, C, L)
        return x


class HiFiGANGenerator(MelToWave):
    """Log-mel ``(B, n_mels, T)`` (the scale of :func:`gen_media.speech.log_mels`) -> ``(B, T * hop)``."""

    def __init__(self, mel: MelConfig, cfg: VocoderModelConfig):
        super().__init__(mel, cfg)
        check_upsample_rates(cfg.upsample_rates, mel.hop_length)
        c0, n_k = cfg.upsample_initial_channel, len(cfg.resblock_kernels)
        self.conv_pre = nn.Conv1d(mel.n_mels, c0, cfg.pre_kernel, padding=cfg.pre_kernel // 2)
        self.ups = nn.ModuleList()
        self.blocks = nn.ModuleList()
        for i, s in enumerate(cfg.upsample_rates):
            c_in, c_out = c0 >> i, c0 >> (i + 1)
            pad, out_pad = upsample_padding(s)
            self.ups.append(ConvTranspose1d(c_in, c_out, 2 * s, s, padding=pad, output_padding=out_pad,
                                            backend=cfg.backend))
            self.blocks.extend(ResBlock(c_out, k, tuple(d), cfg.slope)
                               for k, d in zip(cfg.resblock_kernels, cfg.resblock_dilations, strict=True))
        self.conv_post = nn.Conv1d(c0 >> len(cfg.upsample_rates), 1, cfg.pre_kernel, padding=cfg.pre_kernel // 2)
        self.n_kernels = n_k
        self.apply(_init)
        for m in self.modules():
            if isinstance(m, nn.Conv1d | nn.ConvTranspose1d):
                weight_norm(m)

    def synthesize(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_pre(x)  # (B, C0, T)
        for i, up in enumerate(self.ups):
            x = up(F.leaky_relu(x, self.cfg.slope))  # (B, C0 / 2^(i+1), T * prod(strides[:i+1]))
            blocks = self.blocks[i * self.n_kernels:(i + 1) * self.n_kernels]
            x = sum(b(x) for b in blocks) / self.n_kernels
        x = self.conv_post(F.leaky_relu(x))  # (B, 1, T * hop); HiFi-GAN's default slope (0.01) here
        return torch.tanh(x)[:, 0]  # (B, T * hop)


# ------------------------------------------------------------------------------------------------ iSTFT
class InverseSTFT(nn.Module):
    """``(B, 2F, T)`` real parts then imaginary parts of a one-sided STFT in ``mel``'s framing ->
    ``(B, T * hop)`` samples, equal to :func:`gen_media.audio.istft` (and ``torch.istft``).

    Each frame's inverse real DFT times the synthesis window is linear in the ``2F`` coefficients, so the
    whole inverse STFT is one ``ConvTranspose1d(2F -> 1, kernel=n_fft, stride=hop)`` with a fixed weight
    ``W[k, n] = c_k w[n] cos(2 pi k n / N) / N`` (real part) and ``-c_k w[n] sin(...) / N`` (imaginary part),
    ``c_k = 1`` at DC and Nyquist and 2 between: the stride does the overlap-add. Dividing by the summed
    squared window and cutting the analysis padding makes it the least-squares inverse. The weight is a
    frozen parameter, so it moves with ``.to()`` and runs on either backend.
    """

    def __init__(self, mel: MelConfig, backend: str = "torch"):
        super().__init__()
        if 2 * mel.hop_length > mel.n_fft:
            raise ValueError(f"the inverse STFT needs overlapping frames (hop <= n_fft / 2); this mel config has hop "
                             f"{mel.hop_length}, n_fft {mel.n_fft}: use model.generator = 'hifigan' for it")
        self.mel = mel
        n, n_f = mel.n_fft, mel.n_freqs
        window = window_tensor(mel, dtype=torch.float64)  # (n_fft,)
        k, t = torch.arange(n_f, dtype=torch.float64), torch.arange(n, dtype=torch.float64)
        angle = 2 * math.pi * torch.outer(k, t) / n  # (F, n_fft)
        c = torch.full((n_f, 1), 2.0, dtype=torch.float64)
        c[0] = 1.0
        if n % 2 == 0:
            c[-1] = 1.0
        weight = torch.cat([c * angle.cos(), -c * angle.sin()]) * window / n  # (2F, n_fft)
        self.conv = ConvTranspose1d(2 * n_f, 1, n, stride=mel.hop_length, bias=False, backend=backend)
        self.conv.weight.requires_grad_(False)
        with torch.no_grad():
            self.conv.weight.copy_(weight[:, None, :])  # (2F, 1, n_fft)
        self.register_buffer("window", window.float(), persistent=False)

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        n_t, hop, p = spec.shape[-1], self.mel.hop_length, self.mel.pad_amount
        y = self.conv(spec)[:, 0] / _ola_norm(self.mel, n_t, self.window)  # (B, (T - 1) hop + n_fft)
        return y[:, p:p + n_t * hop]  # hop <= n_fft / 2 (checked above) keeps this T * hop long


class ConvNeXtBlock(nn.Module):
    """``x + gamma * pw2(gelu(pw1(norm(dwconv(x)))))`` on ``(B, C, T)`` (ConvNeXt, as Vocos uses it)."""

    def __init__(self, width: int, kernel: int, mlp_ratio: int, layer_scale: float):
        super().__init__()
        self.dwconv = nn.Conv1d(width, width, kernel, padding=kernel // 2, groups=width)
        self.norm = nn.LayerNorm(width)
        self.pw1 = nn.Linear(width, mlp_ratio * width)
        self.pw2 = nn.Linear(mlp_ratio * width, width)
        self.gamma = nn.Parameter(torch.full((width,), layer_scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dwconv(x).transpose(1, 2)  # (B, T, C)
        y = self.pw2(F.gelu(self.pw1(self.norm(y))))
        return x + (self.gamma * y).transpose(1, 2)


class ISTFTGenerator(MelToWave):
    """Log-mel ``(B, n_mels, T)`` -> ``(B, T * hop)`` through per-frame log-magnitude and phase.

    embed (Conv1d) -> LayerNorm -> ``layers`` ConvNeXt blocks -> LayerNorm -> Linear to ``2F`` values per
    frame: ``log|X|`` (clamped at the largest magnitude a signal in [-1, 1] can have, the window's sum) and a
    phase ``phi`` (used through cos / sin, so any real number is a valid phase) -> ``X = |X| e^{i phi}`` ->
    :class:`InverseSTFT`.
    """

    def __init__(self, mel: MelConfig, cfg: VocoderModelConfig):
        super().__init__(mel, cfg)
        w = cfg.width
        self.embed = nn.Conv1d(mel.n_mels, w, cfg.pre_kernel, padding=cfg.pre_kernel // 2)
        self.norm_in = nn.LayerNorm(w)
        self.blocks = nn.ModuleList(ConvNeXtBlock(w, cfg.pre_kernel, cfg.mlp_ratio, 1.0 / cfg.layers)
                                    for _ in range(cfg.layers))
        self.norm_out = nn.LayerNorm(w)
        self.head = nn.Linear(w, 2 * mel.n_freqs)
        self.istft = InverseSTFT(mel, cfg.backend)
        self.log_mag_max = math.log(float(window_tensor(mel).sum()))

    def synthesize(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm_in(self.embed(x).transpose(1, 2)).transpose(1, 2)  # (B, C, T)
        for block in self.blocks:
            x = block(x)
        h = self.head(self.norm_out(x.transpose(1, 2))).transpose(1, 2)  # (B, 2F, T)
        log_mag, phase = h.chunk(2, dim=1)  # (B, F, T) each
        mag = log_mag.clamp(max=self.log_mag_max).exp()
        return self.istft(torch.cat([mag * phase.cos(), mag * phase.sin()], dim=1))  # (B, T * hop)


GENERATORS = {"istft": ISTFTGenerator, "hifigan": HiFiGANGenerator}


def build_generator(mel: MelConfig, cfg: VocoderModelConfig) -> MelToWave:
    """The generator ``cfg.generator`` names (``"istft"`` | ``"hifigan"``)."""
    return GENERATORS[cfg.generator](mel, cfg)


def silence_gain(mel: torch.Tensor, cfg: MelConfig, margin: float) -> torch.Tensor:
    """``(B, n_mels, T)`` log-mel -> ``(B, T * hop)`` gain: 0 at the centre of frames whose every band is below
    ``log(floor) + margin``, 1 at other frames' centres, linear in between (frame ``t``'s centre is sample
    ``t * hop`` in the analysis; the last frame's gain holds to the end)."""
    log_floor = math.log10(cfg.floor) if cfg.log == "log10" else math.log(cfg.floor)
    sound = (mel.amax(dim=1, keepdim=True) > log_floor + margin).to(mel.dtype)  # (B, 1, T)
    hop, n_t = cfg.hop_length, mel.shape[-1]
    if n_t == 1:
        return sound[:, 0].expand(-1, hop)
    ramp = F.interpolate(sound, size=(n_t - 1) * hop + 1, mode="linear", align_corners=True)  # (B, 1, (T-1)hop+1)
    return F.pad(ramp, (0, hop - 1), mode="replicate")[:, 0]  # (B, T * hop)
