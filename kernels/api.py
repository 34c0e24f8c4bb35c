"""Public transposed-convolution functions: torch's signatures, NumPy (or CUDA device) arrays.

Every call checks its arguments (``_args``), reshapes to the 3-D form, and hands the
problem to one target: ``cpu`` (``kernels.cpu``) or ``cuda`` (``kernels.cuda``).
"""

from __future__ import annotations

import numpy as np

from ._args import Geometry, _geometry, check_conv_transpose, check_grad_output, is_device_array, to5


def _target_module(target: str):
    if target == "cuda":
        from . import cuda  # imported on first use: numba.cuda costs start-up time

        return cuda
    from . import cpu

    return cpu


def _prepare(nd, input, weight, bias, stride, padding, output_padding, groups, dilation, target):
    input, weight, bias, geom = check_conv_transpose(nd, input, weight, bias, stride, padding,
                                                     output_padding, groups, dilation, target)
    mod = _target_module(target)
    if target == "cuda":
        input, weight = mod.as_device(input), mod.as_device(weight)
        bias = None if bias is None else mod.as_device(bias)
    return mod, to5(input, geom.input_shape5), to5(weight, geom.weight_shape5), bias, geom


def _forward(nd, input, weight, bias, stride, padding, output_padding, groups, dilation, target):
    on_device = is_device_array(input)
    mod, x5, w5, bias, geom = _prepare(nd, input, weight, bias, stride, padding, output_padding,
                                       groups, dilation, target)
    out5 = mod.forward(x5, w5, bias, geom)
    return _finish(mod, out5, geom.output_shape, on_device)


def _finish(mod, a, shape, on_device: bool):
    if a is None:
        return None
    if not on_device and is_device_array(a):
        a = mod.to_host(a)
    return a.reshape(shape)


def _backward(nd, grad_output, input, weight, stride, padding, output_padding, groups, dilation,
              output_mask, target):
    on_device = is_device_array(grad_output)
    mod, x5, w5, _, geom = _prepare(nd, input, weight, None, stride, padding, output_padding, groups,
                                    dilation, target)
    grad_output = check_grad_output(grad_output, geom, target)
    if target == "cuda":
        grad_output = mod.as_device(grad_output)
    go5 = to5(grad_output, geom.output_shape5)
    mask = tuple(bool(m) for m in output_mask)
    if len(mask) != 3:
        raise ValueError(f"output_mask: expected 3 booleans (input, weight, bias), got {output_mask!r}")
    gi5, gw5, gb = mod.backward(go5, x5, w5, geom, mask)
    return (_finish(mod, gi5, geom.input_shape, on_device),
            _finish(mod, gw5, geom.weight_shape, on_device),
            _finish(mod, gb, (geom.c_out,), on_device))


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1, *, target: str = "cpu"):
    """1-D transposed convolution, as ``torch.nn.functional.conv_transpose1d``.

    Args:
        input: ``(N, C_in, L_in)`` or unbatched ``(C_in, L_in)``, float32 or float64.
        weight: ``(C_in, C_out / groups, K)``, the input's dtype.
        bias: ``(C_out,)`` or None.
        stride, padding, output_padding, dilation: an int or a 1-tuple.
        groups: splits the input channels into this many groups.
        target: ``"cpu"`` or ``"cuda"``. On ``"cuda"``, NumPy inputs give a NumPy result and
            device arrays (anything with ``__cuda_array_interface__``) give a device array.

    Returns:
        ``(N, C_out, L_out)`` (or ``(C_out, L_out)``) with
        ``L_out = (L_in - 1)*stride - 2*padding + dilation*(K - 1) + output_padding + 1``.
    """
    return _forward(1, input, weight, bias, stride, padding, output_padding, groups, dilation, target)


def conv_transpose3d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1, *, target: str = "cpu"):
    """3-D transposed convolution, as ``torch.nn.functional.conv_transpose3d``.

    ``input`` is ``(N, C_in, D, H, W)`` or ``(C_in, D, H, W)``; ``weight`` is
    ``(C_in, C_out / groups, kD, kH, kW)``; the per-axis arguments are ints or 3-tuples.
    See :func:`conv_transpose1d` for the rest.
    """
    return _forward(3, input, weight, bias, stride, padding, output_padding, groups, dilation, target)


def conv_transpose1d_backward(grad_output, input, weight, stride=1, padding=0, output_padding=0,
                              groups=1, dilation=1, *, output_mask=(True, True, True),
                              target: str = "cpu"):
    """Gradients of :func:`conv_transpose1d` with respect to input, weight and bias.

    Args:
        grad_output: the gradient of the output, in the output's shape.
        input, weight: the forward call's arrays (the input's values are read only for the
            weight gradient).
        output_mask: which of (grad_input, grad_weight, grad_bias) to compute; the others are None.

    Returns:
        ``(grad_input, grad_weight, grad_bias)`` shaped like input, weight and ``(C_out,)``.
    """
    return _backward(1, grad_output, input, weight, stride, padding, output_padding, groups, dilation,
                     output_mask, target)


def conv_transpose3d_backward(grad_output, input, weight, stride=1, padding=0, output_padding=0,
                              groups=1, dilation=1, *, output_mask=(True, True, True),
                              target: str = "cpu"):
    """Gradients of :func:`conv_transpose3d`; see :func:`conv_transpose1d_backward`."""
    return _backward(3, grad_output, input, weight, stride, padding, output_padding, groups, dilation,
                     output_mask, target)


def geometry(nd: int, input_shape, weight_shape, stride=1, padding=0, output_padding=0, groups=1,
             dilation=1, dtype=np.float32) -> Geometry:
    """The checked :class:`Geometry` of a problem, from shapes alone (for benchmarks and tools): the checks of a
    call, without any array."""
    return _geometry(nd, tuple(input_shape), np.dtype(dtype), tuple(weight_shape), np.dtype(dtype), None, stride,
                     padding, output_padding, groups, dilation)
