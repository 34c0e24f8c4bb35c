"""CPU target: stride-phase (polyphase) decomposition with the channel contraction on BLAS.

Why this shape. Output position ``o`` receives input ``i`` through tap ``k`` when
``o = i*stride - padding + k*dilation``. For a fixed tap, every ``o`` it reaches has the same
phase ``r = o mod stride`` and ``o // stride = i + shift``: one tap maps the whole input,
shifted, onto one phase of the output. So, per tap:

1. ``Y = W_tap^T @ X``: one dense GEMM over the input channels, ``(C_out/g, C_in/g) @
   (C_in/g, N*spatial)``, on BLAS (``np.dot`` inside ``njit``);
2. add ``Y`` into the output's phase plane ``r`` at offset ``shift``: unit-stride rows, no
   stride-s scatter, and no multiply ever touches an inserted zero.

A last pass interleaves the phase planes into the output and adds the bias. The backward
pass runs the same plan the other way: gather each tap's shifted phase plane of
``grad_output`` (``G``), then ``grad_input += W_tap @ G`` and ``grad_weight_tap = X @ G^T``.

Arrays arrive checked (``_args``) and C-contiguous in 5-D form; 1-D problems have depth =
height = 1.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

from ._args import Geometry
from ._threads import single_threaded_blas

# The kernels parallelise over work items with Numba's threads and call BLAS inside them;
# a multi-threaded BLAS would fight those threads for the cores (measured: 12x slower).
single_threaded_blas()


@njit(cache=True)
def tap_span(in_len, out_len, k, stride, padding, dilation):
    """Where tap ``k`` lands along one axis: ``(phase, shift, i_lo, i_hi)``.

    Inputs ``i_lo <= i < i_hi`` reach outputs ``o = (i + shift)*stride + phase``, all inside
    ``[0, out_len)``. An empty range (``i_lo >= i_hi``) means the tap reaches no output.
    """
    offset = k * dilation - padding  # o = i*stride + offset
    phase = offset % stride
    shift = (offset - phase) // stride
    i_lo = max(0, -((offset) // stride))  # ceil(-offset / stride)
    i_hi = min(in_len, -((offset - out_len) // stride))  # ceil((out_len - offset) / stride)
    return phase, shift, i_lo, i_hi


@njit(cache=True)
def _tap_spans(t, in_size, out_size, kernel, stride, padding, dilation):
    """tap_span for the three axes of flat tap index t (kd, kh, kw)."""
    kd = t // (kernel[1] * kernel[2])
    kh = (t // kernel[2]) % kernel[1]
    kw = t % kernel[2]
    d = tap_span(in_size[0], out_size[0], kd, stride[0], padding[0], dilation[0])
    h = tap_span(in_size[1], out_size[1], kh, stride[1], padding[1], dilation[1])
    w = tap_span(in_size[2], out_size[2], kw, stride[2], padding[2], dilation[2])
    return d, h, w


@njit(cache=True)
def _empty(span):
    return span[2] >= span[3]


@njit(parallel=True, cache=True)
def _weight_per_tap(w, groups):
    """(C_in, C_out/g, T) -> (g, T, C_out/g, C_in/g): each tap's W^T, contiguous for BLAS."""
    c_in, c_out_g, taps = w.shape
    c_in_g = c_in // groups
    out = np.empty((groups, taps, c_out_g, c_in_g), w.dtype)
    for t in prange(taps):
        for ci in range(c_in):
            g, cg = ci // c_in_g, ci % c_in_g
            for co in range(c_out_g):
                out[g, t, co, cg] = w[ci, co, t]
    return out


@njit(cache=True)
def _phase_index(sd, sh, sw, stride):
    return (sd[0] * stride[1] + sh[0]) * stride[2] + sw[0]


@njit(cache=True)
def _work_item(item, groups, chunks, rows):
    """Split a flat work index into (n, g, first row, end row) for chunks of `rows` rows."""
    n = item // (groups * chunks)
    g = (item // chunks) % groups
    r0 = (item % chunks) * (-(-rows // chunks))
    return n, g, r0, min(rows, r0 + (-(-rows // chunks)))


@njit(parallel=True, cache=True)
def _forward_kernel(x, w, bias, out, in_size, out_size, kernel, stride, padding, dilation, groups,
                    chunks):
    """x (N, C_in, S_in), w (C_in, C_out/g, T); out (N, C_out, D, H, W) is overwritten.

    Work items are (sample, group, block of output channels): each owns its rows of the phase
    planes, so the items need no synchronisation, and BLAS runs single-threaded inside them.
    """
    n_batch, c_in, size = x.shape
    c_in_g = c_in // groups
    c_out_g, n_taps = w.shape[1], w.shape[2]
    h_in, w_in = in_size[1], in_size[2]
    x4 = x.reshape((n_batch, groups, c_in_g, size))
    wt = _weight_per_tap(w, groups)  # (g, T, C_out/g, C_in/g)
    planes = np.zeros((n_batch, out.shape[1], stride[0] * stride[1] * stride[2],
                       -(-out_size[0] // stride[0]), -(-out_size[1] // stride[1]),
                       -(-out_size[2] // stride[2])), x.dtype)
    for item in prange(n_batch * groups * chunks):
        n, g, r0, r1 = _work_item(item, groups, chunks, c_out_g)
        if r0 >= r1:
            continue
        y = np.empty((r1 - r0, size), x.dtype)
        for t in range(n_taps):
            sd, sh, sw = _tap_spans(t, in_size, out_size, kernel, stride, padding, dilation)
            if _empty(sd) or _empty(sh) or _empty(sw):
                continue
            np.dot(wt[g, t, r0:r1], x4[n, g], y)  # this tap's contribution, unshifted
            phase = _phase_index(sd, sh, sw, stride)
            for r in range(r1 - r0):
                plane = planes[n, g * c_out_g + r0 + r, phase]
                for i_d in range(sd[2], sd[3]):
                    for i_h in range(sh[2], sh[3]):
                        src = (i_d * h_in + i_h) * w_in
                        dst = plane[i_d + sd[1], i_h + sh[1]]
                        for i_w in range(sw[2], sw[3]):
                            dst[i_w + sw[1]] += y[r, src + i_w]
    _interleave(planes, bias, out, stride)


@njit(parallel=True, cache=True)
def _interleave(planes, bias, out, stride):
    """out[n, c, o] = planes[n, c, phase(o), o // stride] + bias[c]."""
    n_batch, c_out, d_out, h_out, w_out = out.shape
    for j in prange(n_batch * c_out):
        n, c = j // c_out, j % c_out
        for od in range(d_out):
            for oh in range(h_out):
                base = ((od % stride[0]) * stride[1] + oh % stride[1]) * stride[2]
                for rw in range(stride[2]):
                    src = planes[n, c, base + rw, od // stride[0], oh // stride[1]]
                    for ow in range(rw, w_out, stride[2]):
                        out[n, c, od, oh, ow] = src[ow // stride[2]] + bias[c]


@njit(cache=True)
def _gather_tap(plane_rows, sd, sh, sw, in_size, out):
    """out[co, i] = plane_rows[co, i + shift] where the tap reaches input position i, else 0.

    plane_rows is (C_out/g, Qd, Qh, Qw): one sample's phase planes of grad_output for one
    group and one phase; out is (C_out/g, S_in).
    """
    d_in, h_in, w_in = in_size
    for co in range(out.shape[0]):
        plane = plane_rows[co]
        for i_d in range(d_in):
            for i_h in range(h_in):
                row = (i_d * h_in + i_h) * w_in
                inside = sd[2] <= i_d < sd[3] and sh[2] <= i_h < sh[3]
                for i_w in range(w_in):
                    if inside and sw[2] <= i_w < sw[3]:
                        out[co, row + i_w] = plane[i_d + sd[1], i_h + sh[1], i_w + sw[1]]
                    else:
                        out[co, row + i_w] = 0


@njit(parallel=True, cache=True)
def _phase_planes(go, stride):
    """Inverse of _interleave: (N, C, D, H, W) -> (N, C, phases, Qd, Qh, Qw), zero past the edge."""
    n_batch, c_out, d_out, h_out, w_out = go.shape
    q_d = -(-d_out // stride[0])
    q_h = -(-h_out // stride[1])
    q_w = -(-w_out // stride[2])
    planes = np.zeros((n_batch, c_out, stride[0] * stride[1] * stride[2], q_d, q_h, q_w), go.dtype)
    for j in prange(n_batch * c_out):
        n, c = j // c_out, j % c_out
        for od in range(d_out):
            for oh in range(h_out):
                base = ((od % stride[0]) * stride[1] + oh % stride[1]) * stride[2]
                for rw in range(stride[2]):
                    dst = planes[n, c, base + rw, od // stride[0], oh // stride[1]]
                    for ow in range(rw, w_out, stride[2]):
                        dst[ow // stride[2]] = go[n, c, od, oh, ow]
    return planes


@njit(parallel=True, cache=True)
def _bias_grad(go, gb):
    n_batch, c_out = go.shape[0], go.shape[1]
    for c in prange(c_out):
        total = 0.0  # float64 accumulator, also for float32 gradients
        for n in range(n_batch):
            total += go[n, c].sum()
        gb[c] = total


@njit(parallel=True, cache=True)
def _stacked_weights(w, groups, taps_per_block):
    """(C_in, C_out/g, T) -> (g, blocks, C_in/g, taps_per_block * C_out/g): each block's taps side by side,
    column ``j * C_out/g + co`` holding tap ``block * taps_per_block + j`` (zero past the last tap)."""
    c_in, c_out_g, taps = w.shape
    c_in_g = c_in // groups
    blocks = -(-taps // taps_per_block)
    out = np.zeros((groups, blocks, c_in_g, taps_per_block * c_out_g), w.dtype)
    for ci in prange(c_in):
        g, cg = ci // c_in_g, ci % c_in_g
        for t in range(taps):
            b, j = t // taps_per_block, t % taps_per_block
            for co in range(c_out_g):
                out[g, b, cg, j * c_out_g + co] = w[ci, co, t]
    return out


@njit(cache=True)
def _gather_block(planes, n, g, block, taps_per_block, n_taps, c_out_g, in_size, out_size, kernel, stride,
                  padding, dilation, cols):
    """cols (taps_per_block * C_out/g, S_in): the block's taps' shifted phase planes of grad_output, stacked."""
    for j in range(taps_per_block):
        rows = cols[j * c_out_g:(j + 1) * c_out_g]
        t = block * taps_per_block + j
        if t >= n_taps:
            rows[:] = 0
            continue
        sd, sh, sw = _tap_spans(t, in_size, out_size, kernel, stride, padding, dilation)
        phase = _phase_index(sd, sh, sw, stride)
        _gather_tap(planes[n, g * c_out_g:(g + 1) * c_out_g, phase], sd, sh, sw, in_size, rows)


@njit(parallel=True, cache=True)
def _grad_input_kernel(planes, w, gx, in_size, out_size, kernel, stride, padding, dilation, groups,
                       chunks, taps_per_block):
    """gx (N, C_in, S_in) = sum over taps of W_tap @ (the tap's shifted phase plane of grad_output).

    Taps are stacked ``taps_per_block`` at a time into one GEMM with ``taps_per_block * C_out/g`` inner
    dimension, so a layer with few output channels still makes BLAS-sized products. Work items are
    (sample, group, block of input channels), as in the forward pass.
    """
    n_batch, c_in, size = gx.shape
    c_in_g = c_in // groups
    c_out_g, n_taps = w.shape[1], w.shape[2]
    blocks = -(-n_taps // taps_per_block)
    wb = _stacked_weights(w, groups, taps_per_block)  # (g, blocks, C_in/g, taps_per_block * C_out/g)
    gx4 = gx.reshape((n_batch, groups, c_in_g, size))
    for item in prange(n_batch * groups * chunks):
        n, g, r0, r1 = _work_item(item, groups, chunks, c_in_g)
        if r0 >= r1:
            continue
        cols = np.empty((taps_per_block * c_out_g, size), gx.dtype)
        part = np.empty((r1 - r0, size), gx.dtype)
        acc = gx4[n, g, r0:r1]
        for b in range(blocks):
            _gather_block(planes, n, g, b, taps_per_block, n_taps, c_out_g, in_size, out_size, kernel, stride,
                          padding, dilation, cols)
            if b == 0:
                np.dot(wb[g, b, r0:r1], cols, acc)
            else:
                np.dot(wb[g, b, r0:r1], cols, part)
                acc += part


@njit(parallel=True, cache=True)
def _grad_weight_kernel(planes, x, gw, in_size, out_size, kernel, stride, padding, dilation, groups,
                        taps_per_block):
    """gw[:, :, taps] = sum over samples of X @ G_taps^T, a block of stacked taps per GEMM; items are
    (group, block of taps)."""
    n_batch, c_in, size = x.shape
    c_in_g = c_in // groups
    c_out_g, n_taps = gw.shape[1], gw.shape[2]
    blocks = -(-n_taps // taps_per_block)
    x4 = x.reshape((n_batch, groups, c_in_g, size))
    for item in prange(groups * blocks):
        g, b = item // blocks, item % blocks
        width = taps_per_block * c_out_g
        acc = np.zeros((c_in_g, width), x.dtype)
        cols = np.empty((width, size), x.dtype)
        part = np.empty((c_in_g, width), x.dtype)
        for n in range(n_batch):
            _gather_block(planes, n, g, b, taps_per_block, n_taps, c_out_g, in_size, out_size, kernel, stride,
                          padding, dilation, cols)
            np.dot(x4[n, g], cols.T, part)
            acc += part
        for j in range(taps_per_block):
            t = b * taps_per_block + j
            if t >= n_taps:
                break
            for ci in range(c_in_g):
                for co in range(c_out_g):
                    gw[g * c_in_g + ci, co, t] = acc[ci, j * c_out_g + co]


def _flat(a: np.ndarray, lead: int) -> np.ndarray:
    """Collapse everything after the first `lead` axes (a free view of a C-contiguous array)."""
    return a.reshape(*a.shape[:lead], -1)


def _chunks(work: int, rows: int) -> int:
    """Split rows into enough blocks that `work` x blocks items keep every thread busy."""
    return max(1, min(rows, -(-2 * numba.get_num_threads() // max(work, 1))))


COLUMN_BUDGET = 1 << 18  # elements of one stacked-tap column block: ~1 MB in float32, kept in L2


def _taps_per_block(n_taps: int, c_out_g: int, size: int, parallel_items: int) -> int:
    """How many taps to stack into one GEMM: as many as fit the column budget, but leaving at least two
    work items per thread when the items are tap blocks (``parallel_items`` = items per tap block)."""
    fit = max(1, COLUMN_BUDGET // max(1, c_out_g * size))
    wanted_blocks = -(-2 * numba.get_num_threads() // max(1, parallel_items))
    return max(1, min(n_taps, fit, -(-n_taps // wanted_blocks)))


def forward(x5: np.ndarray, w5: np.ndarray, bias, geom: Geometry) -> np.ndarray:
    """conv_transpose3d of checked, C-contiguous 5-D arrays; returns (N, C_out, D, H, W)."""
    out = np.empty(geom.output_shape5, geom.dtype)
    b = np.zeros(geom.c_out, geom.dtype) if bias is None else np.ascontiguousarray(bias)
    if geom.batch == 0:
        return out
    chunks = _chunks(geom.batch * geom.groups, geom.c_out // geom.groups)
    _forward_kernel(_flat(x5, 2), _flat(w5, 2), b, out, geom.in_size, geom.out_size, geom.kernel,
                    geom.stride, geom.padding, geom.dilation, geom.groups, chunks)
    return out


def backward(go5: np.ndarray, x5: np.ndarray, w5: np.ndarray, geom: Geometry, mask):
    """(grad_input, grad_weight, grad_bias) of conv_transpose3d; entries not in mask are None."""
    need_input, need_weight, need_bias = mask
    go5 = np.ascontiguousarray(go5)
    gx = np.zeros(geom.input_shape5, geom.dtype) if need_input else None
    gw = np.zeros(geom.weight_shape5, geom.dtype) if need_weight else None
    gb = np.zeros(geom.c_out, geom.dtype) if need_bias else None
    if geom.batch == 0:
        return gx, gw, gb
    args = (geom.in_size, geom.out_size, geom.kernel, geom.stride, geom.padding, geom.dilation,
            geom.groups)
    n_taps, c_out_g, size = int(np.prod(geom.kernel)), geom.c_out // geom.groups, int(np.prod(geom.in_size))
    if need_input or need_weight:
        planes = _phase_planes(go5, geom.stride)
        if need_input:
            chunks = _chunks(geom.batch * geom.groups, geom.c_in // geom.groups)
            per_block = _taps_per_block(n_taps, c_out_g, size, 1 << 30)  # items are samples: no tap limit
            _grad_input_kernel(planes, _flat(w5, 2), _flat(gx, 2), *args, chunks, per_block)
        if need_weight:
            per_block = _taps_per_block(n_taps, c_out_g, size, geom.groups)
            _grad_weight_kernel(planes, _flat(x5, 2), _flat(gw, 2), *args, per_block)
    if need_bias:
        _bias_grad(go5, gb)
    return gx, gw, gb
