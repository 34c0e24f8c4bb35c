"""Typed configuration of the neural vocoder (``recipes/speech/vocoder.toml``).

The ``data`` and ``mel`` sections are the speech recipe's own classes, so a vocoder trained with the same
dataset and preset can vocode what the speech decoders generate. Every length derives from the mel config:
a training segment is ``segment_frames * hop_length`` samples, the HiFi-GAN strides multiply to the hop, the
iSTFT generator synthesises in the mel's own STFT.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from gen_media.audio import MelConfig
from gen_media.config import ConfigError
from gen_media.speech import DataConfig, MelSection
from gen_media.trainer import LoopConfig


@dataclass
class VocoderModelConfig:
    backend: Literal["torch", "numba"] = "torch"  # transposed convolutions on torch's op or our Numba kernels
    generator: Literal["istft", "hifigan"] = "istft"  # frame-rate ConvNeXt + inverse STFT, or HiFi-GAN
    width: int = 256  # istft: ConvNeXt channels
    layers: int = 8  # istft: ConvNeXt blocks
    mlp_ratio: int = 3  # istft: hidden width of each block's pointwise MLP, in multiples of width
    upsample_rates: tuple[int, ...] = (8, 8, 4)  # one ConvTranspose1d per entry (kernel 2x); product = hop
    upsample_initial_channel: int = 128  # width after conv_pre; halved by every upsampling stage
    resblock_kernels: tuple[int, ...] = (3, 5, 7)  # multi-receptive-field fusion: one residual block per kernel
    resblock_dilations: tuple[tuple[int, ...], ...] = ((1, 2), (2, 6), (3, 12))  # one dilation list per kernel
    pre_kernel: int = 7  # conv_pre / conv_post (hifigan); embed and depthwise convolutions (istft)
    slope: float = 0.1  # leaky-ReLU negative slope
    silence_gate: bool = False  # zero the output where every mel band sits at the floor (hifigan needs it)
    gate_margin: float = 0.5  # a frame is silent when all bands are below log(floor) + this (log units)

    def __post_init__(self) -> None:
        if not self.upsample_rates or any(r < 2 for r in self.upsample_rates):
            raise ConfigError(f"model.upsample_rates: expected strides >= 2, got {list(self.upsample_rates)}")
        if len(self.resblock_kernels) != len(self.resblock_dilations):
            raise ConfigError(f"model.resblock_dilations: expected one list per kernel in resblock_kernels "
                              f"({len(self.resblock_kernels)}), got {len(self.resblock_dilations)}")
        if any(k % 2 == 0 for k in (*self.resblock_kernels, self.pre_kernel)):
            raise ConfigError("model.resblock_kernels / pre_kernel: expected odd kernels ('same' padding), got "
                              f"{list(self.resblock_kernels)} / {self.pre_kernel}")
        if min(self.width, self.layers, self.mlp_ratio) < 1:
            raise ConfigError(f"model.width / layers / mlp_ratio: expected >= 1, got {self.width} / {self.layers} / "
                              f"{self.mlp_ratio}")
        width = self.upsample_initial_channel >> len(self.upsample_rates)
        if width < 1:
            raise ConfigError(f"model.upsample_initial_channel: {self.upsample_initial_channel} halved "
                              f"{len(self.upsample_rates)} times leaves no channel; raise it")


@dataclass
class LossConfig:
    stft_scales: tuple[float, ...] = (0.5, 1.0, 2.0)  # MR-STFT resolutions: mel n_fft and hop times each scale
    stft_weight: float = 1.0  # weight of (spectral convergence + log-magnitude L1), averaged over resolutions
    mel_weight: float = 1.0  # weight of the log-mel L1
    log_eps: float = 1e-5  # log(|X| + eps) in the log-magnitude term: the eps of log_spectral_distance
    phase_weight: float = 0.0  # APNet's anti-wrapped phase losses at the mel's STFT (0: off)
    phase_floor: float = 1e-3  # phase terms only where the reference |X| exceeds this
    adversarial: bool = False  # multi-period + multi-scale discriminators, least-squares GAN + feature matching
    adv_weight: float = 1.0  # generator's adversarial term
    fm_weight: float = 2.0  # feature matching (L1 between discriminator features of real and generated audio)
    adv_start: int = 0  # steps of reconstruction-only training before the discriminators join
    periods: tuple[int, ...] = (2, 3, 5, 7, 11)  # multi-period discriminator periods
    scales: int = 3  # multi-scale discriminator: raw audio, then x2 average-pooled, ...
    disc_channels: tuple[int, ...] = (16, 64, 128)  # discriminator widths (each layer strided)

    def __post_init__(self) -> None:
        if not self.stft_scales or any(s <= 0 for s in self.stft_scales):
            raise ConfigError(f"loss.stft_scales: expected positive scales, got {list(self.stft_scales)}")
        if self.log_eps <= 0:
            raise ConfigError(f"loss.log_eps: expected > 0, got {self.log_eps}")


@dataclass
class VocoderTrainConfig(LoopConfig):
    steps: int = 8500
    batch_size: int = 16
    segment_frames: int = 32  # mel frames per training crop; audio crop = segment_frames * hop_length samples
    lr: float = 1e-3  # AdamW, warm-up then cosine decay to 5%
    lr_d: float = 2e-4  # discriminators (loss.adversarial only)
    betas: tuple[float, float] = (0.8, 0.99)
    warmup_steps: int = 50
    grad_clip: float = 10.0  # max global gradient norm (0: off)
    val_clips: int = 16  # fixed held-out clips for validate / sample
    log_every: int = 25
    sample_every: int = 2500
    checkpoint_every: int = 1000
    val_every: int = 1000
    threads: int = 2  # torch and numba threads

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.segment_frames < 1 or self.batch_size < 1 or self.val_clips < 1:
            raise ConfigError("train.segment_frames, batch_size and val_clips: expected >= 1, got "
                              f"{self.segment_frames}, {self.batch_size}, {self.val_clips}")


@dataclass
class VocoderConfig:
    seed: int = 0
    data: DataConfig = field(default_factory=DataConfig)
    mel: MelSection = field(default_factory=MelSection)
    model: VocoderModelConfig = field(default_factory=VocoderModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: VocoderTrainConfig = field(default_factory=VocoderTrainConfig)

    def __post_init__(self) -> None:
        mel = self.mel_config
        if self.model.generator == "hifigan":
            check_upsample_rates(self.model.upsample_rates, mel.hop_length)
        seg = self.train.segment_frames * mel.hop_length
        need = max(stft_config(mel, s).min_samples for s in self.loss.stft_scales)
        if seg < need:
            raise ConfigError(f"train.segment_frames: {self.train.segment_frames} frames = {seg} samples, shorter "
                              f"than the largest STFT resolution needs ({need}); raise it or lower loss.stft_scales")

    @property
    def mel_config(self) -> MelConfig:
        return MelConfig.preset(self.mel.preset)


def check_upsample_rates(rates: tuple[int, ...] | list[int], hop_length: int) -> None:
    """Raise unless the strides multiply to the hop (one mel frame -> ``hop_length`` samples)."""
    if math.prod(rates) != hop_length:
        raise ConfigError(f"model.upsample_rates: {list(rates)} multiply to {math.prod(rates)}, but the mel hop is "
                          f"{hop_length}; pick strides whose product is {hop_length} (e.g. [8, 8, 4] for 256)")


def stft_config(mel: MelConfig, scale: float) -> MelConfig:
    """The analysis of one MR-STFT resolution: the mel's framing with ``n_fft`` and hop scaled by ``scale``."""
    return mel.replace(n_fft=max(2, round(mel.n_fft * scale)), hop_length=max(1, round(mel.hop_length * scale)),
                       win_length=None, pad=None)
