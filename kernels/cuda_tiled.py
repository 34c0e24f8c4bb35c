"""CUDA target, tiled: the three contractions as shared-memory tiled implicit GEMMs.

Each kernel computes a tile of results, ``TILE_ROWS`` channels by ``TILE_COLS`` positions (or
output channels), and walks the reduction in slices of ``TILE_K``: the block stages one slice of
each operand in shared memory, synchronises, and every thread accumulates ``ROWS_PER_THREAD``
results in registers from the staged slices. Global memory is read once per block and slice
instead of once per multiply, which is what the direct kernels (``kernels.cuda``) pay.

- forward, per stride phase ``r`` (``o = q*stride + r``): the taps of that phase are the only
  ones that reach it (the polyphase split of ``kernels.cpu``), so a block of one phase contracts
  ``C_in/g x taps(r)`` with no zero taps:  ``out[co, q] = sum_{ci, k in r} x[ci, q - shift_k] w[ci, co, k]``.
- grad_input: a strided correlation, ``gx[ci, i] = sum_{co, k} go[co, i*s - p + k*d] w[ci, co, k]``.
- grad_weight, per tap: ``gw[ci, co, k] = sum_{n, i} x[n, ci, i] go[n, co, o(i, k)]`` over the
  input positions whose tap lands; long reductions are split over blocks that add their partial
  sums atomically.

A position whose tap falls outside the other array is skipped, not multiplied by a staged zero:
``0 * NaN`` would otherwise put NaN where the definition (and torch's forward) has no term.

Tile sizes are compile-time constants (shared arrays need them). Numba's simulator runs one
Python thread per CUDA thread, so under ``NUMBA_ENABLE_CUDASIM=1`` the tiles shrink to a few
threads: the tests then cross many tile edges on tiny shapes with the same code.
"""

from __future__ import annotations

import math

from numba import config, cuda, float32, float64

from ._args import Geometry

if config.ENABLE_CUDASIM:  # tiny tiles, and grad_weight splits its reduction even on tiny shapes
    TILE_COLS, THREAD_ROWS, ROWS_PER_THREAD, SPLIT_MIN, TARGET_BLOCKS = 4, 2, 2, 4, 64
else:
    TILE_COLS, THREAD_ROWS, ROWS_PER_THREAD = 32, 8, 4
    SPLIT_MIN = 1024  # grad_weight: reduction elements per block before splitting pays
    TARGET_BLOCKS = 512  # grad_weight: enough blocks to fill a large GPU (e.g. 132 SMs x 4)
TILE_K = THREAD_ROWS  # one staged element of the column operand per thread and slice
TILE_ROWS = THREAD_ROWS * ROWS_PER_THREAD
THREADS = TILE_COLS * THREAD_ROWS

_NUMBA_TYPE = {"float32": float32, "float64": float64}
_cache: dict[tuple[str, str], object] = {}


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _make_forward(dtype):
    @cuda.jit
    def kernel(x, w, bias, out, stride, padding, dilation):
        xs = cuda.shared.array((TILE_K, TILE_COLS), dtype)  # input slice: channels x positions
        ws = cuda.shared.array((TILE_K, TILE_ROWS), dtype)  # weight slice: channels x out channels
        acc = cuda.local.array(ROWS_PER_THREAD, dtype)
        tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
        tid = ty * TILE_COLS + tx
        c_in, d_in, h_in, w_in = x.shape[1], x.shape[2], x.shape[3], x.shape[4]
        c_out_g, kd_n, kh_n, kw_n = w.shape[1], w.shape[2], w.shape[3], w.shape[4]
        c_out, d_out, h_out, w_out = out.shape[1], out.shape[2], out.shape[3], out.shape[4]
        groups = c_out // c_out_g
        c_in_g = c_in // groups
        row_tiles = (c_out_g + TILE_ROWS - 1) // TILE_ROWS
        g = cuda.blockIdx.y // row_tiles
        row0 = (cuda.blockIdx.y % row_tiles) * TILE_ROWS
        phases = stride[0] * stride[1] * stride[2]
        n = cuda.blockIdx.z // phases
        ph = cuda.blockIdx.z % phases
        rd, rh, rw = ph // (stride[1] * stride[2]), (ph // stride[2]) % stride[1], ph % stride[2]
        # This phase's plane: outputs o = q*stride + r for q < ceil((out - r) / stride).
        qd_n = (d_out - rd + stride[0] - 1) // stride[0]
        qh_n = (h_out - rh + stride[1] - 1) // stride[1]
        qw_n = (w_out - rw + stride[2] - 1) // stride[2]
        if qd_n <= 0 or qh_n <= 0 or qw_n <= 0:
            return  # the whole block: this phase has no outputs (output shorter than the stride)
        p = cuda.blockIdx.x * TILE_COLS + tx
        valid = p < qd_n * qh_n * qw_n
        qw = p % qw_n
        qh = (p // qw_n) % qh_n
        qd = p // (qw_n * qh_n)
        for j in range(ROWS_PER_THREAD):
            acc[j] = 0
        for kd in range(kd_n):
            off_d = kd * dilation[0] - padding[0]
            if (off_d % stride[0] + stride[0]) % stride[0] != rd:
                continue  # tap of another phase (uniform over the block)
            i_d = qd - (off_d - rd) // stride[0]
            for kh in range(kh_n):
                off_h = kh * dilation[1] - padding[1]
                if (off_h % stride[1] + stride[1]) % stride[1] != rh:
                    continue
                i_h = qh - (off_h - rh) // stride[1]
                for kw in range(kw_n):
                    off_w = kw * dilation[2] - padding[2]
                    if (off_w % stride[2] + stride[2]) % stride[2] != rw:
                        continue
                    i_w = qw - (off_w - rw) // stride[2]
                    inside = (valid and 0 <= i_d < d_in and 0 <= i_h < h_in and 0 <= i_w < w_in)
                    for c0 in range(0, c_in_g, TILE_K):
                        ci = c0 + ty
                        v = dtype(0)
                        if inside and ci < c_in_g:
                            v = x[n, g * c_in_g + ci, i_d, i_h, i_w]
                        xs[ty, tx] = v
                        for e in range(tid, TILE_K * TILE_ROWS, THREADS):
                            kk, r = e // TILE_ROWS, e % TILE_ROWS
                            wv = dtype(0)
                            if c0 + kk < c_in_g and row0 + r < c_out_g:
                                wv = w[g * c_in_g + c0 + kk, row0 + r, kd, kh, kw]
                            ws[kk, r] = wv
                        cuda.syncthreads()  # both slices staged before any thread reads them
                        if inside:
                            for kk in range(TILE_K):
                                xv = xs[kk, tx]
                                for j in range(ROWS_PER_THREAD):
                                    acc[j] += xv * ws[kk, ty + THREAD_ROWS * j]
                        cuda.syncthreads()  # all reads done before the next slice overwrites them
        if valid:
            od, oh, ow = qd * stride[0] + rd, qh * stride[1] + rh, qw * stride[2] + rw
            for j in range(ROWS_PER_THREAD):
                co = row0 + ty + THREAD_ROWS * j
                if co < c_out_g:
                    b = acc[j]
                    if bias.shape[0] > 0:  # empty: no bias (kernels.cuda.forward)
                        b += bias[g * c_out_g + co]
                    out[n, g * c_out_g + co, od, oh, ow] = b

    return kernel


def _make_grad_input(dtype):
    @cuda.jit
    def kernel(go, w, gx, stride, padding, dilation):
        gs = cuda.shared.array((TILE_K, TILE_COLS), dtype)  # grad_output slice: channels x positions
        ws = cuda.shared.array((TILE_K, TILE_ROWS), dtype)  # weight slice: out channels x in channels
        acc = cuda.local.array(ROWS_PER_THREAD, dtype)
        tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
        tid = ty * TILE_COLS + tx
        c_in, d_in, h_in, w_in = gx.shape[1], gx.shape[2], gx.shape[3], gx.shape[4]
        c_out_g, kd_n, kh_n, kw_n = w.shape[1], w.shape[2], w.shape[3], w.shape[4]
        c_out, d_out, h_out, w_out = go.shape[1], go.shape[2], go.shape[3], go.shape[4]
        groups = c_out // c_out_g
        c_in_g = c_in // groups
        row_tiles = (c_in_g + TILE_ROWS - 1) // TILE_ROWS
        g = cuda.blockIdx.y // row_tiles
        row0 = (cuda.blockIdx.y % row_tiles) * TILE_ROWS
        n = cuda.blockIdx.z
        p = cuda.blockIdx.x * TILE_COLS + tx
        valid = p < d_in * h_in * w_in
        iw = p % w_in
        ih = (p // w_in) % h_in
        i_d = p // (w_in * h_in)
        for j in range(ROWS_PER_THREAD):
            acc[j] = 0
        for kd in range(kd_n):
            od = i_d * stride[0] - padding[0] + kd * dilation[0]
            for kh in range(kh_n):
                oh = ih * stride[1] - padding[1] + kh * dilation[1]
                for kw in range(kw_n):
                    ow = iw * stride[2] - padding[2] + kw * dilation[2]
                    inside = valid and 0 <= od < d_out and 0 <= oh < h_out and 0 <= ow < w_out
                    for c0 in range(0, c_out_g, TILE_K):
                        v = dtype(0)
                        if inside and c0 + ty < c_out_g:
                            v = go[n, g * c_out_g + c0 + ty, od, oh, ow]
                        gs[ty, tx] = v
                        for e in range(tid, TILE_K * TILE_ROWS, THREADS):
                            kk, r = e // TILE_ROWS, e % TILE_ROWS
                            wv = dtype(0)
                            if c0 + kk < c_out_g and row0 + r < c_in_g:
                                wv = w[g * c_in_g + row0 + r, c0 + kk, kd, kh, kw]
                            ws[kk, r] = wv
                        cuda.syncthreads()  # both slices staged before any thread reads them
                        if inside:
                            for kk in range(TILE_K):
                                gv = gs[kk, tx]
                                for j in range(ROWS_PER_THREAD):
                                    acc[j] += gv * ws[kk, ty + THREAD_ROWS * j]
                        cuda.syncthreads()  # all reads done before the next slice overwrites them
        if valid:
            for j in range(ROWS_PER_THREAD):
                ci = row0 + ty + THREAD_ROWS * j
                if ci < c_in_g:
                    gx[n, g * c_in_g + ci, i_d, ih, iw] = acc[j]

    return kernel


def _make_grad_weight(dtype):
    @cuda.jit
    def kernel(go, x, gw, stride, padding, dilation, splits):
        xs = cuda.shared.array((TILE_K, TILE_ROWS), dtype)  # input slice: positions x in channels
        gs = cuda.shared.array((TILE_K, TILE_COLS), dtype)  # grad_output slice: positions x out channels
        acc = cuda.local.array(ROWS_PER_THREAD, dtype)
        tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
        tid = ty * TILE_COLS + tx
        n_batch, c_in, d_in, h_in, w_in = x.shape[0], x.shape[1], x.shape[2], x.shape[3], x.shape[4]
        c_out_g, kh_n, kw_n = gw.shape[1], gw.shape[3], gw.shape[4]
        c_out, d_out, h_out, w_out = go.shape[1], go.shape[2], go.shape[3], go.shape[4]
        groups = c_out // c_out_g
        c_in_g = c_in // groups
        row_tiles = (c_in_g + TILE_ROWS - 1) // TILE_ROWS
        g = cuda.blockIdx.y // row_tiles
        row0 = (cuda.blockIdx.y % row_tiles) * TILE_ROWS
        co = cuda.blockIdx.x * TILE_COLS + tx  # this thread's output channel (within the group)
        tap = cuda.blockIdx.z // splits
        split = cuda.blockIdx.z % splits
        kw = tap % kw_n
        kh = (tap // kw_n) % kh_n
        kd = tap // (kw_n * kh_n)
        # Input positions whose tap lands inside the output: [lo, hi) per axis (ceil/floor division).
        sd = padding[0] - kd * dilation[0]
        sh = padding[1] - kh * dilation[1]
        sw = padding[2] - kw * dilation[2]
        d_lo, d_hi = max(0, -((-sd) // stride[0])), min(d_in, (d_out - 1 + sd) // stride[0] + 1)
        h_lo, h_hi = max(0, -((-sh) // stride[1])), min(h_in, (h_out - 1 + sh) // stride[1] + 1)
        w_lo, w_hi = max(0, -((-sw) // stride[2])), min(w_in, (w_out - 1 + sw) // stride[2] + 1)
        ld, lh, lw = max(0, d_hi - d_lo), max(0, h_hi - h_lo), max(0, w_hi - w_lo)
        total = n_batch * ld * lh * lw
        per_split = (total + splits - 1) // splits
        first = split * per_split
        last = min(total, first + per_split)
        for j in range(ROWS_PER_THREAD):
            acc[j] = 0
        for e0 in range(first, last, TILE_K):
            e = e0 + ty  # the reduction element this thread stages into gs
            v = dtype(0)
            if e < last and co < c_out_g:
                i_w = w_lo + e % lw
                i_h = h_lo + (e // lw) % lh
                i_d = d_lo + (e // (lw * lh)) % ld
                nn = e // (lw * lh * ld)
                v = go[nn, g * c_out_g + co, i_d * stride[0] - sd, i_h * stride[1] - sh,
                       i_w * stride[2] - sw]
            gs[ty, tx] = v
            for f in range(tid, TILE_K * TILE_ROWS, THREADS):
                kk, r = f // TILE_ROWS, f % TILE_ROWS
                e = e0 + kk
                xv = dtype(0)
                if e < last and row0 + r < c_in_g:
                    i_w = w_lo + e % lw
                    i_h = h_lo + (e // lw) % lh
                    i_d = d_lo + (e // (lw * lh)) % ld
                    nn = e // (lw * lh * ld)
                    xv = x[nn, g * c_in_g + row0 + r, i_d, i_h, i_w]
                xs[kk, r] = xv
            cuda.syncthreads()  # both slices staged before any thread reads them
            for kk in range(TILE_K):
                gv = gs[kk, tx]
                for j in range(ROWS_PER_THREAD):
                    acc[j] += xs[kk, ty + THREAD_ROWS * j] * gv
            cuda.syncthreads()  # all reads done before the next slice overwrites them
        if co < c_out_g:
            for j in range(ROWS_PER_THREAD):
                ci = row0 + ty + THREAD_ROWS * j
                if ci < c_in_g:
                    if splits == 1:
                        gw[g * c_in_g + ci, co, kd, kh, kw] = acc[j]
                    else:  # partial sums of several blocks meet here
                        cuda.atomic.add(gw, (g * c_in_g + ci, co, kd, kh, kw), acc[j])

    return kernel


@cuda.jit
def _zero(flat):
    i = cuda.grid(1)
    if i < flat.size:  # the last block overhangs the array
        flat[i] = 0


_FACTORIES = {"forward": _make_forward, "grad_input": _make_grad_input, "grad_weight": _make_grad_weight}


def _kernel(name: str, geom: Geometry):
    """The compiled kernel ``name`` for the problem's dtype (built on first use)."""
    key = (name, geom.dtype.name)
    if key not in _cache:
        _cache[key] = _FACTORIES[name](_NUMBA_TYPE[geom.dtype.name])
    return _cache[key]


def _block() -> tuple[int, int]:
    return TILE_COLS, THREAD_ROWS


def forward(x5, w5, bias, out, geom: Geometry) -> None:
    """Write the transposed convolution of 5-D device arrays into ``out`` (``geom.output_shape5``);
    ``bias`` is a ``(C_out,)`` device array, empty for none."""
    s = geom.stride
    plane = math.prod(_ceil_div(o, st) for o, st in zip(geom.out_size, s, strict=True))  # phase 0's, the largest
    grid = (_ceil_div(plane, TILE_COLS), geom.groups * _ceil_div(geom.c_out // geom.groups, TILE_ROWS),
            geom.batch * math.prod(s))
    if geom.batch and plane:
        _kernel("forward", geom)[grid, _block()](x5, w5, bias, out, s, geom.padding, geom.dilation)


def grad_input(go5, w5, gx, geom: Geometry) -> None:
    """Write the input gradient into ``gx`` (``geom.input_shape5``)."""
    positions = math.prod(geom.in_size)
    grid = (_ceil_div(positions, TILE_COLS), geom.groups * _ceil_div(geom.c_in // geom.groups, TILE_ROWS),
            geom.batch)
    if geom.batch:
        _kernel("grad_input", geom)[grid, _block()](go5, w5, gx, geom.stride, geom.padding, geom.dilation)


def grad_weight_splits(geom: Geometry) -> int:
    """Blocks that share each grad_weight tile's reduction: enough blocks for the GPU, each with
    at least SPLIT_MIN reduction elements (a layer with few weights and a long batch needs many)."""
    taps = math.prod(geom.kernel)
    tiles = _ceil_div(geom.c_out // geom.groups, TILE_COLS) * geom.groups * \
        _ceil_div(geom.c_in // geom.groups, TILE_ROWS)
    reduction = geom.batch * math.prod(geom.in_size)  # an upper bound on any tap's landing positions
    return max(1, min(_ceil_div(reduction, SPLIT_MIN), _ceil_div(TARGET_BLOCKS, tiles * taps), 65535 // taps))


def grad_weight(go5, x5, gw, geom: Geometry) -> None:
    """Write the weight gradient into ``gw`` (``geom.weight_shape5``), zeros for an empty batch."""
    taps = math.prod(geom.kernel)
    grid_xy = (_ceil_div(geom.c_out // geom.groups, TILE_COLS),
               geom.groups * _ceil_div(geom.c_in // geom.groups, TILE_ROWS))
    splits = grad_weight_splits(geom)
    if splits > 1:
        _zero[_ceil_div(gw.size, 128), 128](gw.reshape(gw.size))
    _kernel("grad_weight", geom)[(*grid_xy, taps * splits), _block()](
        go5, x5, gw, geom.stride, geom.padding, geom.dilation, splits)
