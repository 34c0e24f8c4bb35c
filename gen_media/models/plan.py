"""Sizes of a stack of transposed convolutions, derived from the length it must reach."""

from __future__ import annotations

import math
from dataclasses import dataclass

from torch import nn

from gen_media.nn import ConvTranspose1d, ConvTranspose3d

UPSAMPLE_MODES = ("transposed", "resize")


@dataclass(frozen=True)
class UpsamplePlan:
    """Lengths of a stack of stride-s transposed convolutions that reaches at least ``frames``."""

    frames: int  # the target length
    base_frames: int  # the length the first transposed convolution receives
    stride: int
    kernel: int
    padding: int
    output_padding: int
    stages: int

    @classmethod
    def make(cls, frames: int, stages: int, stride: int = 2, kernel_mult: int = 2, kernel: int = 0) -> UpsamplePlan:
        """``kernel`` (when > 0) overrides ``kernel_mult * stride``, e.g. kernel 3 at stride 2 (uneven overlap)."""
        if frames < 1 or stages < 0 or stride < 1 or kernel_mult < 1 or kernel < 0:
            raise ValueError(f"UpsamplePlan: expected frames >= 1, stages >= 0, stride >= 1, kernel_mult >= 1, "
                             f"kernel >= 0, got frames={frames}, stages={stages}, stride={stride}, "
                             f"kernel_mult={kernel_mult}, kernel={kernel}")
        kernel = kernel or kernel_mult * stride
        if kernel < stride:
            raise ValueError(f"kernel: expected at least the stride ({stride}), got {kernel}")
        # out = (L - 1)*s - 2p + k + op = L*s exactly when 2p - op = k - s
        padding = math.ceil((kernel - stride) / 2)
        output_padding = 2 * padding - (kernel - stride)
        return cls(frames, math.ceil(frames / stride**stages), stride, kernel, padding, output_padding, stages)

    @property
    def lengths(self) -> list[int]:
        return [self.base_frames * self.stride**i for i in range(self.stages + 1)]


def upsampler(nd: int, c_in: int, c_out: int, kernel: tuple[int, ...], stride: tuple[int, ...],
              padding: tuple[int, ...], output_padding: tuple[int, ...], mode: str = "transposed",
              backend: str = "torch") -> nn.Module:
    """One x-stride stage: a transposed convolution, or (``mode="resize"``) nearest-neighbour resize then a
    stride-1 convolution (Odena, Dumoulin and Olah 2016), which cannot make checkerboard artefacts. Both give
    exactly ``L * stride`` on every axis for the paddings of :class:`UpsamplePlan`."""
    if mode == "transposed":
        layer = ConvTranspose1d if nd == 1 else ConvTranspose3d
        return layer(c_in, c_out, kernel, stride, padding, output_padding, backend=backend)
    if mode != "resize":
        raise ValueError(f"model.upsample: expected one of {UPSAMPLE_MODES}, got {mode!r}")
    k = tuple(3 if (s > 1 or kk > 1) else 1 for s, kk in zip(stride, kernel, strict=True))
    conv = nn.Conv1d if nd == 1 else nn.Conv3d
    scale = stride[0] if nd == 1 else tuple(float(s) for s in stride)
    return nn.Sequential(nn.Upsample(scale_factor=scale, mode="nearest"),
                         conv(c_in, c_out, k, padding=tuple(kk // 2 for kk in k)))
