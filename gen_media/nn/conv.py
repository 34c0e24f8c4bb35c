"""``ConvTranspose1d`` / ``ConvTranspose3d`` that run on torch's op or on our Numba kernels.

They are torch's modules with one more argument, ``backend``: the same constructor,
parameter initialisation and ``state_dict`` keys, so a checkpoint saved with one backend
loads into the other.
"""

from __future__ import annotations

import torch

from .functional import BACKENDS, check_backend, conv_transpose1d, conv_transpose3d


class _BackendMixin:
    _nd: int
    _functional = None

    def _init_backend(self, backend: str) -> None:
        self.backend = check_backend(backend)

    def forward(self, input: torch.Tensor, output_size: list[int] | None = None) -> torch.Tensor:
        if self.backend == "torch":
            return super().forward(input, output_size)
        output_padding = self._output_padding(input, output_size, self.stride, self.padding,
                                              self.kernel_size, self._nd, self.dilation)
        return type(self)._functional(input, self.weight, self.bias, self.stride, self.padding,
                                      output_padding, self.groups, self.dilation, backend=self.backend)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, backend={self.backend!r}"


class ConvTranspose1d(_BackendMixin, torch.nn.ConvTranspose1d):
    """``torch.nn.ConvTranspose1d`` with ``backend="torch" | "numba"``. Input ``(N, C_in, L)``."""

    _nd = 1
    _functional = staticmethod(conv_transpose1d)

    def __init__(self, *args, backend: str = "torch", **kwargs):
        super().__init__(*args, **kwargs)
        self._init_backend(backend)


class ConvTranspose3d(_BackendMixin, torch.nn.ConvTranspose3d):
    """``torch.nn.ConvTranspose3d`` with ``backend="torch" | "numba"``. Input ``(N, C_in, D, H, W)``."""

    _nd = 3
    _functional = staticmethod(conv_transpose3d)

    def __init__(self, *args, backend: str = "torch", **kwargs):
        super().__init__(*args, **kwargs)
        self._init_backend(backend)


def set_backend(module: torch.nn.Module, backend: str) -> torch.nn.Module:
    """Switch every one of our transposed convolutions inside ``module`` to ``backend``."""
    check_backend(backend)
    for m in module.modules():
        if isinstance(m, _BackendMixin):
            m.backend = backend
    return module


__all__ = ["BACKENDS", "ConvTranspose1d", "ConvTranspose3d", "set_backend"]
