"""Runs of consecutive elements on flat arrays, for the CPU kernels' copies, scatters and interleaves.

Every index is unsigned: with signed ones Numba checks each for a negative (wrap-around) index, and that
branch keeps LLVM from vectorising the loop (measured 2.4x slower on runs of 200, 3x on runs of 16).

The kernels copy through these runs rather than assigning one array slice to another: each slice assignment
compiles Numba's shape-mismatch error, whose message formatting pulls in its string machinery (about 4 s of a
cold compile, once per process, and more in every function that assigns slices).
"""

from __future__ import annotations

import numpy as np
from numba import njit, uint64


@njit(cache=True)
def add_run(dst, d0, src, s0, n):
    """``dst[d0:d0+n] += src[s0:s0+n]``."""
    if n <= 0:
        return
    d, s = uint64(d0), uint64(s0)
    for j in range(uint64(n)):
        dst[d + j] += src[s + j]


@njit(fastmath={"reassoc"}, cache=True)  # only reassociation: the sum vectorises, NaN and inf still propagate
def sum_run(src, s0, n):
    """``src[s0:s0+n].sum()`` accumulated in float64 (also for float32 data)."""
    total = 0.0
    s = uint64(s0)
    for j in range(uint64(max(n, 0))):
        total += src[s + j]
    return total


@njit(cache=True)
def copy_run(dst, d0, src, s0, n):
    """``dst[d0:d0+n] = src[s0:s0+n]``."""
    if n <= 0:
        return
    d, s = uint64(d0), uint64(s0)
    for j in range(uint64(n)):
        dst[d + j] = src[s + j]


@njit(cache=True)
def copy_runs(dst, d0, d_step, src, s0, s_step, runs, n):
    """``copy_run`` of ``runs`` runs of n elements, the r-th from ``s0 + r*s_step`` to ``d0 + r*d_step``: a
    block of rows from one matrix to another (flat, row-major)."""
    for r in range(runs):
        copy_run(dst, d0 + r * d_step, src, s0 + r * s_step, n)


@njit(cache=True)
def zero_run(dst, d0, n):
    """``dst[d0:d0+n] = 0``."""
    if n <= 0:
        return
    d = uint64(d0)
    for j in range(uint64(n)):
        dst[d + j] = 0


@njit(cache=True)
def keep_columns(keep, w, lo, hi):
    """keep[k] = 1 where column ``k % w`` of a slab of rows ``w`` wide lies in ``[lo, hi)``, else 0."""
    for k in range(keep.shape[0]):
        c = k % w
        keep[k] = 1 if lo <= c < hi else 0


@njit(cache=True)
def add_run_masked(dst, d0, src, s0, keep, k0, n):
    """``dst[d0+j] += src[s0+j]`` where ``keep[k0+j]``, for j < n. A select, not a branch, so the loop
    vectorises: it reads and writes every element of the run, adding 0 where keep is 0 (never a masked
    source value, which may be anything)."""
    if n <= 0:
        return
    d, s, k = uint64(d0), uint64(s0), uint64(k0)
    zero = dst.dtype.type(0)
    for j in range(uint64(n)):
        dst[d + j] = dst[d + j] + (src[s + j] if keep[k + j] != 0 else zero)


@njit(cache=True)
def copy_run_masked(dst, d0, src, s0, keep, k0, n):
    """``dst[d0+j] = src[s0+j]`` where ``keep[k0+j]``, else 0, for j < n (a select, as in add_run_masked)."""
    if n <= 0:
        return
    d, s, k = uint64(d0), uint64(s0), uint64(k0)
    zero = dst.dtype.type(0)
    for j in range(uint64(n)):
        dst[d + j] = src[s + j] if keep[k + j] != 0 else zero


@njit(cache=True)
def to_row(dst, d0, src, s0, plane, n, s_w, b):
    """``dst[d0 + o] = src[s0 + (o % s_w)*plane + o // s_w] + b`` for o < n: one output row from its phase
    planes' rows, ``plane`` apart. Stride 1 and 2 (the common
    cases) get loops that LLVM vectorises; other strides fill the row one phase at a time."""
    d, s, sw_u = uint64(d0), uint64(s0), uint64(s_w)
    if s_w == 1:
        for o in range(uint64(n)):
            dst[d + o] = src[s + o] + b
    elif s_w == 2:
        odd, one = s + uint64(plane), uint64(1)
        for q in range(uint64(n // 2)):
            dst[d + q + q] = src[s + q] + b
            dst[d + q + q + one] = src[odd + q] + b
        if n % 2:
            dst[d + uint64(n - 1)] = src[s + uint64(n // 2)] + b
    else:
        for rw in range(s_w):
            p, r = s + uint64(rw * plane), d + uint64(rw)
            for q in range(uint64((n - rw + s_w - 1) // s_w)):
                dst[r + q * sw_u] = src[p + q] + b


@njit(cache=True)
def from_row(dst, d0, src, s0, plane, n, s_w):
    """The inverse of to_row, without a bias: ``dst[d0 + (o % s_w)*plane + o // s_w] = src[s0 + o]``."""
    d, s, sw_u = uint64(d0), uint64(s0), uint64(s_w)
    if s_w == 1:
        for o in range(uint64(n)):
            dst[d + o] = src[s + o]
    elif s_w == 2:
        odd, one = d + uint64(plane), uint64(1)
        for q in range(uint64(n // 2)):
            dst[d + q] = src[s + q + q]
            dst[odd + q] = src[s + q + q + one]
        if n % 2:
            dst[d + uint64(n // 2)] = src[s + uint64(n - 1)]
    else:
        for rw in range(s_w):
            p, r = d + uint64(rw * plane), s + uint64(rw)
            for q in range(uint64((n - rw + s_w - 1) // s_w)):
                dst[p + q] = src[r + q * sw_u]


# Rows from this long on are copied by to_row / from_row, shorter ones through an offset table (gather_row /
# scatter_row), whose one loop costs less than the per-stride loops on a row of a few values. Stride 2, two
# threads, best of five: gathering rows of 8 / 16 / 32 / 64 / 128 took 0.20 / 0.31 / 0.60 / 1.08 / 1.63x to_row's
# time; scattering rows of 8 / 16 / 32 / 64 / 16,384 took 0.39 / 0.42 / 1.35 / 1.40 / 2.8x from_row's.
# The choice is made at each call site, on a length fixed for the whole loop: made inside to_row / from_row (the
# table passed in), or inside a two-line wrapper calling these functions, the same rows ran 3-5x slower (the
# speech rows kernel's interleave 0.06 -> 0.32 ms, a 4 MB video interleave 0.45 -> 1.6 ms).
MIN_TO_ROW = 64
MIN_FROM_ROW = 32


@njit(cache=True)
def axis_offsets(length, stride, q_step, phase_step):
    """``off[o] = (o % stride) * phase_step + (o // stride) * q_step`` for o < length: where position o along an
    axis lands in phase planes ``phase_step`` apart whose positions are ``q_step`` apart. Offsets of several axes
    add up; along a row (q_step 1, phase_step the planes' distance) it is to_row's and from_row's layout."""
    off = np.empty(length, np.uint64)
    for o in range(length):
        off[o] = (o % stride) * phase_step + (o // stride) * q_step
    return off


@njit(cache=True)
def gather_row(dst, d0, src, s0, off, n, b):
    """``dst[d0 + o] = src[s0 + off[o]] + b`` for o < n: to_row through an axis_offsets table."""
    d, s = uint64(d0), uint64(s0)
    for o in range(uint64(n)):
        dst[d + o] = src[s + off[o]] + b


@njit(cache=True)
def scatter_row(dst, d0, src, s0, off, n):
    """``dst[d0 + off[o]] = src[s0 + o]`` for o < n: from_row through an axis_offsets table."""
    d, s = uint64(d0), uint64(s0)
    for o in range(uint64(n)):
        dst[d + off[o]] = src[s + o]
