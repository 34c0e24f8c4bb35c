"""CUDA target: the transposed convolution and its gradients, tiled (default) or direct.

The tiled kernels live in ``kernels.cuda_tiled``; this module holds the direct ones, the
device-array plumbing and the dispatch (``forward``/``backward``, ``algorithm=``).

Every problem arrives in 3-D form (see ``_args.Geometry``): ``x`` is ``(N, C_in, D, H, W)``,
``w`` is ``(C_in, C_out/groups, kD, kH, kW)``, the output is ``(N, C_out, Do, Ho, Wo)``, and
along each axis input position ``i`` meets output position ``o = i*stride - padding + k*dilation``
through tap ``k``. Each direct kernel gives one thread one result element and gathers into it,
so no two threads write the same place and no atomics are needed:

- forward: one thread per output element, over the taps whose source position is an integer;
- grad_input: one thread per input element (a strided correlation of grad_output with w);
- grad_weight: one thread per weight element, over batch and the input positions that land;
- grad_bias: one thread per output channel.

Accumulators start from a value of the arrays' dtype, so float32 work stays float32 on the GPU
(a Python ``0.0`` would type the sum as float64). Launches go on the legacy default stream;
device arrays from other libraries (torch CUDA tensors via ``__cuda_array_interface__``) are read
and written on that stream too, so work on another (non-blocking) stream must be ordered with it
first: ``gen_media.nn`` makes each stream wait for the other on the device. Without a GPU,
``NUMBA_ENABLE_CUDASIM=1`` runs the same kernels in Numba's simulator.
"""

from __future__ import annotations

import contextlib
import contextvars

import numpy as np
from numba import cuda

from . import cuda_tiled
from ._args import Geometry
from ._device import allocator, as_device, empty

__all__ = ["ALGORITHMS", "allocator", "as_device", "backward", "forward", "to_host", "use_algorithm"]

_THREADS_PER_BLOCK = 128  # a multiple of the 32-thread warp; 1-D blocks over flat indices

# Index helpers are CUDA device functions rather than @njit ones: kernels can call @njit
# functions under numba's built-in CUDA target, but the standalone numba-cuda package does not
# promise it (its own test of that is skipped there).

# _tap_source / _tap_target return values that are not positions.
_NO_TAP = -1  # this tap misses the other array; a later tap may hit
_PAST_END = -2  # this tap and every later one miss: the caller can stop looping


@cuda.jit(device=True)
def _tap_source(o, k, stride, padding, dilation, in_len):
    """Input position that reaches output position ``o`` through tap ``k`` (forward's gather).

    ``o + padding - k*dilation`` falls as ``k`` grows, so once it is negative no later tap
    can reach ``o``; positions it skips (not a multiple of ``stride``) are the zero taps that
    the scatter form would multiply by an inserted zero.
    """
    t = o + padding - k * dilation
    if t < 0:
        return _PAST_END
    if t % stride != 0:
        return _NO_TAP
    i = t // stride
    if i >= in_len:
        return _NO_TAP
    return i


@cuda.jit(device=True)
def _tap_target(i, k, stride, padding, dilation, out_len):
    """Output position reached from input position ``i`` through tap ``k`` (grad_input's gather).

    The position grows with ``k``, so once it passes the end no later tap lands either.
    """
    o = i * stride - padding + k * dilation
    if o >= out_len:
        return _PAST_END
    if o < 0:
        return _NO_TAP
    return o


@cuda.jit(device=True)
def _landing_inputs(k, stride, padding, dilation, in_len, out_len):
    """Half-open range ``[lo, hi)`` of input positions whose tap ``k`` lands inside the output.

    Solves ``0 <= i*stride - padding + k*dilation < out_len`` for ``i`` (floor division rounds
    towards minus infinity, so ``-((-a) // s)`` is ``ceil(a / s)``), clipped to the input.
    """
    shift = padding - k * dilation
    lo = -((-shift) // stride)
    hi = (out_len - 1 + shift) // stride + 1
    return max(lo, 0), min(hi, in_len)


@cuda.jit
def _forward_kernel(x, w, bias, out, stride, padding, dilation, zero):
    t = cuda.grid(1)
    if t >= out.size:  # the last block overhangs the output
        return
    c_in, d_in, h_in, w_in = x.shape[1], x.shape[2], x.shape[3], x.shape[4]
    c_out_g, kd_n, kh_n, kw_n = w.shape[1], w.shape[2], w.shape[3], w.shape[4]
    c_out, d_out, h_out, w_out = out.shape[1], out.shape[2], out.shape[3], out.shape[4]
    c_in_g = c_in // (c_out // c_out_g)
    # Width varies fastest across threads, so neighbouring threads write neighbouring outputs.
    ow = t % w_out
    r = t // w_out
    oh = r % h_out
    r //= h_out
    od = r % d_out
    r //= d_out
    co = r % c_out
    n = r // c_out
    g = co // c_out_g
    co_g = co - g * c_out_g
    acc = zero
    if bias.shape[0] > 0:  # an empty bias array stands for "no bias" (see forward)
        acc = bias[co]
    for kd in range(kd_n):
        i_d = _tap_source(od, kd, stride[0], padding[0], dilation[0], d_in)
        if i_d == _PAST_END:
            break
        if i_d < 0:
            continue
        for kh in range(kh_n):
            i_h = _tap_source(oh, kh, stride[1], padding[1], dilation[1], h_in)
            if i_h == _PAST_END:
                break
            if i_h < 0:
                continue
            for kw in range(kw_n):
                i_w = _tap_source(ow, kw, stride[2], padding[2], dilation[2], w_in)
                if i_w == _PAST_END:
                    break
                if i_w < 0:
                    continue
                for ci in range(g * c_in_g, (g + 1) * c_in_g):
                    acc += x[n, ci, i_d, i_h, i_w] * w[ci, co_g, kd, kh, kw]
    out[n, co, od, oh, ow] = acc


@cuda.jit
def _grad_input_kernel(go, w, gx, stride, padding, dilation, zero):
    t = cuda.grid(1)
    if t >= gx.size:  # the last block overhangs grad_input
        return
    c_in, d_in, h_in, w_in = gx.shape[1], gx.shape[2], gx.shape[3], gx.shape[4]
    c_out_g, kd_n, kh_n, kw_n = w.shape[1], w.shape[2], w.shape[3], w.shape[4]
    c_out, d_out, h_out, w_out = go.shape[1], go.shape[2], go.shape[3], go.shape[4]
    c_in_g = c_in // (c_out // c_out_g)
    iw = t % w_in
    r = t // w_in
    ih = r % h_in
    r //= h_in
    i_d = r % d_in
    r //= d_in
    ci = r % c_in
    n = r // c_in
    co0 = (ci // c_in_g) * c_out_g  # first output channel of this input channel's group
    acc = zero
    for kd in range(kd_n):
        od = _tap_target(i_d, kd, stride[0], padding[0], dilation[0], d_out)
        if od == _PAST_END:
            break
        if od < 0:
            continue
        for kh in range(kh_n):
            oh = _tap_target(ih, kh, stride[1], padding[1], dilation[1], h_out)
            if oh == _PAST_END:
                break
            if oh < 0:
                continue
            for kw in range(kw_n):
                ow = _tap_target(iw, kw, stride[2], padding[2], dilation[2], w_out)
                if ow == _PAST_END:
                    break
                if ow < 0:
                    continue
                for co_g in range(c_out_g):
                    acc += go[n, co0 + co_g, od, oh, ow] * w[ci, co_g, kd, kh, kw]
    gx[n, ci, i_d, ih, iw] = acc


@cuda.jit
def _grad_weight_kernel(go, x, gw, stride, padding, dilation, zero):
    t = cuda.grid(1)
    if t >= gw.size:  # the last block overhangs grad_weight
        return
    n_batch, c_in, d_in, h_in, w_in = x.shape[0], x.shape[1], x.shape[2], x.shape[3], x.shape[4]
    c_out_g, kd_n, kh_n, kw_n = gw.shape[1], gw.shape[2], gw.shape[3], gw.shape[4]
    c_out, d_out, h_out, w_out = go.shape[1], go.shape[2], go.shape[3], go.shape[4]
    c_in_g = c_in // (c_out // c_out_g)
    kw = t % kw_n
    r = t // kw_n
    kh = r % kh_n
    r //= kh_n
    kd = r % kd_n
    r //= kd_n
    co_g = r % c_out_g
    ci = r // c_out_g
    co = (ci // c_in_g) * c_out_g + co_g
    # Only the input positions whose tap lands inside the output contribute.
    d_lo, d_hi = _landing_inputs(kd, stride[0], padding[0], dilation[0], d_in, d_out)
    h_lo, h_hi = _landing_inputs(kh, stride[1], padding[1], dilation[1], h_in, h_out)
    w_lo, w_hi = _landing_inputs(kw, stride[2], padding[2], dilation[2], w_in, w_out)
    acc = zero
    for n in range(n_batch):
        for i_d in range(d_lo, d_hi):
            od = i_d * stride[0] - padding[0] + kd * dilation[0]
            for ih in range(h_lo, h_hi):
                oh = ih * stride[1] - padding[1] + kh * dilation[1]
                for iw in range(w_lo, w_hi):
                    ow = iw * stride[2] - padding[2] + kw * dilation[2]
                    acc += x[n, ci, i_d, ih, iw] * go[n, co, od, oh, ow]
    gw[ci, co_g, kd, kh, kw] = acc


@cuda.jit
def _grad_bias_kernel(go, gb, zero):
    co = cuda.grid(1)
    if co >= gb.size:  # the last block overhangs the channels
        return
    acc = zero
    for n in range(go.shape[0]):
        for od in range(go.shape[2]):
            for oh in range(go.shape[3]):
                for ow in range(go.shape[4]):
                    acc += go[n, co, od, oh, ow]
    gb[co] = acc


def _launch(kernel, n_threads: int, *args) -> None:
    """One thread per result element on 1-D blocks; nothing to launch for an empty result."""
    if n_threads == 0:
        return
    blocks = (n_threads + _THREADS_PER_BLOCK - 1) // _THREADS_PER_BLOCK  # ceil division
    kernel[blocks, _THREADS_PER_BLOCK](*args)


def to_host(a) -> np.ndarray:
    """A NumPy copy of a device array."""
    return a.copy_to_host()


ALGORITHMS = ("tiled", "direct")
_algorithm: contextvars.ContextVar[str] = contextvars.ContextVar("kernels.cuda algorithm", default="tiled")


@contextlib.contextmanager
def use_algorithm(algorithm: str):
    """Run the public CUDA calls inside the ``with`` block on ``algorithm`` (benchmarks compare them); per thread
    and task, like :func:`allocator`, so concurrent blocks do not undo each other's choice."""
    token = _algorithm.set(_check_algorithm(algorithm))
    try:
        yield
    finally:
        _algorithm.reset(token)


def _check_algorithm(algorithm: str | None) -> str:
    if algorithm is None:
        return _algorithm.get()
    if algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm: expected one of {ALGORITHMS}, got {algorithm!r}")
    return algorithm


def _algorithm_for(geom: Geometry, algorithm: str | None) -> str:
    """The algorithm that runs: the one asked for (or selected), direct where tiles exceed CUDA's grid."""
    algorithm = _check_algorithm(algorithm)
    return "direct" if algorithm == "tiled" and not cuda_tiled.supports(geom) else algorithm


def forward(x5, w5, bias, geom: Geometry, algorithm: str | None = None):
    """Transposed convolution of 5-D device arrays; returns ``geom.output_shape5`` on the device.

    ``algorithm``: ``"tiled"`` (shared-memory tiles, ``kernels.cuda_tiled``) or ``"direct"``
    (one thread per output, the kernels of this module; kept as the simple cross-check);
    None: the one :func:`use_algorithm` selects (tiled unless changed). Problems whose tiles would
    exceed CUDA's grid limits run direct (:func:`kernels.cuda_tiled.supports`).
    """
    algorithm = _algorithm_for(geom, algorithm)
    out = empty(geom.output_shape5, geom.dtype)
    if bias is None:  # numba-cuda cannot pass None to a kernel (the simulator can): empty means none
        bias = cuda.device_array(0, dtype=geom.dtype)
    if algorithm == "tiled":
        cuda_tiled.forward(x5, w5, bias, out, geom)
    else:
        _launch(_forward_kernel, out.size, x5, w5, bias, out, geom.stride, geom.padding, geom.dilation,
                geom.dtype.type(0))
    return out


def backward(go5, x5, w5, geom: Geometry, mask, algorithm: str | None = None):
    """``(grad_input5, grad_weight5, grad_bias)`` on the device; None where ``mask`` says so."""
    algorithm = _algorithm_for(geom, algorithm)
    need_input, need_weight, need_bias = mask
    zero = geom.dtype.type(0)
    args = (geom.stride, geom.padding, geom.dilation, zero)
    gx = gw = gb = None
    if need_input:
        gx = empty(geom.input_shape5, geom.dtype)
        if algorithm == "tiled":
            cuda_tiled.grad_input(go5, w5, gx, geom)
        else:
            _launch(_grad_input_kernel, gx.size, go5, w5, gx, *args)
    if need_weight:
        # Written even for an empty batch: each result is then its zero sum.
        gw = empty(geom.weight_shape5, geom.dtype)
        if algorithm == "tiled":
            cuda_tiled.grad_weight(go5, x5, gw, geom)
        else:
            _launch(_grad_weight_kernel, gw.size, go5, x5, gw, *args)
    if need_bias:
        gb = empty((geom.c_out,), geom.dtype)
        _launch(_grad_bias_kernel, gb.size, go5, gb, zero)
    return gx, gw, gb
