"""Numba transposed-convolution kernels (1-D and 3-D, CPU and CUDA) with torch's semantics.

NumPy arrays in, NumPy arrays out (or CUDA device arrays in and out on ``target="cuda"``).
This package imports no torch.
"""

from . import _compile_log
from ._args import Geometry, output_size
from .api import (
    conv_transpose1d,
    conv_transpose1d_backward,
    conv_transpose3d,
    conv_transpose3d_backward,
    geometry,
)
from .gl import mel_nnls, phase_step
from .ola import overlap_add, overlap_add_reference
from .reference import (
    conv_transpose1d_backward_reference,
    conv_transpose1d_reference,
    conv_transpose3d_backward_reference,
    conv_transpose3d_reference,
)

_compile_log.install()

__all__ = [
    "Geometry",
    "conv_transpose1d",
    "conv_transpose1d_backward",
    "conv_transpose1d_backward_reference",
    "conv_transpose1d_reference",
    "conv_transpose3d",
    "conv_transpose3d_backward",
    "conv_transpose3d_backward_reference",
    "conv_transpose3d_reference",
    "geometry",
    "mel_nnls",
    "output_size",
    "overlap_add",
    "overlap_add_reference",
    "phase_step",
]
