"""Argument checking shared by every target.

Numba does no bounds checking, so nothing reaches a kernel before this module has
checked it. The rules are torch's (``torch.nn.functional.conv_transpose{1,3}d``); the
messages name the argument, what was expected and what came.

Every op is carried out in 3-D: a 1-D problem ``(N, C, L)`` is the 3-D problem
``(N, C, 1, 1, L)``. :class:`Geometry` holds the checked problem in that form.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

TARGETS = ("cpu", "cuda")
FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))

Triple = tuple[int, int, int]


def output_size(in_size: int, kernel: int, stride: int = 1, padding: int = 0,
                output_padding: int = 0, dilation: int = 1) -> int:
    """Length of one output axis of a transposed convolution (torch's rule)."""
    return (in_size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1


@dataclass(frozen=True)
class Geometry:
    """A checked transposed-convolution problem, in 3-D form.

    ``in_size``/``out_size``/``kernel`` and the per-axis arguments are (depth, height,
    width) triples; a 1-D problem has depth = height = 1 on every one of them.
    """

    nd: int  # spatial dimensions the caller used: 1 or 3
    batched: bool  # False when the caller gave an unbatched (C, *spatial) input
    batch: int
    c_in: int
    c_out: int
    groups: int
    in_size: Triple
    kernel: Triple
    out_size: Triple
    stride: Triple
    padding: Triple
    output_padding: Triple
    dilation: Triple
    dtype: np.dtype

    @property
    def input_shape5(self) -> tuple[int, ...]:
        return (self.batch, self.c_in, *self.in_size)

    @property
    def weight_shape5(self) -> tuple[int, ...]:
        return (self.c_in, self.c_out // self.groups, *self.kernel)

    @property
    def output_shape5(self) -> tuple[int, ...]:
        return (self.batch, self.c_out, *self.out_size)

    def caller_shape(self, shape5: tuple[int, ...], has_batch: bool = True) -> tuple[int, ...]:
        """A 5-D shape in the caller's layout: 1-D or 3-D, and without the batch axis when the
        caller's input was unbatched (``has_batch`` is False for weights, which have none)."""
        spatial = shape5[2:] if self.nd == 3 else shape5[4:]
        lead = shape5[1:2] if (has_batch and not self.batched) else shape5[:2]
        return (*lead, *spatial)

    @property
    def output_shape(self) -> tuple[int, ...]:
        return self.caller_shape(self.output_shape5)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.caller_shape(self.input_shape5)

    @property
    def weight_shape(self) -> tuple[int, ...]:
        return self.caller_shape(self.weight_shape5, has_batch=False)

    @property
    def flops(self) -> int:
        """Multiply-adds x 2 of the forward pass: every (input position, tap) pair, also those whose output
        padding crops away (what the direct definition computes; none of them lands on an inserted zero)."""
        macs = self.batch * self.c_in * (self.c_out // self.groups) * int(np.prod(self.in_size))
        return 2 * macs * int(np.prod(self.kernel))


def is_device_array(a) -> bool:
    """CUDA arrays of any library; Numba's simulator arrays mark themselves with __cuda_ndarray__."""
    if type(a) is np.ndarray:  # the common case, without two failed attribute lookups
        return False
    return hasattr(a, "__cuda_array_interface__") or bool(getattr(a, "__cuda_ndarray__", False))


def check_target(target) -> str:
    if target not in TARGETS:
        raise ValueError(f"target: expected one of {TARGETS}, got {target!r}")
    return target


def as_array(name: str, a, target: str):
    """Host targets take anything NumPy can read; device arrays go to 'cuda' as Numba device arrays."""
    if a is None:
        raise TypeError(f"{name}: expected an array, got None")
    if is_device_array(a):
        if target != "cuda":
            raise TypeError(f"{name}: got a CUDA device array, which needs target='cuda' (got target={target!r})")
        from . import cuda

        return cuda.as_device(a)
    return np.asarray(a)


def check_float(name: str, dt: np.dtype, dtype: np.dtype | None = None) -> np.dtype:
    """``dt`` (an array's dtype) if it is float32 or float64, and ``dtype`` when that is given."""
    dt = np.dtype(dt)
    if dt not in FLOAT_DTYPES:
        raise TypeError(f"{name}: expected dtype float32 or float64, got {dt}")
    if dtype is not None and dt != dtype:
        raise TypeError(f"{name}: expected dtype {dtype} (the input's dtype), got {dt}")
    return dt


def _as_int(name: str, v) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"{name}: expected an int or a tuple of ints, got {v!r}")
    return int(v)


INT_MAX = 2**31 - 1  # torch keeps stride, padding, output_padding and dilation in 32-bit ints and refuses more


def expand(name: str, value, nd: int, minimum: int) -> tuple[int, ...]:
    """An int or an nd-tuple of ints, each in [minimum, INT_MAX], as an nd-tuple."""
    if isinstance(value, (tuple, list)):
        if len(value) != nd:
            raise ValueError(f"{name}: expected an int or a tuple of {nd} ints, got {value!r}")
        vals = tuple(_as_int(name, v) for v in value)
    else:
        vals = (_as_int(name, value),) * nd
    if any(v < minimum for v in vals):
        raise ValueError(f"{name}: expected values >= {minimum}, got {value!r}")
    if any(v > INT_MAX for v in vals):
        raise ValueError(f"{name}: expected values below 2**31 (as torch), got {value!r}")
    return vals


def to3(vals: tuple[int, ...], fill: int) -> Triple:
    """Pad a 1-tuple to a (depth, height, width) triple."""
    return vals if len(vals) == 3 else (fill, fill, vals[0])


def check_conv_transpose(nd: int, input, weight, bias, stride, padding, output_padding, groups,
                         dilation, target: str):
    """Check every argument; return ``(input, weight, bias, geometry)`` ready for a kernel.

    Arrays come back as given (or as NumPy arrays for host targets); the caller reshapes
    them to 5-D with :func:`to5`. Everything past the arrays' conversion depends on shapes,
    dtypes and ints alone, so it is cached (:func:`_cached_geometry`): a model calls each layer
    with the same arguments over and over, and the checks took 16-30 µs of a small layer's call.
    """
    target = check_target(target)
    input = as_array("input", input, target)
    weight = as_array("weight", weight, target)
    if bias is not None:
        bias = as_array("bias", bias, target)
    args = (nd, tuple(input.shape), input.dtype, tuple(weight.shape), weight.dtype,
            None if bias is None else (tuple(bias.shape), bias.dtype), stride, padding, output_padding, groups,
            dilation)
    # Only plain ints are cached: True == 1 and 2.0 == 2 would find the entries of valid arguments.
    if all(_plain_ints(v) for v in args[6:]):
        return input, weight, bias, _cached_geometry(*args)
    return input, weight, bias, _geometry(*args)


def _plain_ints(value) -> bool:
    """An int or a tuple of ints, by exact type."""
    return type(value) is int or (type(value) is tuple and all(type(v) is int for v in value))


def _geometry(nd: int, in_shape, in_dtype, w_shape, w_dtype, bias, stride, padding, output_padding, groups,
              dilation) -> Geometry:
    """The checks of :func:`check_conv_transpose` on shapes, dtypes (``bias``: its shape and dtype, or None)
    and the per-axis arguments; the checked geometry."""
    dtype = check_float("input", in_dtype)
    check_float("weight", w_dtype, dtype)

    if len(in_shape) not in (nd + 1, nd + 2):
        raise ValueError(f"input: expected a {nd + 1}-D (unbatched) or {nd + 2}-D (batched) array, "
                         f"got shape {in_shape}")
    if len(w_shape) != nd + 2:
        raise ValueError(f"weight: expected a {nd + 2}-D array (C_in, C_out/groups, *kernel), "
                         f"got shape {w_shape}")
    batched = len(in_shape) == nd + 2
    shape = tuple(int(s) for s in in_shape) if batched else (1, *map(int, in_shape))
    if any(s < 1 for s in shape[1:]):
        raise ValueError(f"input: expected non-zero sizes for every non-batch dimension, got shape {in_shape}")
    if any(int(s) < 1 for s in w_shape):
        raise ValueError(f"weight: expected non-zero sizes, got shape {w_shape}")

    groups = _as_int("groups", groups)
    if groups < 1:
        raise ValueError(f"groups: expected a positive int, got {groups}")
    c_in = shape[1]
    if c_in % groups:
        raise ValueError(f"groups: expected a divisor of the input's {c_in} channels, got {groups}")
    if int(w_shape[0]) != c_in:
        raise ValueError(f"weight: expected {c_in} input channels in dim 0 (the input has {c_in}), "
                         f"got shape {w_shape}")
    c_out = int(w_shape[1]) * groups

    stride_ = expand("stride", stride, nd, 1)
    padding_ = expand("padding", padding, nd, 0)
    dilation_ = expand("dilation", dilation, nd, 1)
    out_pad_ = expand("output_padding", output_padding, nd, 0)
    for op, s, d in zip(out_pad_, stride_, dilation_, strict=True):
        if not (op < s or op < d):
            raise ValueError(f"output_padding: expected each value smaller than stride or dilation "
                             f"(stride={stride_}, dilation={dilation_}), got {out_pad_}")

    kernel = tuple(int(k) for k in w_shape[2:])
    in_size = shape[2:]
    out_size = tuple(output_size(*a) for a in zip(in_size, kernel, stride_, padding_, out_pad_, dilation_,
                                                    strict=True))
    if any(o < 1 for o in out_size):
        raise ValueError(f"input: the output size {out_size} would be below 1 for input size {in_size}, "
                         f"kernel {kernel}, stride {stride_}, padding {padding_}, dilation {dilation_}")

    if bias is not None:
        b_shape, b_dtype = bias
        check_float("bias", b_dtype, dtype)
        if b_shape != (c_out,):
            raise ValueError(f"bias: expected shape ({c_out},) (one value per output channel), got {b_shape}")

    return Geometry(nd=nd, batched=batched, batch=shape[0], c_in=c_in, c_out=c_out, groups=groups,
                    in_size=to3(in_size, 1), kernel=to3(kernel, 1), out_size=to3(out_size, 1),
                    stride=to3(stride_, 1), padding=to3(padding_, 0),
                    output_padding=to3(out_pad_, 0), dilation=to3(dilation_, 1), dtype=dtype)


_cached_geometry = functools.lru_cache(maxsize=1024)(_geometry)  # errors are raised again on every call


def check_grad_output(grad_output, geom: Geometry, target: str):
    grad_output = as_array("grad_output", grad_output, target)
    check_float("grad_output", grad_output.dtype, geom.dtype)
    if tuple(grad_output.shape) != geom.output_shape:
        raise ValueError(f"grad_output: expected the output's shape {geom.output_shape}, "
                         f"got {tuple(grad_output.shape)}")
    return grad_output


def to5(a, shape5: tuple[int, ...]):
    """A C-contiguous 5-D view (or copy) of ``a``: host arrays via NumPy, device arrays as they are."""
    if is_device_array(a):
        return a.reshape(shape5)
    return np.ascontiguousarray(a).reshape(shape5)
