"""CUDA target, tiled: the three contractions as register-blocked, shared-memory implicit GEMMs.

Each block computes a ``rows x cols`` tile of results (channels by positions, or input by output
channels; the positions of all samples side by side, so short 1-D planes still fill a tile) with
``threads_y x threads_x`` threads, each holding ``per_y x per_x`` results in registers (:class:`Tiles`).
The reduction is walked in slices of ``tile_k``: the block stages one slice of each operand in shared
memory, synchronises, and every thread multiplies its ``per_y`` row values by its ``per_x`` column
values for every element of the slice (an outer product: each staged value read from shared
memory feeds ``per_x`` or ``per_y`` multiply-adds).

- forward, per stride phase ``r`` (``o = q*stride + r``): the taps of that phase are the only
  ones that reach it (the polyphase split of ``kernels.cpu``), so a block of one phase contracts
  ``C_in/g x taps(r)`` with no zero taps:  ``out[co, q] = sum_{ci, k in r} x[ci, q - shift_k] w[ci, co, k]``.
- grad_input: a strided correlation, ``gx[ci, i] = sum_{co, k} go[co, i*s - p + k*d] w[ci, co, k]``.
- grad_weight, per tap: ``gw[ci, co, k] = sum_{n, i} x[n, ci, i] go[n, co, o(i, k)]`` over the
  input positions whose tap lands; long reductions are split over blocks that add their partial
  sums atomically.

The weight is first copied tap-major (``_tap_major``), so that staging a slice of one tap reads
consecutive addresses; in torch's layout the taps are innermost and a slice would be strided.

A position whose tap falls outside the other array is skipped, not multiplied by a staged zero:
``0 * NaN`` would otherwise put NaN where the definition (and torch's forward) has no term. Each
tap's in/out flags for the block's positions are staged in shared memory with the slice.

Tile sizes are compile-time constants (shared arrays need them), so the kernels are built per tile shape
(``DEFAULT``; the GPU check times ``CANDIDATES`` against it).
"""

from __future__ import annotations

import functools
import math
import types
from dataclasses import dataclass

from numba import config, cuda, float32, float64, int32

from ._args import Geometry
from ._device import empty


@dataclass(frozen=True)
class Tiles:
    """A thread block's shape: ``threads_y x threads_x`` threads, each holding ``per_y x per_x`` results, so a
    block computes a ``rows x cols`` tile; the reduction is staged ``tile_k`` elements at a time. The kernels are
    compiled once per dtype and tile shape (shared and local arrays need compile-time sizes)."""

    threads_x: int
    threads_y: int
    per_x: int
    per_y: int
    tile_k: int

    @property
    def cols(self) -> int:
        return self.threads_x * self.per_x

    @property
    def rows(self) -> int:
        return self.threads_y * self.per_y

    @property
    def threads(self) -> int:
        return self.threads_x * self.threads_y

    def __post_init__(self):
        t = self.threads
        # Staging gives each thread the same column (or reduction element) for every value it stages; a column
        # mask holds per_x bits; CUDA allows 1024 threads per block.
        if (min(self.threads_x, self.threads_y, self.per_x, self.per_y, self.tile_k) < 1 or t > 1024
                or self.per_x > 16 or t % self.cols or t % self.rows or t % self.tile_k
                or (self.tile_k * self.cols) % t or (self.tile_k * self.rows) % t):
            raise ValueError(f"tiles: {self} cannot run: it needs 1-1024 threads and per_x <= 16; the tile's "
                             f"columns, rows and tile_k must each divide its {t} threads, and the threads must "
                             "divide tile_k x columns and tile_k x rows (every thread stages as many values)")

    def sizes(self) -> tuple[int, ...]:
        """``(threads_x, threads_y, per_x, per_y, tile_k, cols, rows, threads)``: the kernels' compile-time sizes
        (unpacked into locals of the kernel factories: a compiled kernel reads ints from its closure as
        constants, not attributes of an object)."""
        return (self.threads_x, self.threads_y, self.per_x, self.per_y, self.tile_k, self.cols, self.rows,
                self.threads)

    def __str__(self) -> str:
        return (f"{self.rows}x{self.cols} ({self.threads_y}x{self.threads_x} threads of {self.per_y}x{self.per_x}, "
                f"k {self.tile_k})")


# The tiles every call uses, and the others the GPU check times against them (python -m gen_media.bench.gpu
# --tiles): smaller tiles put more blocks on a large GPU's 132 SMs for the small layers, larger ones reuse each
# staged value more. Under the simulator (one Python thread per CUDA thread) the tiles shrink to a few threads,
# so that the tests cross many tile edges on tiny shapes with the same code.
GPU_DEFAULT = Tiles(16, 16, 4, 4, 16)
GPU_CANDIDATES = (GPU_DEFAULT, Tiles(16, 16, 2, 2, 16), Tiles(8, 8, 4, 4, 8), Tiles(16, 8, 4, 4, 16),
                  Tiles(16, 16, 8, 4, 8))
SIM_DEFAULT = Tiles(2, 2, 2, 2, 2)
SIM_CANDIDATES = (SIM_DEFAULT, Tiles(4, 2, 1, 2, 4), Tiles(2, 4, 2, 1, 2))
if config.ENABLE_CUDASIM:  # tiny tiles, and grad_weight splits its reduction even on tiny shapes
    DEFAULT, CANDIDATES, SPLIT_MIN, TARGET_BLOCKS = SIM_DEFAULT, SIM_CANDIDATES, 4, 64
else:
    DEFAULT, CANDIDATES = GPU_DEFAULT, GPU_CANDIDATES
    SPLIT_MIN = 1024  # grad_weight: reduction elements per block before splitting pays
    TARGET_BLOCKS = 512  # grad_weight: enough blocks to fill a large GPU (e.g. 132 SMs x 4)

_NUMBA_TYPE = {"float32": float32, "float64": float64}
_cache: dict[tuple[str, str, Tiles], object] = {}


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


@cuda.jit(device=True, inline="always")
def _unflatten(p, plane, h_n, w_n):
    """Column ``p`` of samples laid side by side, each a ``(d, h_n, w_n)`` plane of ``plane``
    positions, as ``(sample, d, h, w)``."""
    q = p % plane
    return p // plane, q // (w_n * h_n), (q // w_n) % h_n, q % w_n


@functools.cache
def _device_functions(tiles: Tiles) -> types.SimpleNamespace:
    """The device functions for one tile shape (its sizes are compile-time constants in them):
    ``accumulate``, ``clear``, ``column_mask`` and ``contract_tap``."""
    threads_x, threads_y, per_x, per_y, tile_k, tile_cols, tile_rows, threads = tiles.sizes()

    @cuda.jit(device=True, inline="always")
    def accumulate(rows, cols, acc, row_vals, tx, ty, mask):
        """``acc[j, i] += sum_kk rows[kk, ty + threads_y*j] * cols[kk, tx + threads_x*i]`` over the
        staged slice, for the columns ``i`` whose bit is set in ``mask``."""
        for kk in range(tile_k):
            for j in range(per_y):
                row_vals[j] = rows[kk, ty + threads_y * j]
            for i in range(per_x):
                if mask & (1 << i):
                    c = cols[kk, tx + threads_x * i]
                    for j in range(per_y):
                        acc[j, i] += row_vals[j] * c

    @cuda.jit(device=True, inline="always")
    def clear(acc):
        for j in range(per_y):
            for i in range(per_x):
                acc[j, i] = 0

    @cuda.jit(device=True, inline="always")
    def column_mask(flags, tx):
        """Bit ``i`` set where the block's column ``tx + threads_x*i`` has its flag set."""
        mask = 0
        for i in range(per_x):
            if flags[tx + threads_x * i]:
                mask |= 1 << i
        return mask

    @cuda.jit(device=True, inline="always")
    def contract_tap(src, n, d, h, w, ok, wt, tap, g, k_g, m_g, row0, cols, rows, inside, acc, row_vals, tid):
        """Add one tap's products: ``acc[m, col] += sum_k wt[tap, g*k_g + k, row0 + m] src[n, g*k_g + k, d, h, w]``
        over the group's ``k_g`` channels, in slices; ``(n, d, h, w)`` is the source position of the
        column this thread stages, ``ok`` whether it is inside ``src`` (the block's flags say it for
        every column, so that outside ones are skipped rather than multiplied by zero)."""
        s_col, s_k = tid % tile_cols, tid // tile_cols  # this thread's staged column, first channel
        w_col, w_k = tid % tile_rows, tid // tile_rows  # and its staged weight column, first channel
        if s_k == 0:
            inside[s_col] = 1 if ok else 0
        for c0 in range(0, k_g, tile_k):
            for kk in range(s_k, tile_k, threads // tile_cols):
                if ok and c0 + kk < k_g:
                    cols[kk, s_col] = src[n, g * k_g + c0 + kk, d, h, w]
                else:
                    cols[kk, s_col] = 0
            for kk in range(w_k, tile_k, threads // tile_rows):
                if c0 + kk < k_g and row0 + w_col < m_g:
                    rows[kk, w_col] = wt[tap, g * k_g + c0 + kk, row0 + w_col]
                else:
                    rows[kk, w_col] = 0
            cuda.syncthreads()  # the slices and flags staged before any thread reads them
            tx, ty = tid % threads_x, tid // threads_x
            accumulate(rows, cols, acc, row_vals, tx, ty, column_mask(inside, tx))
            cuda.syncthreads()  # all reads done before the next slice overwrites them

    return types.SimpleNamespace(accumulate=accumulate, clear=clear, column_mask=column_mask,
                                 contract_tap=contract_tap)


@cuda.jit
def _tap_major(w, wt, for_forward):
    """The weight ``w`` (``(C_in, C_out/g, taps)``) tap-major, as ``contract_tap`` reads it:
    ``wt[k, ci, co] = w[ci, co, k]`` for the forward, ``wt[k, g*C_out/g + co, ci] = w[g*C_in/g + ci, co, k]``
    for grad_input. One thread per element of ``wt``, written in order."""
    t = cuda.grid(1)
    if t >= wt.size:
        return
    a_n, b_n = wt.shape[1], wt.shape[2]
    b = t % b_n
    a = (t // b_n) % a_n
    k = t // (b_n * a_n)
    if for_forward:
        wt[k, a, b] = w[a, b, k]
    else:
        c_out_g = w.shape[1]
        wt[k, a, b] = w[(a // c_out_g) * b_n + b, a % c_out_g, k]


def _make_forward(dtype, tiles: Tiles):
    dev = _device_functions(tiles)
    contract_tap, clear = dev.contract_tap, dev.clear
    threads_x, threads_y, per_x, per_y, tile_k, tile_cols, tile_rows, _ = tiles.sizes()

    @cuda.jit
    def kernel(x, wt, bias, out, kernel_size, stride, padding, dilation):
        xs = cuda.shared.array((tile_k, tile_cols), dtype)  # input slice: channels x positions
        ws = cuda.shared.array((tile_k, tile_rows), dtype)  # weight slice: channels x out channels
        inside = cuda.shared.array(tile_cols, int32)  # this tap reaches the block's column
        acc = cuda.local.array((per_y, per_x), dtype)
        row_vals = cuda.local.array(per_y, dtype)
        tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
        tid = ty * threads_x + tx
        c_in, d_in, h_in, w_in = x.shape[1], x.shape[2], x.shape[3], x.shape[4]
        c_out_g = wt.shape[2]
        kd_n, kh_n, kw_n = kernel_size
        c_out, d_out, h_out, w_out = out.shape[1], out.shape[2], out.shape[3], out.shape[4]
        groups = c_out // c_out_g
        c_in_g = c_in // groups
        row_tiles = (c_out_g + tile_rows - 1) // tile_rows
        g = cuda.blockIdx.y // row_tiles
        row0 = (cuda.blockIdx.y % row_tiles) * tile_rows
        ph = cuda.blockIdx.z
        rd, rh, rw = ph // (stride[1] * stride[2]), (ph // stride[2]) % stride[1], ph % stride[2]
        # This phase's plane: outputs o = q*stride + r for q < ceil((out - r) / stride).
        qd_n = (d_out - rd + stride[0] - 1) // stride[0]
        qh_n = (h_out - rh + stride[1] - 1) // stride[1]
        qw_n = (w_out - rw + stride[2] - 1) // stride[2]
        if qd_n <= 0 or qh_n <= 0 or qw_n <= 0:
            return  # the whole block: this phase has no outputs (output shorter than the stride)
        plane = qd_n * qh_n * qw_n
        columns = x.shape[0] * plane  # the samples' planes side by side
        col0 = cuda.blockIdx.x * tile_cols
        if col0 >= columns:
            return  # the grid is sized for phase 0's plane; this phase's is smaller
        s_p = col0 + tid % tile_cols  # the column (sample and position) this thread stages
        s_n, s_qd, s_qh, s_qw = _unflatten(s_p, plane, qh_n, qw_n)
        clear(acc)
        for kd in range(kd_n):
            off_d = kd * dilation[0] - padding[0]
            if (off_d % stride[0] + stride[0]) % stride[0] != rd:
                continue  # tap of another phase (uniform over the block)
            i_d = s_qd - (off_d - rd) // stride[0]
            for kh in range(kh_n):
                off_h = kh * dilation[1] - padding[1]
                if (off_h % stride[1] + stride[1]) % stride[1] != rh:
                    continue
                i_h = s_qh - (off_h - rh) // stride[1]
                for kw in range(kw_n):
                    off_w = kw * dilation[2] - padding[2]
                    if (off_w % stride[2] + stride[2]) % stride[2] != rw:
                        continue
                    i_w = s_qw - (off_w - rw) // stride[2]
                    ok = s_p < columns and 0 <= i_d < d_in and 0 <= i_h < h_in and 0 <= i_w < w_in
                    contract_tap(x, s_n, i_d, i_h, i_w, ok, wt, (kd * kh_n + kh) * kw_n + kw, g, c_in_g,
                                  c_out_g, row0, xs, ws, inside, acc, row_vals, tid)
        for i in range(per_x):
            p = col0 + tx + threads_x * i
            if p < columns:
                n, qd, qh, qw = _unflatten(p, plane, qh_n, qw_n)
                od, oh, ow = qd * stride[0] + rd, qh * stride[1] + rh, qw * stride[2] + rw
                for j in range(per_y):
                    co = row0 + ty + threads_y * j
                    if co < c_out_g:
                        b = acc[j, i]
                        if bias.shape[0] > 0:  # empty: no bias (kernels.cuda.forward)
                            b += bias[g * c_out_g + co]
                        out[n, g * c_out_g + co, od, oh, ow] = b

    return kernel


def _make_grad_input(dtype, tiles: Tiles):
    dev = _device_functions(tiles)
    contract_tap, clear = dev.contract_tap, dev.clear
    threads_x, threads_y, per_x, per_y, tile_k, tile_cols, tile_rows, _ = tiles.sizes()

    @cuda.jit
    def kernel(go, wt, gx, kernel_size, stride, padding, dilation):
        gs = cuda.shared.array((tile_k, tile_cols), dtype)  # grad_output slice: channels x positions
        ws = cuda.shared.array((tile_k, tile_rows), dtype)  # weight slice: out channels x in channels
        inside = cuda.shared.array(tile_cols, int32)  # this tap lands from the block's column
        acc = cuda.local.array((per_y, per_x), dtype)
        row_vals = cuda.local.array(per_y, dtype)
        tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
        tid = ty * threads_x + tx
        c_in, d_in, h_in, w_in = gx.shape[1], gx.shape[2], gx.shape[3], gx.shape[4]
        c_in_g = wt.shape[2]
        kd_n, kh_n, kw_n = kernel_size
        c_out, d_out, h_out, w_out = go.shape[1], go.shape[2], go.shape[3], go.shape[4]
        groups = c_in // c_in_g
        c_out_g = c_out // groups
        row_tiles = (c_in_g + tile_rows - 1) // tile_rows
        g = cuda.blockIdx.y // row_tiles
        row0 = (cuda.blockIdx.y % row_tiles) * tile_rows
        positions = d_in * h_in * w_in
        columns = gx.shape[0] * positions  # the samples side by side
        col0 = cuda.blockIdx.x * tile_cols
        s_p = col0 + tid % tile_cols  # the column (sample and position) this thread stages
        s_n, s_id, s_ih, s_iw = _unflatten(s_p, positions, h_in, w_in)
        clear(acc)
        for kd in range(kd_n):
            od = s_id * stride[0] - padding[0] + kd * dilation[0]
            for kh in range(kh_n):
                oh = s_ih * stride[1] - padding[1] + kh * dilation[1]
                for kw in range(kw_n):
                    ow = s_iw * stride[2] - padding[2] + kw * dilation[2]
                    ok = s_p < columns and 0 <= od < d_out and 0 <= oh < h_out and 0 <= ow < w_out
                    contract_tap(go, s_n, od, oh, ow, ok, wt, (kd * kh_n + kh) * kw_n + kw, g, c_out_g,
                                  c_in_g, row0, gs, ws, inside, acc, row_vals, tid)
        for i in range(per_x):
            p = col0 + tx + threads_x * i
            if p < columns:
                n, i_d, ih, iw = _unflatten(p, positions, h_in, w_in)
                for j in range(per_y):
                    ci = row0 + ty + threads_y * j
                    if ci < c_in_g:
                        gx[n, g * c_in_g + ci, i_d, ih, iw] = acc[j, i]

    return kernel


def _make_grad_weight(dtype, tiles: Tiles):
    dev = _device_functions(tiles)
    accumulate, clear = dev.accumulate, dev.clear
    threads_x, threads_y, per_x, per_y, tile_k, tile_cols, tile_rows, threads = tiles.sizes()
    # The staged rows get two spare columns: with 16 x 16 threads a warp's stores go to (2*element + column)
    # mod 32, where lanes 0-15 and 16-31 stage neighbouring columns, so all 32 land in distinct banks.
    rows_padded, cols_padded = tile_rows + 2, tile_cols + 2

    @cuda.jit
    def kernel(go, x, gw, stride, padding, dilation, splits):
        xs = cuda.shared.array((tile_k, rows_padded), dtype)  # input slice: positions x in channels
        gs = cuda.shared.array((tile_k, cols_padded), dtype)  # grad_output slice: positions x out channels
        acc = cuda.local.array((per_y, per_x), dtype)
        row_vals = cuda.local.array(per_y, dtype)
        tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
        tid = ty * threads_x + tx
        n_batch, c_in, d_in, h_in, w_in = x.shape[0], x.shape[1], x.shape[2], x.shape[3], x.shape[4]
        c_out_g, kh_n, kw_n = gw.shape[1], gw.shape[3], gw.shape[4]
        c_out, d_out, h_out, w_out = go.shape[1], go.shape[2], go.shape[3], go.shape[4]
        groups = c_out // c_out_g
        c_in_g = c_in // groups
        row_tiles = (c_in_g + tile_rows - 1) // tile_rows
        g = cuda.blockIdx.y // row_tiles
        row0 = (cuda.blockIdx.y % row_tiles) * tile_rows
        col0 = cuda.blockIdx.x * tile_cols
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
        # The reduction element this thread stages (advanced by tile_k per slice, with carries),
        # and the first of the channels it stages it for.
        s_k = tid % tile_k
        s_c = tid // tile_k
        e = first + s_k
        e_w, e_h, e_d, e_n = 0, 0, 0, 0
        if lw > 0 and lh > 0 and ld > 0:
            e_w = e % lw
            e_h = (e // lw) % lh
            e_d = (e // (lw * lh)) % ld
            e_n = e // (lw * lh * ld)
        clear(acc)
        for _ in range(first, last, tile_k):  # e (below) walks the slices
            live = e < last
            i_d, i_h, i_w = d_lo + e_d, h_lo + e_h, w_lo + e_w
            for c in range(s_c, tile_rows, threads // tile_k):
                xv = dtype(0)
                if live and row0 + c < c_in_g:
                    xv = x[e_n, g * c_in_g + row0 + c, i_d, i_h, i_w]
                xs[s_k, c] = xv
            for c in range(s_c, tile_cols, threads // tile_k):
                v = dtype(0)
                if live and col0 + c < c_out_g:
                    v = go[e_n, g * c_out_g + col0 + c, i_d * stride[0] - sd, i_h * stride[1] - sh,
                           i_w * stride[2] - sw]
                gs[s_k, c] = v
            cuda.syncthreads()  # both slices staged before any thread reads them
            accumulate(xs, gs, acc, row_vals, tx, ty, (1 << per_x) - 1)
            cuda.syncthreads()  # all reads done before the next slice overwrites them
            # Next slice: e += tile_k, carried through (w, h, d, n); a carry loop beats a division.
            e += tile_k
            e_w += tile_k
            while e_w >= lw:
                e_w -= lw
                e_h += 1
                if e_h == lh:
                    e_h = 0
                    e_d += 1
                    if e_d == ld:
                        e_d = 0
                        e_n += 1
        for i in range(per_x):
            co = col0 + tx + threads_x * i
            if co < c_out_g:
                for j in range(per_y):
                    ci = row0 + ty + threads_y * j
                    if ci < c_in_g:
                        if splits == 1:
                            gw[g * c_in_g + ci, co, kd, kh, kw] = acc[j, i]
                        else:  # partial sums of several blocks meet here
                            cuda.atomic.add(gw, (g * c_in_g + ci, co, kd, kh, kw), acc[j, i])

    return kernel


@cuda.jit
def _zero(flat):
    i = cuda.grid(1)
    if i < flat.size:  # the last block overhangs the array
        flat[i] = 0


_FACTORIES = {"forward": _make_forward, "grad_input": _make_grad_input, "grad_weight": _make_grad_weight}


def _kernel(name: str, geom: Geometry, tiles: Tiles):
    """The compiled kernel ``name`` for the problem's dtype and the tile shape (built on first use)."""
    key = (name, geom.dtype.name, tiles)
    if key not in _cache:
        _cache[key] = _FACTORIES[name](_NUMBA_TYPE[geom.dtype.name], tiles)
    return _cache[key]


def _weight_tap_major(w5, geom: Geometry, for_forward: bool):
    """``w5`` as ``(taps, C_in, C_out/g)`` for the forward, ``(taps, C_out, C_in/g)`` for grad_input."""
    taps = math.prod(geom.kernel)
    c_out_g = geom.c_out // geom.groups
    shape = (taps, geom.c_in, c_out_g) if for_forward else (taps, geom.c_out, geom.c_in // geom.groups)
    wt = empty(shape, geom.dtype)  # scratch, from the caller's allocator too (kernels._device)
    if wt.size:
        _tap_major[_ceil_div(wt.size, 128), 128](w5.reshape(geom.c_in, c_out_g, taps), wt, for_forward)
    return wt


MAX_GRID_YZ = 65535  # CUDA's limit on a grid's y and z (x may reach 2**31 - 1)


def _forward_grid(geom: Geometry, tiles: Tiles) -> tuple[int, int, int]:
    """Column tiles (samples x phase 0's plane, the largest), group x row tiles, stride phases."""
    plane = math.prod(_ceil_div(o, st) for o, st in zip(geom.out_size, geom.stride, strict=True))
    return (_ceil_div(geom.batch * plane, tiles.cols),
            geom.groups * _ceil_div(geom.c_out // geom.groups, tiles.rows), math.prod(geom.stride))


def _grad_input_grid(geom: Geometry, tiles: Tiles) -> tuple[int, int, int]:
    return (_ceil_div(geom.batch * math.prod(geom.in_size), tiles.cols),
            geom.groups * _ceil_div(geom.c_in // geom.groups, tiles.rows), 1)


def _grad_weight_grid(geom: Geometry, splits: int, tiles: Tiles) -> tuple[int, int, int]:
    return (_ceil_div(geom.c_out // geom.groups, tiles.cols),
            geom.groups * _ceil_div(geom.c_in // geom.groups, tiles.rows), math.prod(geom.kernel) * splits)


def supports(geom: Geometry, tiles: Tiles | None = None) -> bool:
    """Whether every tiled launch of the problem fits CUDA's grid limits. Only extreme problems do not
    (over 65535 stride phases, taps, or groups x channel tiles); ``kernels.cuda`` runs those direct."""
    tiles = tiles or DEFAULT
    grids = (_forward_grid(geom, tiles), _grad_input_grid(geom, tiles),
             _grad_weight_grid(geom, grad_weight_splits(geom, tiles), tiles))
    return all(y <= MAX_GRID_YZ and z <= MAX_GRID_YZ for _, y, z in grids)


def forward(x5, w5, bias, out, geom: Geometry, tiles: Tiles | None = None) -> None:
    """Write the transposed convolution of 5-D device arrays into ``out`` (``geom.output_shape5``);
    ``bias`` is a ``(C_out,)`` device array, empty for none. ``tiles``: the block shape (``DEFAULT``
    unless given; the GPU check times ``CANDIDATES``)."""
    tiles = tiles or DEFAULT
    grid = _forward_grid(geom, tiles)
    if grid[0] and out.size:
        wt = _weight_tap_major(w5, geom, for_forward=True)
        _kernel("forward", geom, tiles)[grid, (tiles.threads_x, tiles.threads_y)](
            x5, wt, bias, out, geom.kernel, geom.stride, geom.padding, geom.dilation)


def grad_input(go5, w5, gx, geom: Geometry, tiles: Tiles | None = None) -> None:
    """Write the input gradient into ``gx`` (``geom.input_shape5``)."""
    tiles = tiles or DEFAULT
    grid = _grad_input_grid(geom, tiles)
    if grid[0] and gx.size:
        wt = _weight_tap_major(w5, geom, for_forward=False)
        _kernel("grad_input", geom, tiles)[grid, (tiles.threads_x, tiles.threads_y)](
            go5, wt, gx, geom.kernel, geom.stride, geom.padding, geom.dilation)


def grad_weight_splits(geom: Geometry, tiles: Tiles | None = None) -> int:
    """Blocks that share each grad_weight tile's reduction: enough blocks for the GPU, each with
    at least SPLIT_MIN reduction elements (a layer with few weights and a long batch needs many)."""
    tiles = tiles or DEFAULT
    taps = math.prod(geom.kernel)
    n_tiles = _ceil_div(geom.c_out // geom.groups, tiles.cols) * geom.groups * \
        _ceil_div(geom.c_in // geom.groups, tiles.rows)
    reduction = geom.batch * math.prod(geom.in_size)  # an upper bound on any tap's landing positions
    return max(1, min(_ceil_div(reduction, SPLIT_MIN), _ceil_div(TARGET_BLOCKS, n_tiles * taps),
                      MAX_GRID_YZ // taps))


def grad_weight(go5, x5, gw, geom: Geometry, tiles: Tiles | None = None) -> None:
    """Write the weight gradient into ``gw`` (``geom.weight_shape5``), zeros for an empty batch."""
    tiles = tiles or DEFAULT
    splits = grad_weight_splits(geom, tiles)
    if splits > 1:
        _zero[_ceil_div(gw.size, 128), 128](gw.reshape(gw.size))
    _kernel("grad_weight", geom, tiles)[_grad_weight_grid(geom, splits, tiles), (tiles.threads_x, tiles.threads_y)](
        go5, x5, gw, geom.stride, geom.padding, geom.dilation, splits)
