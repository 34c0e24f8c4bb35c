"""Transposed convolutions on our Numba kernels, as differentiable torch functions.

``conv_transpose1d/3d`` take and return torch tensors with the signatures of
``torch.nn.functional.conv_transpose1d/3d``, plus ``backend`` (default ``"numba"``: these functions exist to
reach our kernels; the modules in :mod:`gen_media.nn.conv` default to ``"torch"``, as a drop-in). CPU tensors
run on the ``cpu`` target; CUDA tensors run on the ``cuda`` target through ``__cuda_array_interface__``, without a
copy through the host.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.autograd.function import once_differentiable

import kernels

BACKENDS = ("torch", "numba")

_FORWARD = {1: kernels.conv_transpose1d, 3: kernels.conv_transpose3d}
_BACKWARD = {1: kernels.conv_transpose1d_backward, 3: kernels.conv_transpose3d_backward}
_TORCH = {1: torch.nn.functional.conv_transpose1d, 3: torch.nn.functional.conv_transpose3d}


def check_backend(backend: str) -> str:
    if backend not in BACKENDS:
        raise ValueError(f"backend: expected one of {BACKENDS}, got {backend!r}")
    return backend


def _to_kernel(t: torch.Tensor | None):
    """A tensor as the kernels' array type: NumPy (shared memory) or a Numba device array (a view; torch's
    ``__cuda_array_interface__`` names no stream, so Numba makes no host wait: ordering is :func:`_call`'s)."""
    if t is None:
        return None
    t = t.detach().contiguous()
    if t.is_cuda:
        from numba import cuda

        return cuda.as_cuda_array(t)
    return t.numpy()


def _from_kernel(a, like: torch.Tensor) -> torch.Tensor | None:
    if a is None:
        return None
    if like.is_cuda:
        return torch.as_tensor(a, device=like.device)
    return torch.from_numpy(a)


def _call(op, arrays, like: torch.Tensor, *args, **kwargs):
    """``op`` (a kernels function) on ``arrays`` (tensors or None), its results as tensors like ``like``.

    On CUDA our kernels launch on the legacy default stream, which is torch's default stream too: there they
    queue behind torch's work and torch's next op queues behind them. torch's other streams are non-blocking
    (no implicit ordering with the legacy stream), so on one of those the legacy stream first waits for it
    (inputs written, ``contiguous()`` copies made) and it then waits for our launches (results read): events on
    the device, no host round trip.
    """
    if not like.is_cuda:
        return op(*(_to_kernel(t) for t in arrays), *args, target="cpu", **kwargs)
    from kernels.cuda import allocator

    stream, default = torch.cuda.current_stream(like.device), torch.cuda.default_stream(like.device)
    side = stream != default
    kernel_arrays = [_to_kernel(t) for t in arrays]  # contiguous() copies are queued on `stream`
    if side:
        default.wait_stream(stream)
    with allocator(_torch_empty(like.device)):  # results from torch's caching allocator, not cuMemAlloc
        out = op(*kernel_arrays, *args, target="cuda", **kwargs)
    if side:
        stream.wait_stream(default)
    return out


_TORCH_DTYPE = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}


def _torch_empty(device: torch.device):
    """``empty(shape, dtype)`` for kernels.cuda.allocator: torch tensors on ``device``. A block is tied to the
    stream current at allocation; our launches on the legacy default stream are ordered with it by :func:`_call`
    before the tensor can be freed and reused."""
    return lambda shape, dtype: torch.empty(shape, dtype=_TORCH_DTYPE[np.dtype(dtype)], device=device)


def _forward(nd, input, weight, bias, conv_args) -> torch.Tensor:
    return _from_kernel(_call(_FORWARD[nd], (input, weight, bias), input, *conv_args), input)


def _needs_grad(*tensors) -> bool:
    return torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)


class _ConvTranspose(torch.autograd.Function):
    @staticmethod
    def forward(ctx, nd, input, weight, bias, stride, padding, output_padding, groups, dilation):
        ctx.nd, ctx.has_bias = nd, bias is not None
        ctx.conv_args = (stride, padding, output_padding, groups, dilation)
        ctx.save_for_backward(input, weight)
        return _forward(nd, input, weight, bias, ctx.conv_args)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output):
        input, weight = ctx.saved_tensors
        mask = (ctx.needs_input_grad[1], ctx.needs_input_grad[2], ctx.has_bias and ctx.needs_input_grad[3])
        grads = _call(_BACKWARD[ctx.nd], (grad_output, input, weight), input, *ctx.conv_args, output_mask=mask)
        gx, gw, gb = (_from_kernel(g, input) for g in grads)
        return None, gx, gw, gb, None, None, None, None, None


def _conv_transpose(nd, input, weight, bias, stride, padding, output_padding, groups, dilation, backend):
    if check_backend(backend) == "torch":
        return _TORCH[nd](input, weight, bias, stride, padding, output_padding, groups, dilation)
    if input.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"input: the numba backend takes float32 or float64, got {input.dtype}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and t.device != input.device:  # torch refuses this too; our kernels would copy silently
            raise ValueError(f"{name}: expected a tensor on the input's device {input.device}, got {t.device}")
    if not _needs_grad(input, weight, bias):  # generation: autograd's bookkeeping took ~20 µs a call
        return _forward(nd, input, weight, bias, (stride, padding, output_padding, groups, dilation))
    return _ConvTranspose.apply(nd, input, weight, bias, stride, padding, output_padding, groups, dilation)


def conv_transpose1d(input: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
                     stride=1, padding=0, output_padding=0, groups: int = 1, dilation=1,
                     backend: str = "numba") -> torch.Tensor:
    """``(N, C_in, L)`` -> ``(N, C_out, L_out)``, as ``torch.nn.functional.conv_transpose1d``."""
    return _conv_transpose(1, input, weight, bias, stride, padding, output_padding, groups, dilation, backend)


def conv_transpose3d(input: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
                     stride=1, padding=0, output_padding=0, groups: int = 1, dilation=1,
                     backend: str = "numba") -> torch.Tensor:
    """``(N, C_in, D, H, W)`` -> ``(N, C_out, D', H', W')``, as ``torch.nn.functional.conv_transpose3d``."""
    return _conv_transpose(3, input, weight, bias, stride, padding, output_padding, groups, dilation, backend)
