"""torch layers on top of the Numba kernels (``backend="numba"``) or torch's own op (``"torch"``)."""

from . import functional
from .conv import BACKENDS, ConvTranspose1d, ConvTranspose3d, set_backend

__all__ = ["BACKENDS", "ConvTranspose1d", "ConvTranspose3d", "functional", "set_backend"]
