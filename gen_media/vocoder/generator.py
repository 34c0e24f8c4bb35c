"""HiFi-GAN-style generator: log-mel ``(B, n_mels, T)`` -> waveform ``(B, T * hop_length)``.

conv_pre -> [leaky ReLU -> ConvTranspose1d (kernel 2 x stride) -> mean of multi-receptive-field residual
blocks] per stride -> leaky ReLU -> conv_post -> tanh. The strides multiply to the mel hop, so every mel frame
becomes exactly ``hop_length`` samples (frame ``t`` -> samples ``[t * hop, (t + 1) * hop)``). With kernel =
2 x stride every output sample of a transposed convolution gets the same number of taps (no checkerboard).

Two things HiFi-GAN does not do, both because the training budget is minutes on two cores:

* the input is normalized per mel band with the training data's statistics (persistent buffers), so the
  first layer does not spend its early steps learning an offset of about -11 nats;
* an optional *silence gate*: frames whose every band sits at the analysis floor are digital silence (they
  come from exact zeros), and the network's output there is multiplied by a gain that ramps linearly
  between frame centres from 1 (sound) to 0 (silence). A convolution fed a constant cannot make an exact
  zero (its stride phases differ), and a hiss 80 dB down still costs tens of dB of log-spectral distance.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import weight_norm

from gen_media.audio import MelConfig
from gen_media.nn import ConvTranspose1d, set_backend

from .config import VocoderModelConfig, check_upsample_rates


def upsample_padding(stride: int) -> tuple[int, int]:
    """``(padding, output_padding)`` that make ``ConvTranspose1d(kernel=2*stride, stride)`` map L -> L*stride.

    ``L_out = (L - 1) s - 2p + 2s + op = L s + s - 2p + op``, so ``2p - op = s``.
    """
    return (stride + stride % 2) // 2, stride % 2


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


class HiFiGANGenerator(nn.Module):
    """Log-mel ``(B, n_mels, T)`` (the scale of :func:`gen_media.speech.log_mels`) -> ``(B, T * hop)``."""

    mel_mean: torch.Tensor
    mel_std: torch.Tensor

    def __init__(self, mel: MelConfig, cfg: VocoderModelConfig):
        super().__init__()
        check_upsample_rates(cfg.upsample_rates, mel.hop_length)
        self.mel, self.cfg = mel, cfg
        c0, n_k = cfg.upsample_initial_channel, len(cfg.resblock_kernels)
        self.register_buffer("mel_mean", torch.zeros(mel.n_mels, 1))  # (n_mels, 1), set by set_normalization
        self.register_buffer("mel_std", torch.ones(mel.n_mels, 1))
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

    @property
    def hop_length(self) -> int:
        return math.prod(self.cfg.upsample_rates)

    def set_normalization(self, mels: torch.Tensor) -> None:
        """Per-band mean / std of training log-mels ``(N, n_mels, T)``."""
        self.mel_mean.copy_(mels.mean(dim=(0, 2)).unsqueeze(-1))
        self.mel_std.copy_(mels.std(dim=(0, 2)).unsqueeze(-1).clamp_min(1e-3))

    def set_backend(self, backend: str) -> HiFiGANGenerator:
        set_backend(self, backend)
        return self

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """``(B, n_mels, T)`` -> ``(B, T * hop)``."""
        if mel.dim() != 3 or mel.shape[1] != self.mel.n_mels:
            raise ValueError(f"mel: expected (batch, n_mels={self.mel.n_mels}, frames), got {tuple(mel.shape)}")
        x = self.conv_pre((mel - self.mel_mean) / self.mel_std)  # (B, C0, T)
        for i, up in enumerate(self.ups):
            x = up(F.leaky_relu(x, self.cfg.slope))  # (B, C0 / 2^(i+1), T * prod(strides[:i+1]))
            blocks = self.blocks[i * self.n_kernels:(i + 1) * self.n_kernels]
            x = sum(b(x) for b in blocks) / self.n_kernels
        x = self.conv_post(F.leaky_relu(x))  # (B, 1, T * hop); HiFi-GAN's default slope (0.01) here
        wave = torch.tanh(x)[:, 0]  # (B, T * hop)
        if self.cfg.silence_gate:
            wave = wave * silence_gain(mel, self.mel, self.cfg.gate_margin)
        return wave

    def fold(self) -> HiFiGANGenerator:
        """Bake the weight-norm parametrizations into plain weights (same outputs, less work per call)."""
        for m in self.modules():
            if parametrize.is_parametrized(m, "weight"):
                parametrize.remove_parametrizations(m, "weight", leave_parametrized=True)
        return self


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
