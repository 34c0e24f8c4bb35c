"""Sizes of a stack of transposed convolutions, derived from the length it must reach."""

from __future__ import annotations

import math
from dataclasses import dataclass


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
    def make(cls, frames: int, stages: int, stride: int = 2, kernel_mult: int = 2) -> UpsamplePlan:
        if frames < 1 or stages < 0 or stride < 1 or kernel_mult < 1:
            raise ValueError(f"UpsamplePlan: expected frames >= 1, stages >= 0, stride >= 1, kernel_mult >= 1, "
                             f"got frames={frames}, stages={stages}, stride={stride}, kernel_mult={kernel_mult}")
        kernel = kernel_mult * stride
        # out = (L - 1)*s - 2p + k + op = L*s exactly when 2p - op = k - s
        padding = math.ceil((kernel - stride) / 2)
        output_padding = 2 * padding - (kernel - stride)
        return cls(frames, math.ceil(frames / stride**stages), stride, kernel, padding, output_padding, stages)

    @property
    def lengths(self) -> list[int]:
        return [self.base_frames * self.stride**i for i in range(self.stages + 1)]
