"""CPU target, 1-D problems: the backward pass as one strided GEMM per tap, and the forward pass of short rows as
one GEMM per output phase.

**Backward.** Tap ``k`` sends input ``i`` to output ``o = (i + shift_k)*stride + r_k`` (see ``kernels.cpu``). Lay
the input out as ``(C_in, N, E)`` and ``grad_output``'s phase planes as ``(C_out, stride, N, E)``: each sample in a
row of ``E`` positions with ``margin`` zeros on both sides (``margin >= |shift_k|`` for every tap). Then tap
``k``'s share of the gradients, for all samples at once, reads a strided, shifted view of the planes::

    grad_input[:, c]  += W_k @ G[:, r_k, c + shift_k]          (BLAS adds into it: beta = 1)
    grad_weight_k      = X @ G[:, r_k, c + shift_k]^T           over the flat columns c = n*E + position

so nothing is gathered: a margin column holds zero and adds nothing, and no valid position reaches another
sample's row. The GEMMs get ``N * E`` columns, wide even for short layers. Work items own disjoint rows
(channels) or samples (grad_input) or taps (grad_weight). The same strided form for the forward pass (each tap
added into the planes by BLAS) measured slower than ``kernels.cpu``'s (geometric mean over the benchmark's 1-D
shapes 1.45x torch against 1.37x), while this backward measured 1.32x against 1.50x.

Rows of ``MIN_ROW_LENGTH`` frames or more are wide GEMMs on their own, so there the same GEMMs run sample by
sample, reading the input and writing grad_input in place (``_grad_input_rows``, ``_grad_weight_rows``): no
padded copy of the input, none of grad_input to zero and unpad. Interleaved with the padded layout in one process:
the vocoder's upsampling layers 3 and 4 (4096 and 8192 frames, 16-32 channels) 1.13 -> 1.03x and 1.31 -> 1.08x
torch's backward time, layer 2 (512 frames) 0.78 -> 0.75x; at 64 and 200 frames it was a wash.

**Forward of short rows of many samples** (``phases_apply``: the speech decoder's last layer, 32 frames). Output
phase ``r`` is the sum over its taps of ``W_k^T`` times the input shifted by ``shift_k``, and a phase's taps have
consecutive shifts (without dilation; ``phase_plan`` declines the dilations that break this). So the input is first
copied once per shift, ``X_s[ci, n*L + p] = x[n, ci, p - s]`` (zero off the sample's row), stacked shift-major; then
each phase is one GEMM whose depth is all its taps' channels, ``Y_r = [W_k ...]^T @ [X_s ...]`` over a block of
consecutive rows of the stack, and its rows go straight into the output, interleaved with the other phases'.
``kernels.cpu``'s forward instead makes one GEMM for all taps and adds each tap's rows into phase planes, then
interleaves; on short rows that data movement costs about as much as the GEMM (the decoder's layer 2 with
``kernels.cpu``'s rows kernel, at one thread: 6.9 ms, its GEMM alone 3.3 ms).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numba
import numpy as np
from numba import njit, prange, uint64

from ._args import Geometry
from ._blas import gemm
from ._items import forward_item, forward_items
from ._runs import (
    MIN_FROM_ROW,
    MIN_TO_ROW,
    axis_offsets,
    copy_run,
    copy_run_masked,
    from_row,
    gather_row,
    scatter_row,
    to_row,
    zero_run,
)

MIN_ROWS = 128  # rows per work item before splitting by samples instead (measured: 32 was slower)
MIN_DEPTH = 16  # output channels per group below which per-tap GEMMs are too shallow (see applies)
# forward_phases for rows of at most MAX_PHASE_FRAMES frames and at least MIN_PHASE_COLUMNS samples x frames.
# Inside the speech decoder at batch 64, interleaved with kernels.cpu's plan and torch, 3-4 runs each: layer 4
# (32 frames, 2048 columns) took 0.94-0.95x the time of kernels.cpu's taps kernel; against its rows kernel,
# layer 3 (16 frames, 1024 columns) 0.92-1.05x and layers 1-2 (4-8 frames) 0.94-1.10x: no clear gain. On its
# own, right after torch's call: 64 frames 1.07-1.17x kernels.cpu's time, and batch 1 or 8 1.3-2.4x, where
# copying the weight for the phases costs as much as the GEMMs. Since the GEMMs run on NumPy's OpenBLAS
# (kernels._blas), layer 3 takes 0.89-0.92x the rows kernel's time (three runs), layer 2 0.98-1.07x.
MAX_PHASE_FRAMES = 32
MIN_PHASE_COLUMNS = 1024
MIN_ROW_LENGTH = 256  # backward sample by sample, in place, from this many input frames on
MAX_SHIFTS = 8  # shifted copies of the input forward_phases makes at most (kernel = 2 x stride makes 3)


def applies(geom: Geometry) -> bool:
    """True for problems that are 1-D in 3-D form (depth = height = 1 everywhere) with at least ``MIN_DEPTH``
    output channels per group. Each tap's GEMM contracts over those channels: with one (a vocoder's inverse
    STFT, 1026 -> 1 channel, 1024 taps) every tap is an outer product, and ``kernels.cpu``'s gather feeding one
    GEMM over all taps measured 4.7x faster (60.9 -> 12.9 ms, 0.95x torch)."""
    return (geom.in_size[:2] == (1, 1) and geom.kernel[:2] == (1, 1) and geom.out_size[:2] == (1, 1)
            and geom.c_out // geom.groups >= MIN_DEPTH)


def _taps(geom: Geometry) -> tuple[np.ndarray, np.ndarray, int, int]:
    """(phase, shift) of every tap, the margin and the padded row length E."""
    k = np.arange(geom.kernel[2])
    offset = k * geom.dilation[2] - geom.padding[2]
    phase = offset % geom.stride[2]
    shift = (offset - phase) // geom.stride[2]
    margin = int(np.abs(shift).max())
    q = -(-geom.out_size[2] // geom.stride[2])
    return phase.astype(np.int64), shift.astype(np.int64), margin, max(geom.in_size[2], q) + 2 * margin


@njit(parallel=True, cache=True)
def _pad_input(x, margin, row):
    """(N, C, L) -> (C, N * row): each sample's row with ``margin`` zeros before it, zeros after."""
    n_batch, c_in, length = x.shape
    xp = np.zeros((c_in, n_batch * row), x.dtype)
    dst, src = xp.reshape(-1), x.reshape(-1)
    for c in prange(c_in):
        for n in range(n_batch):
            copy_run(dst, (c * n_batch + n) * row + margin, src, (n * c_in + c) * length, length)
    return xp


@njit(parallel=True, cache=True)
def _taps_first(w):
    """(C_in, C_out/g, K) -> (K, C_in, C_out/g): each tap's weights as one contiguous matrix."""
    c_in, c_out_g, taps = w.shape
    wt = np.empty((taps, c_in, c_out_g), w.dtype)
    for ci in prange(c_in):
        for t in range(taps):
            for co in range(c_out_g):
                wt[t, ci, co] = w[ci, co, t]
    return wt


@njit(parallel=True, cache=True)
def _phase_planes(go, stride, margin, row):
    """grad_output (N, C, L_out) -> phase planes (C, stride, N * row):
    ``planes[c, r, n*row + margin + q] = go[n, c, q*stride + r]``, zero elsewhere."""
    n_batch, c_out, length = go.shape
    width = n_batch * row
    planes = np.zeros((c_out, stride, width), go.dtype)
    src, dst = go.reshape(-1), planes.reshape(-1)
    off = axis_offsets(length, stride, 1, width)
    for j in prange(n_batch * c_out):
        n, c = j // c_out, j % c_out
        d0 = c * stride * width + n * row + margin
        if length >= MIN_FROM_ROW:
            from_row(dst, d0, src, j * length, width, length, stride)
        else:
            scatter_row(dst, d0, src, j * length, off, length)
    return planes


@njit(parallel=True, cache=True)
def _grad_input_kernel(planes, wt, gxp, phase, shift, groups, row, n_batch, ci_block, n_block):
    """gxp (C_in, N * row) += sum over taps of W_k @ G[:, r_k, c + shift_k]; items (group, rows, samples)."""
    taps, c_in, c_out_g = wt.shape
    c_in_g = c_in // groups
    n_phases = planes.shape[1]
    width = n_batch * row
    gf, wf, xf = planes.reshape(-1), wt.reshape(-1), gxp.reshape(-1)
    ci_blocks = -(-c_in_g // ci_block)
    n_blocks = -(-n_batch // n_block)
    for item in prange(groups * ci_blocks * n_blocks):
        g = item // (ci_blocks * n_blocks)
        c0 = ((item // n_blocks) % ci_blocks) * ci_block
        rows = min(c_in_g, c0 + ci_block) - c0
        n0 = (item % n_blocks) * n_block
        n1 = min(n_batch, n0 + n_block)
        for t in range(taps):
            s = shift[t]
            first = n0 * row + max(0, -s)
            last = n1 * row - max(0, s)
            src = (g * c_out_g * n_phases + phase[t]) * width + first + s
            gemm(wf, (t * c_in + g * c_in_g + c0) * c_out_g, c_out_g, False,
                 gf, src, n_phases * width, False,
                 xf, (g * c_in_g + c0) * width + first, width, rows, last - first, c_out_g, 1.0)


@njit(parallel=True, cache=True)
def _grad_weight_kernel(planes, xp, gwt, phase, shift, groups, n_batch, row):
    """gwt (K, C_in, C_out/g): tap k's X @ G[:, r_k, c + shift_k]^T over all columns; items (group, tap)."""
    taps, c_in, c_out_g = gwt.shape
    c_in_g = c_in // groups
    n_phases = planes.shape[1]
    width = n_batch * row
    gf, xf, wf = planes.reshape(-1), xp.reshape(-1), gwt.reshape(-1)
    for item in prange(groups * taps):
        g, t = item // taps, item % taps
        s = shift[t]
        first = max(0, -s)
        last = width - max(0, s)
        gemm(xf, g * c_in_g * width + first, width, False,
             gf, (g * c_out_g * n_phases + phase[t]) * width + first + s, n_phases * width, True,
             wf, (t * c_in + g * c_in_g) * c_out_g, c_out_g, c_in_g, c_out_g, last - first, 0.0)


@njit(parallel=True, cache=True)
def _grad_input_rows(planes, wt, gx, phase, shift, groups, margin, row, ci_block):
    """gx (N, C_in, L) = sum over taps of W_k @ G[:, r_k, n*row + margin + shift_k + i], written in place sample by
    sample (rows long enough for wide GEMMs on their own): no padded copy to zero and then unpad. The first tap
    overwrites (beta = 0): every tap covers the whole row, off the planes' ends it reads margin zeros.
    Items (sample, group, rows)."""
    taps, c_in, c_out_g = wt.shape
    n_batch, _, length = gx.shape
    c_in_g = c_in // groups
    n_phases = planes.shape[1]
    width = n_batch * row
    gf, wf, xf = planes.reshape(-1), wt.reshape(-1), gx.reshape(-1)
    ci_blocks = -(-c_in_g // ci_block)
    for item in prange(n_batch * groups * ci_blocks):
        n, g = item // (groups * ci_blocks), (item // ci_blocks) % groups
        c0 = (item % ci_blocks) * ci_block
        rows = min(c_in_g, c0 + ci_block) - c0
        for t in range(taps):
            src = (g * c_out_g * n_phases + phase[t]) * width + n * row + margin + shift[t]
            gemm(wf, (t * c_in + g * c_in_g + c0) * c_out_g, c_out_g, False,
                 gf, src, n_phases * width, False,
                 xf, (n * c_in + g * c_in_g + c0) * length, length, rows, length, c_out_g, 1.0 if t > 0 else 0.0)


@njit(parallel=True, cache=True)
def _grad_weight_rows(planes, x, gwt, phase, shift, groups, margin, row):
    """gwt (K, C_in, C_out/g): tap k's sum over samples of X[n] @ G[:, r_k, n*row + margin + shift_k + i]^T, the
    input read in place (no padded copy); items (group, tap), the first sample overwriting."""
    taps, c_in, c_out_g = gwt.shape
    n_batch, _, length = x.shape
    c_in_g = c_in // groups
    n_phases = planes.shape[1]
    width = n_batch * row
    gf, xf, wf = planes.reshape(-1), x.reshape(-1), gwt.reshape(-1)
    for item in prange(groups * taps):
        g, t = item // taps, item % taps
        for n in range(n_batch):
            gemm(xf, (n * c_in + g * c_in_g) * length, length, False,
                 gf, (g * c_out_g * n_phases + phase[t]) * width + n * row + margin + shift[t], n_phases * width, True,
                 wf, (t * c_in + g * c_in_g) * c_out_g, c_out_g, c_in_g, c_out_g, length, 1.0 if n > 0 else 0.0)


@njit(parallel=True, cache=True)
def _unpad(gxp, gx, margin, row):
    """(C, N * row) -> (N, C, L): drop the margins."""
    n_batch, c_in, length = gx.shape
    dst, src = gx.reshape(-1), gxp.reshape(-1)
    for j in prange(n_batch * c_in):
        n, c = j // c_in, j % c_in
        copy_run(dst, j * length, src, (c * n_batch + n) * row + margin, length)


@njit(parallel=True, cache=True)
def _taps_last(gwt, gw):
    """(K, C_in, C_out/g) -> (C_in, C_out/g, K)."""
    taps, c_in, c_out_g = gwt.shape
    for ci in prange(c_in):
        for co in range(c_out_g):
            for t in range(taps):
                gw[ci, co, t] = gwt[t, ci, co]


def _blocks(rows: int, n_batch: int, groups: int) -> tuple[int, int]:
    """(rows, samples) per work item: at least two items per thread, splitting rows while they stay
    BLAS-sized, then samples."""
    want = 2 * numba.get_num_threads()
    row_block, n_block = rows, n_batch
    while groups * -(-rows // row_block) * -(-n_batch // n_block) < want:
        if row_block >= 2 * MIN_ROWS:
            row_block = -(-row_block // 2)
        elif n_block > 1:
            n_block = -(-n_block // 2)
        elif row_block > 1:
            row_block = -(-row_block // 2)
        else:
            break
    return row_block, n_block


def _row_blocks(rows: int, n_batch: int, groups: int) -> int:
    """Rows per item of _grad_input_rows: all of a sample's, halved while threads lack two items each and the
    halves stay BLAS-sized."""
    want, block = 2 * numba.get_num_threads(), rows
    while n_batch * groups * -(-rows // block) < want and block >= 2 * MIN_ROWS:
        block = -(-block // 2)
    return block


def backward(go3: np.ndarray, x3: np.ndarray, w3: np.ndarray, geom: Geometry, need_input: bool,
             need_weight: bool):
    """(grad_input (N, C_in, L) or None, grad_weight (C_in, C_out/g, K) or None) for a 1-D problem. Rows of at
    least ``MIN_ROW_LENGTH`` frames make GEMMs wide enough on their own and are computed sample by sample in
    place; shorter ones in the padded layout, all samples side by side."""
    phase, shift, margin, row = _taps(geom)
    n_batch = geom.batch
    planes = _phase_planes(go3, geom.stride[2], margin, row)
    in_place = geom.in_size[2] >= MIN_ROW_LENGTH
    gx = gw = None
    if need_input:
        wt = _taps_first(w3)  # only grad_input reads the weight
        gx = np.empty((n_batch, geom.c_in, geom.in_size[2]), geom.dtype)
        if in_place:
            _grad_input_rows(planes, wt, gx, phase, shift, geom.groups, margin, row,
                             _row_blocks(geom.c_in // geom.groups, n_batch, geom.groups))
        else:
            gxp = np.zeros((geom.c_in, n_batch * row), geom.dtype)
            _grad_input_kernel(planes, wt, gxp, phase, shift, geom.groups, row, n_batch,
                               *_blocks(geom.c_in // geom.groups, n_batch, geom.groups))
            _unpad(gxp, gx, margin, row)
    if need_weight:
        gwt = np.empty((geom.kernel[2], geom.c_in, geom.c_out // geom.groups), geom.dtype)  # taps first
        if in_place:
            _grad_weight_rows(planes, x3, gwt, phase, shift, geom.groups, margin, row)
        else:
            _grad_weight_kernel(planes, _pad_input(x3, margin, row), gwt, phase, shift, geom.groups, n_batch, row)
        gw = np.empty(w3.shape, geom.dtype)
        _taps_last(gwt, gw)
    return gx, gw


# --- forward of short rows: one GEMM per output phase -----------------------------------------------------------

class PhasePlan(NamedTuple):
    """How forward_phases lays out a problem. The input is copied once per shift ``s_lo .. s_lo + n_shifts - 1``
    (a range that includes 0); phase ``r``'s taps take shifts ``s_lo + first[r]`` on, ``count[r]`` of them; tap
    ``k`` is phase ``phase[k]``'s ``slot[k]``-th."""

    phase: np.ndarray
    slot: np.ndarray
    first: np.ndarray
    count: np.ndarray
    s_lo: int
    n_shifts: int


@functools.lru_cache(maxsize=256)
def phase_plan(geom: Geometry) -> PhasePlan | None:
    """The plan of a 1-D problem, or None where the layout does not fit: phase planes not as long as the input
    (the usual kernel = 2 x stride layer has them equal), a phase whose taps' shifts are not consecutive (some
    dilations), or more than ``MAX_SHIFTS`` shifted copies of the input to make (a large dilation: a copy per
    shift would cost more than the GEMMs, and taps shifted by a whole row or more add nothing)."""
    if not (geom.in_size[:2] == (1, 1) and geom.kernel[:2] == (1, 1) and geom.out_size[:2] == (1, 1)):
        return None
    stride = geom.stride[2]
    if -(-geom.out_size[2] // stride) != geom.in_size[2]:
        return None
    offset = np.arange(geom.kernel[2]) * geom.dilation[2] - geom.padding[2]
    phase = offset % stride
    shift = (offset - phase) // stride
    s_lo = min(int(shift.min()), 0)
    first, count = np.zeros(stride, np.int64), np.zeros(stride, np.int64)
    slot = np.zeros(geom.kernel[2], np.int64)
    for r in range(stride):
        taps = np.flatnonzero(phase == r)
        if taps.size == 0:
            continue
        shifts = shift[taps]  # increasing with the tap: consecutive means steps of 1
        if (np.diff(shifts) != 1).any():
            return None
        first[r], count[r] = shifts[0] - s_lo, taps.size
        slot[taps] = shifts - shifts[0]
    n_shifts = max(int(shift.max()), 0) - s_lo + 1
    if n_shifts > MAX_SHIFTS:
        return None
    return PhasePlan(phase.astype(np.int64), slot, first, count, s_lo, n_shifts)


def phases_apply(geom: Geometry) -> bool:
    """forward_phases runs problems whose plan fits, with at least ``MIN_DEPTH`` output channels per group (a
    phase's GEMM has that many rows), at most ``MAX_PHASE_FRAMES`` frames per sample and at least
    ``MIN_PHASE_COLUMNS`` samples x frames in all (the speech decoder's last layer at batch 64)."""
    return (geom.c_out // geom.groups >= MIN_DEPTH and geom.in_size[2] <= MAX_PHASE_FRAMES
            and geom.batch * geom.in_size[2] >= MIN_PHASE_COLUMNS and phase_plan(geom) is not None)


@njit(parallel=True, cache=True)
def _stack_shifts(x, groups, s_lo, n_shifts):
    """(groups, shifts, C_in/g, N * L): ``[g, j, ci, n*L + p] = x[n, g*C_in/g + ci, p - (s_lo + j)]``, zero off the
    sample's row. Shift 0 is the input with each channel's samples side by side; every other shift is that row
    moved by one masked run (a few frames per sample are too short to copy one at a time)."""
    n_batch, c_in, length = x.shape
    c_in_g = c_in // groups
    width = n_batch * length
    stack = np.empty((groups, n_shifts, c_in_g, width), x.dtype)
    dst, src = stack.reshape(-1), x.reshape(-1)
    keep = np.empty((n_shifts, width), np.int32)  # 1 where column c of shift j's copy has an input
    for j in range(n_shifts):
        for c in range(width):
            keep[j, c] = 1 if 0 <= c % length - (s_lo + j) < length else 0
    keep_flat = keep.reshape(-1)
    j0 = -s_lo
    l_u = uint64(length)
    for ci in prange(c_in):
        g, cl = ci // c_in_g, ci % c_in_g
        unshifted = ((g * n_shifts + j0) * c_in_g + cl) * width
        for n in range(n_batch):  # a loop of its own, not copy_run: 2x faster on rows of 4-16 frames
            d, s = uint64(unshifted + n * length), uint64((n * c_in + ci) * length)
            for p in range(l_u):
                dst[d + p] = src[s + p]
        for j in range(n_shifts):
            s = s_lo + j
            row = ((g * n_shifts + j) * c_in_g + cl) * width
            if s > 0:
                zero_run(dst, row, min(s, width))
                copy_run_masked(dst, row + s, dst, unshifted, keep_flat, j * width + s, width - s)
            elif s < 0:
                copy_run_masked(dst, row, dst, unshifted - s, keep_flat, j * width, width + s)
                zero_run(dst, max(row, row + width + s), min(-s, width))
    return stack


@njit(parallel=True, cache=True)
def _stack_taps(w, phase, slot, groups, stride, depth):
    """(stride, groups, depth, C_in/g, C_out/g): tap k's weights at ``[phase[k], g, slot[k]]``, so that a phase's
    taps are one GEMM operand ``depth * C_in/g`` deep, in the order of the shifted input's stack. Slots past a
    phase's count are left unset: no GEMM reads them."""
    c_in, c_out_g, taps = w.shape
    c_in_g = c_in // groups
    wt = np.empty((stride, groups, depth, c_in_g, c_out_g), w.dtype)
    src, dst = w.reshape(-1), wt.reshape(-1)
    t_u = uint64(taps)
    for ci in prange(c_in):
        g, cl = ci // c_in_g, ci % c_in_g
        for t in range(taps):
            d = uint64((((phase[t] * groups + g) * depth + slot[t]) * c_in_g + cl) * c_out_g)
            s = uint64(ci * c_out_g * taps + t)
            for co in range(uint64(c_out_g)):  # unsigned: vectorised (see kernels._runs), 3x faster here
                dst[d + co] = src[s + co * t_u]
    return wt


@njit(parallel=True, cache=True)
def _phases_kernel(stack, wt, bias, out, first, count, co_block, n_block):
    """out (N, C_out, L_out) = bias + for each phase r, ``Y_r = W_r^T @ X_r`` interleaved. Items as in kernels.cpu's
    forward kernels (kernels._items); each computes its block's rows of every phase (one GEMM each) into a buffer
    and writes them into its own rows of the output, sample by sample."""
    groups, n_shifts, c_in_g, width = stack.shape
    stride, depth, c_out_g = wt.shape[0], wt.shape[2], wt.shape[4]
    n_batch, c_out, l_out = out.shape
    length = width // n_batch
    x_flat, w_flat, o_flat = stack.reshape(-1), wt.reshape(-1), out.reshape(-1)
    for item in prange(forward_items(groups, c_out_g, co_block, n_batch, n_block)):
        g, c0, c1, n0, n1 = forward_item(item, c_out_g, co_block, n_batch, n_block)
        rows, cols = c1 - c0, (n1 - n0) * length
        y = np.empty(stride * rows * cols, stack.dtype)
        for r in range(stride):
            if count[r] == 0:  # no tap lands in this phase: bias alone
                zero_run(y, r * rows * cols, rows * cols)
                continue
            gemm(w_flat, (r * groups + g) * depth * c_in_g * c_out_g + c0, c_out_g, True,
                 x_flat, ((g * n_shifts + first[r]) * c_in_g) * width + n0 * length, width, False,
                 y, r * rows * cols, cols, rows, cols, count[r] * c_in_g, 0.0)
        off = axis_offsets(l_out, stride, 1, rows * cols)
        for n in range(n0, n1):  # sample-major: the item's rows of sample n are one stretch of the output
            for co in range(rows):
                c = g * c_out_g + c0 + co
                o, p = (n * c_out + c) * l_out, co * cols + (n - n0) * length
                if l_out >= MIN_TO_ROW:
                    to_row(o_flat, o, y, p, rows * cols, l_out, stride, bias[c])
                else:
                    gather_row(o_flat, o, y, p, off, l_out, bias[c])


def forward_phases(x3: np.ndarray, w3: np.ndarray, bias: np.ndarray, out3: np.ndarray, geom: Geometry,
                   co_block: int, n_block: int) -> None:
    """Write conv_transpose1d of a problem that ``phases_apply`` to into out3 (N, C_out, L_out).

    The shifted input copies hold zeros past each sample's edges, which every tap multiplies: an inf or NaN
    *weight* then also gives NaN at those edge positions, where torch (and the other layouts) skip the tap and
    give the finite value. Non-finite inputs propagate exactly as in torch. Checking the weight on every call
    would cost ~60 µs (``np.isfinite(w).all()``, speech layer 1's weight) of a 130-190 µs batch-1 call, for a
    model that has already diverged."""
    plan = phase_plan(geom)
    stack = _stack_shifts(x3, geom.groups, plan.s_lo, plan.n_shifts)
    wt = _stack_taps(w3, plan.phase, plan.slot, geom.groups, geom.stride[2], int(plan.count.max()))
    _phases_kernel(stack, wt, bias, out3, plan.first, plan.count, co_block, n_block)
