"""CPU target: stride-phase (polyphase) decomposition with the channel contraction on BLAS.

Why this shape. Output position ``o`` receives input ``i`` through tap ``k`` when
``o = i*stride - padding + k*dilation``. For a fixed tap, every ``o`` it reaches has the same
phase ``r = o mod stride`` and ``o // stride = i + shift``: one tap maps the whole input,
shifted, onto one phase of the output. So:

1. ``Y = W^T @ X``: one dense GEMM over the input channels for all taps at once,
   ``(C_out/g * T, C_in/g) @ (C_in/g, samples * spatial)``, on BLAS (called from ``njit`` code, ``_blas.gemm``);
   the weight as stored is that operand already, and samples side by side widen small layers;
2. add each tap's rows of ``Y`` into the output's phase plane ``r`` at offset ``shift``:
   unit-stride rows, no stride-s scatter, and no multiply ever touches an inserted zero.

Each work item then interleaves its own phase planes into the output and adds the bias. The backward
pass runs the same plan the other way: gather each tap's shifted phase plane of
``grad_output`` into the rows of ``G`` (row ``co*T + t``, like the weight's columns), then
``grad_input = W @ G`` (the weight as stored) and ``grad_weight = X @ G^T`` (which comes out in
the weight's own layout): no weight is ever transposed in memory.

Arrays arrive checked (``_args``) and C-contiguous in 5-D form; 1-D problems have depth =
height = 1.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import numba
import numpy as np
from numba import njit, prange, uint64

from . import cpu1d
from ._args import Geometry
from ._blas import gemm, single_threaded
from ._items import forward_item, forward_items
from ._runs import (
    MIN_FROM_ROW,
    MIN_TO_ROW,
    add_run,
    add_run_masked,
    axis_offsets,
    copy_run,
    copy_run_masked,
    copy_runs,
    from_row,
    gather_row,
    keep_columns,
    scatter_row,
    sum_run,
    to_row,
    zero_run,
)


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


@njit(cache=True)
def _phase_index(sd, sh, sw, stride):
    return (sd[0] * stride[1] + sh[0]) * stride[2] + sw[0]


@njit(cache=True)
def _sample_block(x4, n0, n1, g):
    """(C_in/g, samples * S): the input of samples n0..n1-1 in group g as one GEMM operand."""
    if n1 - n0 == 1:
        return x4[n0, g]  # already contiguous: no copy
    c, size = x4.shape[2], x4.shape[3]
    width = (n1 - n0) * size
    xb = np.empty((c, width), x4.dtype)
    for n in range(n0, n1):
        copy_runs(xb.reshape(-1), (n - n0) * size, width, x4.reshape(-1), (n * x4.shape[1] + g) * c * size, size,
                  c, size)
    return xb


@njit(cache=True)
def _plane_offset(planes, n, c, phase):
    """Flat offset of phase plane ``planes[n, c, phase]`` in a C-contiguous (N, C, P, Qd, Qh, Qw) array."""
    return ((n * planes.shape[1] + c) * planes.shape[2] + phase) * (planes.shape[3] * planes.shape[4]
                                                                     * planes.shape[5])


@njit(cache=True)
def _scatter_taps(y, planes, n0, n1, c0, c1, g, c_out_g, t0, t1, layout, in_size, out_size, kernel, stride, padding,
                  dilation):
    """Add the rows of y for taps t0..t1-1 (row ``(co - c0)*(t1 - t0) + t - t0``) into their phase planes at their
    shifts: unit-stride runs along the width, no stride-s scatter. ``layout = (sample stride, slice stride, first
    slice)`` says where y's columns hold input depth slice d of sample n: from column
    ``(n - n0)*layout[0] + (d - layout[2])*layout[1]``, its H x W positions.

    When the planes are as wide as the input (the usual kernel = 2 x stride layer), a tap's rows have the
    same stride in both arrays, so one depth slice of a tap is one run even when the tap is shifted along
    the width: the columns that would wrap into the next row are masked (``keep_columns``). Otherwise
    each row is a run. Indexing is flat (no array view per row): 3-D layers have rows of a few samples.
    """
    h_in, w_in = in_size[1], in_size[2]
    q_h, q_w = planes.shape[4], planes.shape[5]
    dst_flat, src_flat, width = planes.reshape(-1), y.reshape(-1), y.shape[1]
    slabs = q_w == w_in
    keep = np.empty(h_in * w_in if slabs else 0, np.int32)
    for t in range(t0, t1):
        sd, sh, sw = _tap_spans(t, in_size, out_size, kernel, stride, padding, dilation)
        if _empty(sd) or _empty(sh) or _empty(sw):
            continue
        phase = _phase_index(sd, sh, sw, stride)
        n_h = sh[3] - sh[2]
        # slab run: columns [k0, k1) of the tap's rows sh[2].., first and last kept element included, so
        # every element it touches lies in this depth slice of the plane
        k0, k1 = sw[2], (n_h - 1) * w_in + sw[3]
        masked = slabs and not (sw[2] == 0 and sw[3] == w_in)
        if masked:
            keep_columns(keep, w_in, sw[2], sw[3])
        for co in range(c0, c1):
            row = ((co - c0) * (t1 - t0) + t - t0) * width
            for n in range(n0, n1):
                plane = _plane_offset(planes, n, g * c_out_g + co, phase)
                base = row + (n - n0) * layout[0]
                for i_d in range(sd[2], sd[3]):
                    slice_base = base + (i_d - layout[2]) * layout[1]
                    if slabs:
                        src = slice_base + sh[2] * w_in
                        dst = plane + ((i_d + sd[1]) * q_h + sh[2] + sh[1]) * q_w + sw[1]
                        if masked:
                            add_run_masked(dst_flat, dst + k0, src_flat, src + k0, keep, k0, k1 - k0)
                        else:
                            add_run(dst_flat, dst + k0, src_flat, src + k0, k1 - k0)
                        continue
                    for i_h in range(sh[2], sh[3]):
                        src = slice_base + i_h * w_in + sw[2]
                        dst = plane + ((i_d + sd[1]) * q_h + i_h + sh[1]) * q_w + sw[1] + sw[2]
                        add_run(dst_flat, dst, src_flat, src, sw[3] - sw[2])


@njit(cache=True)
def _output_planes(like, n_batch, c_out, out_size, stride):
    """Uninitialised phase planes of the output, (N, C_out, phases, Qd, Qh, Qw), in like's dtype."""
    return np.empty((n_batch, c_out, stride[0] * stride[1] * stride[2], -(-out_size[0] // stride[0]),
                     -(-out_size[1] // stride[1]), -(-out_size[2] // stride[2])), like.dtype)


@njit(cache=True)
def _zero_planes(planes, n0, n1, c0, c1):
    """Zero every phase plane of samples n0..n1-1, channels c0..c1-1: a work item's own, zeroed by the item (in
    parallel, and into its cache just before the scatter)."""
    per_channel = planes.shape[2] * planes.shape[3] * planes.shape[4] * planes.shape[5]
    for n in range(n0, n1):
        zero_run(planes.reshape(-1), _plane_offset(planes, n, c0, 0), (c1 - c0) * per_channel)


@njit(parallel=True, cache=True)
def _forward_kernel(x, w, bias, out, in_size, out_size, kernel, stride, padding, dilation, groups,
                    co_block, n_block):
    """x (N, C_in, S_in), w (C_in, C_out/g, T); out (N, C_out, D, H, W) is overwritten.

    Work items are (group, block of output channels, block of samples). Each makes one GEMM for all
    taps of its channels, ``Y = W_block^T @ X_block``: the weight as stored, ``(C_in/g, C_out/g * T)``
    per group, is already that operand (BLAS reads the block's columns in place), and a block of samples
    side by side gives small-spatial layers wide products. The items own disjoint phase planes, which
    each zeroes itself (in parallel, and into its cache just before the scatter) and interleaves into its own
    block of the output, so they need no synchronisation; BLAS runs single-threaded inside them.
    """
    n_batch, c_in, size = x.shape
    c_in_g = c_in // groups
    c_out_g, n_taps = w.shape[1], w.shape[2]
    x4 = x.reshape((n_batch, groups, c_in_g, size))
    w_flat = w.reshape(-1)
    lda = c_out_g * n_taps  # row stride of the stored weight: column co*T + t is tap t into channel co
    planes = _output_planes(x, n_batch, out.shape[1], out_size, stride)
    offsets = _plane_offsets(planes, out.shape, stride)
    for item in prange(forward_items(groups, c_out_g, co_block, n_batch, n_block)):
        g, c0, c1, n0, n1 = forward_item(item, c_out_g, co_block, n_batch, n_block)
        _zero_planes(planes, n0, n1, g * c_out_g + c0, g * c_out_g + c1)
        xb = _sample_block(x4, n0, n1, g)
        y = np.empty(((c1 - c0) * n_taps, xb.shape[1]), x.dtype)
        # every tap of every channel in the block: (block * T, C_in/g) @ (C_in/g, columns)
        gemm(w_flat, g * c_in_g * lda + c0 * n_taps, lda, True, xb.reshape(-1), 0, xb.shape[1], False,
             y.reshape(-1), 0, y.shape[1], y.shape[0], y.shape[1], c_in_g, 0.0)
        _scatter_taps(y, planes, n0, n1, c0, c1, g, c_out_g, 0, n_taps, (size, size // in_size[0], 0), in_size,
                      out_size, kernel, stride, padding, dilation)
        _interleave_block(planes, bias, out, stride, offsets, n0, n1, g * c_out_g + c0, g * c_out_g + c1)


@njit(cache=True)
def _slice_block(x4, n0, n1, g, d_in):
    """(C_in/g, D * samples * H*W): the input of samples n0..n1-1 in group g, columns ordered (depth slice,
    sample, position), so that a run of depth slices of all the samples is one block of columns."""
    if n1 - n0 == 1:
        return x4[n0, g]  # the same order already: no copy
    c, size = x4.shape[2], x4.shape[3]
    area, width = size // d_in, (n1 - n0) * size
    xb = np.empty((c, width), x4.dtype)
    dst, src = xb.reshape(-1), x4.reshape(-1)
    for ci in range(c):
        for d in range(d_in):
            for n in range(n0, n1):
                copy_run(dst, ci * width + (d * (n1 - n0) + n - n0) * area, src,
                         ((n * x4.shape[1] + g) * c + ci) * size + d * area, area)
    return xb


@njit(parallel=True, cache=True)
def _forward_depth_kernel(x, w, bias, out, in_size, out_size, kernel, stride, padding, dilation, groups,
                          co_block, n_block):
    """_forward_kernel with one GEMM per depth tap, over only the input depth slices that the tap carries into
    the output. With a few slices, a kernel taller than the stride sends part of every edge tap's products
    outside: the video decoder's second layer (depth 2, kernel 4, stride 2, padding 1) carries depth tap 0 from
    slice 1 only and tap 3 from slice 0 only, so a quarter of _forward_kernel's GEMM is thrown away.

    The weight is first copied as (C_in, K_d, C_out/g, K_h*K_w), so that one depth tap of a block of channels is
    one GEMM operand, and each item lays its samples out slice-major (_slice_block) so that the live slices of a
    depth tap are one block of columns. Items, planes and scatter as in _forward_kernel.
    """
    n_batch, c_in, size = x.shape
    c_in_g = c_in // groups
    c_out_g, n_taps = w.shape[1], w.shape[2]
    d_in, k_d = in_size[0], kernel[0]
    area, hw_taps = size // d_in, n_taps // k_d
    lda = c_out_g * n_taps  # = k_d * c_out_g * hw_taps: the row stride of wr as of the stored weight
    wr = np.empty((c_in, k_d, c_out_g, hw_taps), w.dtype)
    wr_flat, w_flat = wr.reshape(-1), w.reshape(-1)
    for ci in prange(c_in):
        for co in range(c_out_g):
            for kd in range(k_d):
                copy_run(wr_flat, ((ci * k_d + kd) * c_out_g + co) * hw_taps, w_flat,
                         (ci * c_out_g + co) * n_taps + kd * hw_taps, hw_taps)
    x4 = x.reshape((n_batch, groups, c_in_g, size))
    planes = _output_planes(x, n_batch, out.shape[1], out_size, stride)
    offsets = _plane_offsets(planes, out.shape, stride)
    for item in prange(forward_items(groups, c_out_g, co_block, n_batch, n_block)):
        g, c0, c1, n0, n1 = forward_item(item, c_out_g, co_block, n_batch, n_block)
        _zero_planes(planes, n0, n1, g * c_out_g + c0, g * c_out_g + c1)
        nb = n1 - n0
        xb = _slice_block(x4, n0, n1, g, d_in)
        y_buf = np.empty((c1 - c0) * hw_taps * xb.shape[1], x.dtype)
        for kd in range(k_d):
            i_lo, i_hi = tap_span(d_in, out_size[0], kd, stride[0], padding[0], dilation[0])[2:]
            if i_lo >= i_hi:
                continue
            rows, cols = (c1 - c0) * hw_taps, (i_hi - i_lo) * nb * area
            y = y_buf[:rows * cols].reshape((rows, cols))
            # this depth tap of the block's channels, (block * K_h*K_w, C_in/g) @ (C_in/g, live slices' columns)
            gemm(wr_flat, g * c_in_g * lda + (kd * c_out_g + c0) * hw_taps, lda, True, xb.reshape(-1),
                 i_lo * nb * area, xb.shape[1], False, y.reshape(-1), 0, cols, rows, cols, c_in_g, 0.0)
            _scatter_taps(y, planes, n0, n1, c0, c1, g, c_out_g, kd * hw_taps, (kd + 1) * hw_taps,
                          (area, nb * area, i_lo), in_size, out_size, kernel, stride, padding, dilation)
        _interleave_block(planes, bias, out, stride, offsets, n0, n1, g * c_out_g + c0, g * c_out_g + c1)


@njit(cache=True)
def _scatter_rows(y, planes, n0, n1, c0, c1, g, c_out_g, length, out_len, n_taps, stride, padding, dilation):
    """_scatter_taps for _forward_rows_kernel: y's row ``(co - c0)*T + t`` holds samples n0..n1-1 side by side,
    and so do the planes' rows, which are as wide as the input (_samples_as_rows admits no other layer), so
    each tap of each channel is one run over the block of samples, masked at the samples' edges."""
    q = planes.shape[5]
    dst_flat, src_flat, width = planes.reshape(-1), y.reshape(-1), y.shape[1]
    keep = np.empty(width, np.int32)
    for t in range(n_taps):
        phase, shift, i_lo, i_hi = tap_span(length, out_len, t, stride, padding, dilation)
        if i_lo >= i_hi:
            continue
        k0, k1 = i_lo, (n1 - n0 - 1) * length + i_hi  # first and last kept element, as in _scatter_taps
        masked = not (i_lo == 0 and i_hi == length)
        if masked:
            keep_columns(keep, length, i_lo, i_hi)
        for co in range(c0, c1):
            src = ((co - c0) * n_taps + t) * width
            dst = _plane_offset(planes, 0, g * c_out_g + co, phase) + n0 * q + shift
            if masked:
                add_run_masked(dst_flat, dst + k0, src_flat, src + k0, keep, k0, k1 - k0)
            else:
                add_run(dst_flat, dst + k0, src_flat, src + k0, k1 - k0)


@njit(parallel=True, cache=True)
def _forward_rows_kernel(x, w, bias, out, out_len, stride, padding, dilation, groups, co_block, n_block):
    """_forward_kernel for a 1-D problem with short rows. x (N, C_in, L) is first laid out as (C_in, N * L), each
    channel's rows of all samples side by side, and the phase planes (1, C_out, stride, 1, N, Q) likewise, so a
    tap of one channel reaches a whole block of samples in one run (_scatter_rows) instead of one run of a few
    values per sample. Items and GEMMs as in _forward_kernel; a block of samples is a block of columns, read in
    place. out is the caller's (N, C_out, 1, 1, L_out)."""
    n_batch, c_in, length = x.shape
    width = n_batch * length
    xr = np.empty((c_in, width), x.dtype)
    x_src, xr_dst, l_u = x.reshape(-1), xr.reshape(-1), uint64(length)
    for ci in prange(c_in):  # in parallel here: NumPy's transposed copy of these short rows took 0.2-0.3 ms
        for n in range(n_batch):  # flat: a slice assignment per 4-8-value row took 0.065 ms in all, this 0.04
            d, s = uint64(ci * width + n * length), uint64((n * c_in + ci) * length)
            for p in range(l_u):
                xr_dst[d + p] = x_src[s + p]
    c_out, c_in_g = out.shape[1], c_in // groups
    c_out_g, n_taps = w.shape[1], w.shape[2]
    s, q = stride[2], -(-out_len // stride[2])
    x_flat, w_flat = xr.reshape(-1), w.reshape(-1)
    lda = c_out_g * n_taps
    planes = np.empty((1, c_out, s, 1, n_batch, q), xr.dtype)
    plane_flat = planes.reshape(-1)
    off = axis_offsets(out.shape[4], s, 1, n_batch * q)
    for item in prange(forward_items(groups, c_out_g, co_block, n_batch, n_block)):
        g, c0, c1, n0, n1 = forward_item(item, c_out_g, co_block, n_batch, n_block)
        for c in range(g * c_out_g + c0, g * c_out_g + c1):
            for r in range(s):
                zero_run(plane_flat, _plane_offset(planes, 0, c, r) + n0 * q, (n1 - n0) * q)
        cols = (n1 - n0) * length
        y = np.empty(((c1 - c0) * n_taps, cols), xr.dtype)
        gemm(w_flat, g * c_in_g * lda + c0 * n_taps, lda, True, x_flat, g * c_in_g * width + n0 * length, width,
             False, y.reshape(-1), 0, cols, y.shape[0], cols, c_in_g, 0.0)
        _scatter_rows(y, planes, n0, n1, c0, c1, g, c_out_g, length, out_len, n_taps, s, padding[2], dilation[2])
        _interleave_rows_block(planes, bias, out, s, off, n0, n1, g * c_out_g + c0, g * c_out_g + c1)


@njit(cache=True)
def _plane_offsets(planes, out_shape, stride):
    """Where each output position along depth, height and width lands in a sample-channel's phase planes
    (phase, Qd, Qh, Qw): three axis_offsets tables whose entries add up to the flat offset."""
    q_d, q_h, q_w = planes.shape[3], planes.shape[4], planes.shape[5]
    plane = q_d * q_h * q_w
    return (axis_offsets(out_shape[2], stride[0], q_h * q_w, stride[1] * stride[2] * plane),
            axis_offsets(out_shape[3], stride[1], q_w, stride[2] * plane),
            axis_offsets(out_shape[4], stride[2], 1, plane))


@njit(cache=True)
def _sample_rows(planes_flat, out_flat, planes, out_shape, j, stride, offsets, b, to_out):
    """Every output row of sample-channel ``j`` (= n * C + c) to (``to_out``, adding b) or from its phase planes,
    in output order, placed by the offset tables of _plane_offsets (no division per element); unsigned
    indices, so nothing checks for wrap-around (see kernels._runs)."""
    d_out, h_out, w_out = out_shape[2], out_shape[3], out_shape[4]
    off_d, off_h, off_w = offsets
    plane = planes.shape[3] * planes.shape[4] * planes.shape[5]
    p0, o0 = uint64(j * planes.shape[2] * plane), uint64(j * d_out * h_out * w_out)
    for od in range(d_out):
        for oh in range(h_out):
            p = p0 + off_d[od] + off_h[oh]
            o = o0 + uint64((od * h_out + oh) * w_out)
            if to_out and w_out >= MIN_TO_ROW:
                to_row(out_flat, o, planes_flat, p, plane, w_out, stride[2], b)
            elif to_out:
                gather_row(out_flat, o, planes_flat, p, off_w, w_out, b)
            elif w_out >= MIN_FROM_ROW:
                from_row(planes_flat, p, out_flat, o, plane, w_out, stride[2])
            else:
                scatter_row(planes_flat, p, out_flat, o, off_w, w_out)


@njit(cache=True)
def _interleave_block(planes, bias, out, stride, offsets, n0, n1, c0, c1):
    """out[n, c, o] = planes[n, c, phase(o), o // stride] + bias[c] for samples n0..n1-1 and channels c0..c1-1 (of
    all groups), one output row at a time, placed by _plane_offsets' tables (no division per row, see
    _sample_rows). A forward work item interleaves its own block right after its scatter, while the planes are
    in its cache: one pass over the whole output after the items took 1-8% longer on the benchmark's 3-D forward
    shapes and started one more parallel region per call."""
    src, dst = planes.reshape(-1), out.reshape(-1)
    for n in range(n0, n1):
        for c in range(c0, c1):
            _sample_rows(src, dst, planes, out.shape, n * out.shape[1] + c, stride, offsets, bias[c], True)


@njit(cache=True)
def _interleave_rows_block(planes, bias, out, stride, off, n0, n1, c0, c1):
    """_interleave_block for _forward_rows_kernel's planes (1, C, s, 1, N, Q), where sample n's row is
    ``planes[0, c, phase, 0, n]``; out is (N, C, 1, 1, L), ``off`` its rows' axis_offsets table."""
    c_out, w_out = out.shape[1], out.shape[4]
    src, dst = planes.reshape(-1), out.reshape(-1)
    plane = planes.shape[4] * planes.shape[5]
    for c in range(c0, c1):
        p0 = _plane_offset(planes, 0, c, 0)
        for n in range(n0, n1):
            o, p = (n * c_out + c) * w_out, p0 + n * planes.shape[5]
            if w_out >= MIN_TO_ROW:
                to_row(dst, o, src, p, plane, w_out, stride, bias[c])
            else:
                gather_row(dst, o, src, p, off, w_out, bias[c])


@njit(parallel=True, cache=True)
def _phase_planes(go, stride):
    """Inverse of _interleave_block: (N, C, D, H, W) -> (N, C, phases, Qd, Qh, Qw), zero past the edge."""
    n_batch, c_out, d_out, h_out, w_out = go.shape
    planes = np.zeros((n_batch, c_out, stride[0] * stride[1] * stride[2], -(-d_out // stride[0]),
                       -(-h_out // stride[1]), -(-w_out // stride[2])), go.dtype)
    src, dst = planes.reshape(-1), go.reshape(-1)
    zero = go.dtype.type(0)
    offsets = _plane_offsets(planes, go.shape, stride)
    for j in prange(n_batch * c_out):
        _sample_rows(src, dst, planes, go.shape, j, stride, offsets, zero, False)
    return planes


@njit(parallel=True, cache=True)
def _bias_grad(go, gb):
    """gb[c] = the sum of go[:, c] (C-contiguous), in float64: one vectorised run per (sample, channel) in
    parallel, then a sum over samples (items by channel alone left one thread working for one output channel,
    and a scalar sum ran at one add per cycle and a half)."""
    n_batch, c_out = go.shape[0], go.shape[1]
    size = go.size // max(n_batch * c_out, 1)
    flat = go.reshape(-1)
    partial = np.empty(n_batch * c_out, np.float64)
    for j in prange(n_batch * c_out):
        partial[j] = sum_run(flat, j * size, size)
    for c in range(c_out):
        total = 0.0
        for n in range(n_batch):
            total += partial[n * c_out + c]
        gb[c] = total


@njit(cache=True)
def _gather_columns(planes, n0, n1, g, c0, c1, t0, t1, c_out_g, in_size, out_size, kernel, stride, padding,
                    dilation, cols):
    """cols ((c1-c0)*(t1-t0), (n1-n0)*S_in): row ``(co-c0)*(t1-t0) + t-t0``, column ``(n-n0)*S_in + i`` is
    tap t's shifted phase plane of grad_output (channel co, sample n) at input position i, zero where the
    tap misses: the operand that multiplies the weights of those taps. Flat indexing and one masked run
    per depth slice where the planes are as wide as the input, as in _scatter_taps."""
    size = in_size[0] * in_size[1] * in_size[2]
    d_in, h_in, w_in = in_size
    q_h, q_w = planes.shape[4], planes.shape[5]
    src_flat, dst_flat, width = planes.reshape(-1), cols.reshape(-1), cols.shape[1]
    taps = t1 - t0
    slabs = q_w == w_in
    keep = np.empty(h_in * w_in if slabs else 0, np.int32)
    for t in range(t0, t1):
        sd, sh, sw = _tap_spans(t, in_size, out_size, kernel, stride, padding, dilation)
        phase = _phase_index(sd, sh, sw, stride)
        lo = min(sw[2], w_in)  # a tap that misses can start past the row (large dilation and padding)
        hi = max(lo, sw[3])
        h_lo = min(sh[2], h_in)
        h_hi = max(h_lo, sh[3])
        hits = lo < hi and h_lo < h_hi
        # slab run: the kept elements from the first to the last, zeros on either side (see _scatter_taps)
        k0, k1 = h_lo * w_in + lo, (h_hi - 1) * w_in + hi
        masked = slabs and hits and not (lo == 0 and hi == w_in)
        if masked:
            keep_columns(keep, w_in, lo, hi)
        for co in range(c0, c1):
            row = ((co - c0) * taps + t - t0) * width
            for n in range(n0, n1):
                plane = _plane_offset(planes, n, g * c_out_g + co, phase)
                for i_d in range(d_in):
                    slab = row + (n - n0) * size + i_d * h_in * w_in
                    if not (hits and sd[2] <= i_d < sd[3]):
                        zero_run(dst_flat, slab, h_in * w_in)
                        continue
                    if slabs:
                        src = plane + ((i_d + sd[1]) * q_h + sh[1]) * q_w + sw[1]
                        zero_run(dst_flat, slab, k0)
                        if masked:
                            copy_run_masked(dst_flat, slab + k0, src_flat, src + k0, keep, k0, k1 - k0)
                        else:
                            copy_run(dst_flat, slab + k0, src_flat, src + k0, k1 - k0)
                        zero_run(dst_flat, slab + k1, h_in * w_in - k1)
                        continue
                    for i_h in range(h_in):
                        dst = slab + i_h * w_in
                        if h_lo <= i_h < h_hi:
                            src = plane + ((i_d + sd[1]) * q_h + i_h + sh[1]) * q_w + sw[1]
                            zero_run(dst_flat, dst, lo)
                            copy_run(dst_flat, dst + lo, src_flat, src + lo, hi - lo)
                            zero_run(dst_flat, dst + hi, w_in - hi)
                        else:
                            zero_run(dst_flat, dst, w_in)


@njit(parallel=True, cache=True)
def _grad_input_kernel(planes, w, gx, in_size, out_size, kernel, stride, padding, dilation, groups,
                       ci_block, n_block, co_chunk):
    """gx_g (C_in/g, samples*S) = W_g @ G: the weight as stored, ``(C_in/g, C_out/g * T)`` per group, times
    the gathered taps of grad_output, ``co_chunk`` output channels (all their taps) per GEMM. Work items
    are (group, block of input channels, block of samples)."""
    n_batch, c_in, size = gx.shape
    c_in_g = c_in // groups
    c_out_g, n_taps = w.shape[1], w.shape[2]
    w_flat = w.reshape(-1)
    lda = c_out_g * n_taps
    gx_flat = gx.reshape(-1)
    ci_blocks = -(-c_in_g // ci_block)
    n_blocks = -(-n_batch // n_block)
    chunks = -(-c_out_g // co_chunk)
    for item in prange(groups * ci_blocks * n_blocks):
        g = item // (ci_blocks * n_blocks)
        r0 = ((item // n_blocks) % ci_blocks) * ci_block
        r1 = min(c_in_g, r0 + ci_block)
        n0 = (item % n_blocks) * n_block
        n1 = min(n_batch, n0 + n_block)
        width = (n1 - n0) * size
        acc = np.empty((r1 - r0, width), gx.dtype)
        for k in range(chunks):
            c0 = k * co_chunk
            c1 = min(c_out_g, c0 + co_chunk)
            cols = np.empty(((c1 - c0) * n_taps, width), gx.dtype)
            _gather_columns(planes, n0, n1, g, c0, c1, 0, n_taps, c_out_g, in_size, out_size, kernel, stride,
                            padding, dilation, cols)
            # acc (+)= the weight's rows r0..r1-1, columns of this chunk's taps, read in place, times G
            gemm(w_flat, (g * c_in_g + r0) * lda + c0 * n_taps, lda, False, cols.reshape(-1), 0, width, False,
                 acc.reshape(-1), 0, width, r1 - r0, width, cols.shape[0], 0.0 if k == 0 else 1.0)
        for n in range(n0, n1):
            copy_runs(gx_flat, ((n * groups + g) * c_in_g + r0) * size, size, acc.reshape(-1), (n - n0) * size,
                      width, r1 - r0, size)


@njit(parallel=True, cache=True)
def _grad_weight_kernel(planes, x, gw, in_size, out_size, kernel, stride, padding, dilation, groups,
                        co_block, tap_block, n_block):
    """gw_g (C_in/g, C_out/g * T) = X_g @ G^T summed over sample blocks: the result is the weight's own
    layout. Work items are (group, block of output channels, block of taps)."""
    n_batch, c_in, size = x.shape
    c_in_g = c_in // groups
    c_out_g, n_taps = gw.shape[1], gw.shape[2]
    x4 = x.reshape((n_batch, groups, c_in_g, size))
    co_blocks = -(-c_out_g // co_block)
    tap_blocks = -(-n_taps // tap_block)
    n_blocks = -(-n_batch // n_block)
    for item in prange(groups * co_blocks * tap_blocks):
        g = item // (co_blocks * tap_blocks)
        c0 = ((item // tap_blocks) % co_blocks) * co_block
        c1 = min(c_out_g, c0 + co_block)
        t0 = (item % tap_blocks) * tap_block
        t1 = min(n_taps, t0 + tap_block)
        rows = (c1 - c0) * (t1 - t0)
        acc = np.empty((c_in_g, rows), x.dtype)
        for b in range(n_blocks):
            n0 = b * n_block
            n1 = min(n_batch, n0 + n_block)
            width = (n1 - n0) * size
            cols = np.empty((rows, width), x.dtype)
            _gather_columns(planes, n0, n1, g, c0, c1, t0, t1, c_out_g, in_size, out_size, kernel, stride,
                            padding, dilation, cols)
            gemm(_sample_block(x4, n0, n1, g).reshape(-1), 0, width, False, cols.reshape(-1), 0, width, True,
                 acc.reshape(-1), 0, rows, c_in_g, rows, width, 0.0 if b == 0 else 1.0)  # acc (+)= X @ G^T
        for ci in range(c_in_g):
            for co in range(c0, c1):
                for t in range(t0, t1):
                    gw[g * c_in_g + ci, co, t] = acc[ci, (co - c0) * (t1 - t0) + t - t0]


@njit(parallel=True, cache=True)
def _grads_kernel(planes, x, w, gx, gw_parts, in_size, out_size, kernel, stride, padding, dilation, groups,
                  n_block, co_chunk):
    """Both gradients from one gather: per block of samples and chunk of output channels, G is gathered
    once and used twice, grad_input = W @ G and grad_weight += X @ G^T. Items are (group, part); part p
    takes sample blocks p, p + parts, ... and sums its weight gradient into gw_parts[p]."""
    n_batch, c_in, size = x.shape
    c_in_g = c_in // groups
    c_out_g, n_taps = w.shape[1], w.shape[2]
    parts = gw_parts.shape[0]
    lda = c_out_g * n_taps  # row stride of the weight and of each part of its gradient
    w_flat, gw_flat = w.reshape(-1), gw_parts.reshape(-1)
    x4 = x.reshape((n_batch, groups, c_in_g, size))
    gx_flat = gx.reshape(-1)
    n_blocks = -(-n_batch // n_block)
    chunks = -(-c_out_g // co_chunk)
    for item in prange(groups * parts):
        g, p = item // parts, item % parts
        gwp = (p * c_in + g * c_in_g) * lda  # this part's (C_in/g, C_out/g * T) block of gw_parts
        for b in range(p, n_blocks, parts):
            n0 = b * n_block
            n1 = min(n_batch, n0 + n_block)
            width = (n1 - n0) * size
            xb = _sample_block(x4, n0, n1, g).reshape(-1)
            acc = np.empty((c_in_g, width), x.dtype)
            for k in range(chunks):
                c0 = k * co_chunk
                c1 = min(c_out_g, c0 + co_chunk)
                cols = np.empty(((c1 - c0) * n_taps, width), x.dtype)
                _gather_columns(planes, n0, n1, g, c0, c1, 0, n_taps, c_out_g, in_size, out_size, kernel, stride,
                                padding, dilation, cols)
                rows, cf = cols.shape[0], cols.reshape(-1)
                # BLAS adds into both results in place: no weight block copied, no product summed by hand
                gemm(w_flat, g * c_in_g * lda + c0 * n_taps, lda, False, cf, 0, width, False,
                     acc.reshape(-1), 0, width, c_in_g, width, rows, 0.0 if k == 0 else 1.0)
                gemm(xb, 0, width, False, cf, 0, width, True, gw_flat, gwp + c0 * n_taps, lda, c_in_g, rows, width,
                     1.0)
            for n in range(n0, n1):
                copy_runs(gx_flat, (n * groups + g) * c_in_g * size, size, acc.reshape(-1), (n - n0) * size, width,
                          c_in_g, size)


def _flat(a: np.ndarray, lead: int) -> np.ndarray:
    """Collapse everything after the first `lead` axes (a free view of a C-contiguous array)."""
    return a.reshape(*a.shape[:lead], -1)


COLUMN_BUDGET = 1 << 18  # elements of one GEMM product or gathered operand: ~1 MB in float32, kept in L2
MIN_COLUMNS = 256  # GEMMs: at least this many columns (samples side by side) when the batch allows
# _forward_rows_kernel up to this many samples x frames. A/B against _forward_kernel in one process, the two
# taking turns right after torch's call: 0.80-0.83x the time at 512 (64 x 8, 32 x 16), 0.93-0.98x at 1024
# (64 x 16, 32 x 32, 16 x 64, 4 x 200), a wash at 2048 (64 x 32, 4 x 512), where rows are long enough anyway.
ROWS_MAX_COLUMNS = 1024


def _forward_blocks(n_batch: int, c_out_g: int, groups: int, n_taps: int, size: int, threads: int) -> tuple[int, int]:
    """(output channels, samples) per forward work item: wide GEMMs whose product (``n_taps`` taps of each
    channel) fits the column budget, split further until every thread has at least two items, and evened out."""
    n_block = max(1, min(n_batch, -(-MIN_COLUMNS // size)))
    co_block = max(1, min(c_out_g, COLUMN_BUDGET // (n_taps * n_block * size)))
    while groups * -(-c_out_g // co_block) * -(-n_batch // n_block) < 2 * threads:
        if co_block > 1 and (co_block * n_taps >= n_block * size or n_block == 1):
            co_block = -(-co_block // 2)  # the taller operand gives first
        elif n_block > 1:
            n_block = -(-n_block // 2)
        else:
            break
    return _even(c_out_g, co_block), _even(n_batch, n_block)


def _even(total: int, block: int) -> int:
    """The smallest block that splits ``total`` into as many blocks as ``block`` does: 64 channels in blocks of 40
    made items of 40 and 24, and the thread with the larger ones set the pace."""
    return -(-total // -(-total // block))


# samples x frames per GEMM of cpu1d.forward_phases. Interleaved A/B on the speech decoder's last layer, each
# right after torch's call: 256 and 512 within 0.01x of torch's time, 1024 0.04-0.2x slower.
PHASE_COLUMNS = 512


def _phase_blocks(n_batch: int, c_out_g: int, groups: int, length: int, threads: int) -> tuple[int, int]:
    """(output channels, samples) per item of cpu1d.forward_phases: ``PHASE_COLUMNS`` columns and every output
    channel of a group, the channels split (but not below cpu1d.MIN_DEPTH), then the samples, until every thread
    has an item. One item per thread is enough, where the other kernels want two: a phase's GEMM is deep (all its
    taps) and halving its rows cost more than an idle thread at the end (256 output channels, 256 columns: 3.0 ms
    in 2 items, 3.8 ms in 4, one run each)."""
    n_block = max(1, min(n_batch, PHASE_COLUMNS // length))
    co_block = c_out_g
    while groups * -(-c_out_g // co_block) * -(-n_batch // n_block) < threads:
        if co_block >= 2 * cpu1d.MIN_DEPTH:
            co_block = -(-co_block // 2)
        elif n_block > 1:
            n_block = -(-n_block // 2)
        else:
            break
    return _even(c_out_g, co_block), _even(n_batch, n_block)


def _samples_as_rows(geom: Geometry) -> bool:
    """1-D problems of at most ``ROWS_MAX_COLUMNS`` samples x frames whose phase planes are as wide as the input
    (kernel = 2 x stride)."""
    length = geom.in_size[2]
    return (geom.in_size[:2] == (1, 1) and geom.kernel[:2] == (1, 1) and geom.out_size[:2] == (1, 1)
            and 1 < geom.batch and geom.batch * length <= ROWS_MAX_COLUMNS
            and -(-geom.out_size[2] // geom.stride[2]) == length)


# _forward_depth_kernel from this share of dead (depth tap, slice) pairs on. A/B against _forward_kernel in one
# process: video decoder layer 2 (a quarter dead) 0.85-0.88x the time, layer 3 and the 3-D reference shape (an
# eighth) 0.91-0.96x; at a sixteenth it was a wash (0.96x) or, with one output channel (GEMMs of 16 rows), 1.4x.
DEPTH_SPLIT_SAVING = 0.1


def _tap_inputs(geom: Geometry, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """(i_lo, i_hi) of every tap along one axis, as tap_span gives them: the inputs the tap carries into the
    output (none where i_lo >= i_hi)."""
    offset = np.arange(geom.kernel[axis]) * geom.dilation[axis] - geom.padding[axis]  # o = i*stride + offset
    i_lo = np.maximum(0, -(offset // geom.stride[axis]))
    i_hi = np.minimum(geom.in_size[axis], -((offset - geom.out_size[axis]) // geom.stride[axis]))
    return i_lo, i_hi


def _depth_saving(geom: Geometry) -> float:
    """The share of (depth tap, input depth slice) pairs whose products all land outside the output: the part of
    _forward_kernel's GEMM that _forward_depth_kernel does not do."""
    if geom.kernel[0] == 1:
        return 0.0
    i_lo, i_hi = _tap_inputs(geom, 0)
    live = int(np.maximum(0, i_hi - i_lo).sum())
    return 1.0 - live / (geom.kernel[0] * geom.in_size[0])


@functools.lru_cache(maxsize=256)
def _crop_dead_taps(geom: Geometry) -> tuple[tuple[slice, ...], Geometry] | None:
    """(weight slices, geometry) without the taps that reach no output, or None when there are none to drop.
    Cached per geometry: the NumPy arithmetic costs ~70 µs, more than the rest of a call's Python side, and a
    training step asks for the same layer's answer in its forward and its backward.

    A kernel larger than a small input has taps whose every product lands outside the output: the video
    decoder's first layer (depth 1, kernel 4, stride 2, padding 1) sends depth taps 0 and 3 nowhere, half of
    its GEMM. Along each axis the taps that reach the output lie between the first and the last live one;
    dropping the ``lo`` taps before them moves the padding by ``lo * dilation`` (it may go negative, which the
    kernels' tap arithmetic takes as it is). Taps between two live ones are kept, dead or not.
    """
    bounds = []
    for a in range(3):
        i_lo, i_hi = _tap_inputs(geom, a)
        live = np.flatnonzero(i_lo < i_hi)
        if live.size == 0:
            return None  # nothing reaches the output: the kernels write the bias alone
        bounds.append((int(live[0]), int(live[-1]) + 1))
    if all(lo == 0 and hi == k for (lo, hi), k in zip(bounds, geom.kernel, strict=True)):
        return None
    cut = (slice(None), slice(None)) + tuple(slice(lo, hi) for lo, hi in bounds)
    live_geom = dataclasses.replace(
        geom, kernel=tuple(hi - lo for lo, hi in bounds),
        padding=tuple(p - lo * d for p, (lo, _), d in zip(geom.padding, bounds, geom.dilation, strict=True)))
    return cut, live_geom


@functools.lru_cache(maxsize=256)
def _forward_plan(geom: Geometry, threads: int) -> tuple[tuple[slice, ...] | None, Geometry, str, int, int]:
    """(weight slices or None, geometry, kind, output channels and samples per item) for forward, cached per
    geometry and thread count (Numba's, per calling thread): a training step asks for the same layer's plan on
    every call. The module's constants (COLUMN_BUDGET, MIN_COLUMNS, ROWS_MAX_COLUMNS, DEPTH_SPLIT_SAVING,
    PHASE_COLUMNS and cpu1d's) are read once per key: whoever changes one must call ``_forward_plan.cache_clear()``
    (and ``cpu1d.phase_plan.cache_clear()`` after changing ``cpu1d.MAX_SHIFTS``, which that cache reads).

    Taps that reach no output are dropped first (_crop_dead_taps). 3-D problems with few depth slices, where a
    tenth or more of the GEMM would land outside the output, get one GEMM per depth tap (``"depth"``,
    _forward_depth_kernel). 1-D problems with short rows and enough channels (the speech decoder's last layer: 32
    frames, many samples) get one GEMM per output phase written straight into the output (``"phases"``,
    ``cpu1d.forward_phases``); other short rows run with each channel's samples side by side (``"rows"``,
    _forward_rows_kernel): a tap's scatter is then one run per block of samples, not one per sample. Everything
    else is ``"taps"`` (_forward_kernel).
    """
    crop = _crop_dead_taps(geom)
    cut, geom = (None, geom) if crop is None else crop
    if _depth_saving(geom) >= DEPTH_SPLIT_SAVING:
        kind = "depth"
    elif cpu1d.phases_apply(geom):
        return cut, geom, "phases", *_phase_blocks(geom.batch, geom.c_out // geom.groups, geom.groups,
                                                   geom.in_size[2], threads)
    else:
        kind = "rows" if _samples_as_rows(geom) else "taps"
    taps_per_gemm = math.prod(geom.kernel[1:] if kind == "depth" else geom.kernel)
    co_block, n_block = _forward_blocks(geom.batch, geom.c_out // geom.groups, geom.groups, taps_per_gemm,
                                        math.prod(geom.in_size), threads)
    return cut, geom, kind, co_block, n_block


@single_threaded  # BLAS runs inside the kernels' parallel loops (kernels._blas)
def forward(x5: np.ndarray, w5: np.ndarray, bias, geom: Geometry) -> np.ndarray:
    """conv_transpose3d of checked, C-contiguous 5-D arrays; returns (N, C_out, D, H, W) (see _forward_plan)."""
    out = np.empty(geom.output_shape5, geom.dtype)
    b = np.zeros(geom.c_out, geom.dtype) if bias is None else np.ascontiguousarray(bias)
    if geom.batch == 0:
        return out
    cut, geom, kind, co_block, n_block = _forward_plan(geom, numba.get_num_threads())
    if cut is not None:
        w5 = np.ascontiguousarray(w5[cut])
    x, w = _flat(x5, 2), _flat(w5, 2)
    if kind == "phases":
        cpu1d.forward_phases(x, w, b, _flat(out, 2), geom, co_block, n_block)
    elif kind == "rows":
        _forward_rows_kernel(x, w, b, out, geom.out_size[2], geom.stride, geom.padding, geom.dilation, geom.groups,
                             co_block, n_block)
    else:
        kernel = _forward_depth_kernel if kind == "depth" else _forward_kernel
        kernel(x, w, b, out, geom.in_size, geom.out_size, geom.kernel, geom.stride, geom.padding, geom.dilation,
               geom.groups, co_block, n_block)
    return out


def _grad_input_blocks(n_batch: int, c_in_g: int, c_out_g: int, groups: int, n_taps: int,
                       size: int) -> tuple[int, int, int]:
    """(input channels, samples, output channels per GEMM) for grad_input's work items."""
    n_block = max(1, min(n_batch, -(-MIN_COLUMNS // size)))
    co_chunk = max(1, min(c_out_g, COLUMN_BUDGET // (n_taps * n_block * size)))
    ci_block = c_in_g
    while groups * -(-c_in_g // ci_block) * -(-n_batch // n_block) < 2 * numba.get_num_threads():
        if n_block > 1:
            n_block = -(-n_block // 2)  # splitting samples duplicates no work
        elif ci_block > 1:
            ci_block = -(-ci_block // 2)  # splitting channels gathers grad_output once more
        else:
            break
    return ci_block, n_block, co_chunk


def _grad_weight_blocks(n_batch: int, c_out_g: int, groups: int, n_taps: int, size: int) -> tuple[int, int, int]:
    """(output channels, taps, samples) for grad_weight's work items."""
    co_block, tap_block = c_out_g, n_taps
    while groups * -(-c_out_g // co_block) * -(-n_taps // tap_block) < 2 * numba.get_num_threads():
        if co_block > 1:
            co_block = -(-co_block // 2)
        elif tap_block > 1:
            tap_block = -(-tap_block // 2)
        else:
            break
    while co_block * tap_block * size > COLUMN_BUDGET and co_block > 1:
        co_block = -(-co_block // 2)
    n_block = max(1, min(n_batch, COLUMN_BUDGET // (co_block * tap_block * size)))
    return co_block, tap_block, n_block


def _grads_blocks(n_batch: int, c_out_g: int, n_taps: int, size: int, parts: int) -> tuple[int, int]:
    """(samples, output channels) per step of _grads_kernel: wide GEMMs, a gathered operand within the
    column budget, and at least one block of samples per part, the blocks evened out so that the parts, which
    take them in turn, get equal shares: 16 samples in blocks of 6 gave one part 10 and the other 6 (the video
    decoder's motion layer 1: 6.75 ms in blocks of 6, 5.51-5.72 ms in blocks of 4 or 8, interleaved)."""
    per_part = -(-n_batch // parts)
    n_block = _even(per_part, max(1, min(per_part, -(-MIN_COLUMNS // size))))
    return n_block, max(1, min(c_out_g, COLUMN_BUDGET // (n_taps * n_block * size)))


@single_threaded
def backward(go5: np.ndarray, x5: np.ndarray, w5: np.ndarray, geom: Geometry, mask):
    """(grad_input, grad_weight, grad_bias) of conv_transpose3d; entries not in mask are None. Taps that reach
    no output get a zero weight gradient without any work (see _crop_dead_taps)."""
    crop = _crop_dead_taps(geom)
    if crop is None:
        return _backward(go5, x5, w5, geom, mask)
    cut, live = crop
    gx, gw_live, gb = _backward(go5, x5, np.ascontiguousarray(w5[cut]), live, mask)
    gw = None
    if gw_live is not None:
        gw = np.zeros(geom.weight_shape5, geom.dtype)
        gw[cut] = gw_live
    return gx, gw, gb


def _backward(go5: np.ndarray, x5: np.ndarray, w5: np.ndarray, geom: Geometry, mask):
    need_input, need_weight, need_bias = mask
    go5 = np.ascontiguousarray(go5)
    gb = np.zeros(geom.c_out, geom.dtype) if need_bias else None
    if geom.batch > 0 and cpu1d.applies(geom) and (need_input or need_weight):  # writes every value itself
        gx, gw = cpu1d.backward(_flat(go5, 2), _flat(x5, 2), _flat(w5, 2), geom, need_input, need_weight)
        gx = None if gx is None else gx.reshape(geom.input_shape5)
        gw = None if gw is None else gw.reshape(geom.weight_shape5)
        need_input = need_weight = False
    else:
        gx = np.zeros(geom.input_shape5, geom.dtype) if need_input else None
        gw = np.zeros(geom.weight_shape5, geom.dtype) if need_weight else None
    if geom.batch == 0:
        return gx, gw, gb
    args = (geom.in_size, geom.out_size, geom.kernel, geom.stride, geom.padding, geom.dilation,
            geom.groups)
    n_taps, size = int(np.prod(geom.kernel)), int(np.prod(geom.in_size))
    c_in_g, c_out_g = geom.c_in // geom.groups, geom.c_out // geom.groups
    parts = numba.get_num_threads()
    if need_input and need_weight and geom.batch >= parts:  # one gather serves both gradients
        planes = _phase_planes(go5, geom.stride)
        gw_parts = np.zeros((parts, geom.c_in, c_out_g * n_taps), geom.dtype)
        _grads_kernel(planes, _flat(x5, 2), _flat(w5, 2), _flat(gx, 2), gw_parts, *args,
                      *_grads_blocks(geom.batch, c_out_g, n_taps, size, parts))
        gw = gw_parts.sum(axis=0).reshape(geom.weight_shape5)  # columns co*T + t: the weight's layout
    elif need_input or need_weight:
        planes = _phase_planes(go5, geom.stride)
        if need_input:
            blocks = _grad_input_blocks(geom.batch, c_in_g, c_out_g, geom.groups, n_taps, size)
            _grad_input_kernel(planes, _flat(w5, 2), _flat(gx, 2), *args, *blocks)
        if need_weight:
            blocks = _grad_weight_blocks(geom.batch, c_out_g, geom.groups, n_taps, size)
            _grad_weight_kernel(planes, _flat(x5, 2), _flat(gw, 2), *args, *blocks)
    if need_bias:
        _bias_grad(go5, gb)
    return gx, gw, gb
