"""A second float64 reference: the textbook recipe, "a convolution with a flipped kernel on a zero-stuffed input".

:mod:`kernels.reference` follows the definition as a *scatter*: each input sample ``x[i]`` is
added, through every tap ``k``, to the output position ``o = i*stride - padding + k*dilation``.
This module computes the same thing as a *gather*, the way textbooks (and the "deconvolution"
arithmetic of Dumoulin & Visin, 2016) explain it. In 1-D, for one channel:

1. **Zero-stuff.** Put ``stride - 1`` zeros between neighbouring input samples:
   ``z[i*stride] = x[i]``, every other ``z[j]`` is 0. Length ``(L_in - 1)*stride + 1``.
2. **Pad.** Add ``a = dilation*(K - 1) - padding`` zeros on the left and ``a + output_padding`` on the
   right. When that amount is negative (``padding`` larger than ``dilation*(K - 1)``), crop that many
   samples instead.
3. **Flip and swap.** Reverse the kernel along every spatial axis, and swap its input/output channel
   axes (``(C_in, C_out/g, *k)`` becomes ``(C_out, C_in/g, *k)``, group by group).
4. **Convolve** with stride 1 and the same dilation (a cross-correlation, as deep-learning "convolution"
   means): ``out[o] = sum_k p[o + k*dilation] * w_flipped[k]``. Its length is
   ``len(p) - dilation*(K - 1) = (L_in - 1)*stride - 2*padding + dilation*(K - 1) + output_padding + 1``,
   the transposed convolution's output size.

Why the two agree: substitute ``k' = K - 1 - k`` (the flip) and ``p[j] = z[j - a]`` (the pad):
``out[o] = sum_k' z[o - k'*dilation + padding] * w[k']``; ``z`` is non-zero only at ``i*stride``, so the sum
runs over the pairs with ``i*stride = o - k'*dilation + padding``, i.e. ``o = i*stride - padding + k'*dilation``,
exactly the scatter's pairs. The flip is there because a gather reads the taps in the opposite order from
the one a scatter writes them in; the channel swap because the transposed op maps ``C_in`` to ``C_out``
with the weight laid out for the forward convolution that maps ``C_out`` to ``C_in``.

The recipe is clear and wasteful: most multiply-adds of step 4 read an inserted zero (a share
``1 - 1/prod(stride)`` for large inputs; :func:`zero_fraction` counts them exactly). The polyphase kernels
in :mod:`kernels.cpu` exist to skip them. NumPy only; every result is float64.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from ._args import Geometry, check_conv_transpose

AXES = (2, 3, 4)  # the spatial axes of the 5-D (N, C, D, H, W) form


def zero_stuff(x: np.ndarray, stride: tuple[int, ...]) -> np.ndarray:
    """Step 1: ``(N, C, D, H, W)`` -> ``(N, C, (D-1)*sD + 1, ...)`` with ``stride - 1`` zeros between samples."""
    out_shape = x.shape[:2] + tuple((n - 1) * s + 1 for n, s in zip(x.shape[2:], stride, strict=True))
    z = np.zeros(out_shape, np.float64)
    z[(slice(None), slice(None), *(slice(None, None, s) for s in stride))] = x
    return z


def pad_or_crop(z: np.ndarray, before: tuple[int, ...], after: tuple[int, ...]) -> np.ndarray:
    """Step 2: per spatial axis, add ``before``/``after`` zeros at its ends, or crop where the amount is negative."""
    crop = tuple(slice(max(-b, 0), z.shape[ax] - max(-a, 0)) for ax, b, a in zip(AXES, before, after, strict=True))
    z = z[(slice(None), slice(None), *crop)]
    pads = [(0, 0), (0, 0)] + [(max(b, 0), max(a, 0)) for b, a in zip(before, after, strict=True)]
    return np.pad(z, pads)


def flip_and_swap(w: np.ndarray, groups: int) -> np.ndarray:
    """Step 3: ``(C_in, C_out/g, kD, kH, kW)`` -> ``(C_out, C_in/g, kD, kH, kW)``, reversed along every tap axis."""
    c_in, c_out_g = w.shape[:2]
    w = w.reshape(groups, c_in // groups, c_out_g, *w.shape[2:])  # (g, C_in/g, C_out/g, *k)
    w = w.swapaxes(1, 2)  # (g, C_out/g, C_in/g, *k)
    w = w.reshape(groups * c_out_g, c_in // groups, *w.shape[3:])  # (C_out, C_in/g, *k)
    return np.flip(w, axis=AXES).astype(np.float64)


def conv_stride1(p: np.ndarray, w: np.ndarray, dilation: tuple[int, ...], groups: int) -> np.ndarray:
    """Step 4: plain stride-1 dilated cross-correlation, one shifted view of ``p`` per kernel tap.

    ``p`` is ``(N, C_in, *L)``, ``w`` is ``(C_out, C_in/g, *K)``; the result is ``(N, C_out, *(L - d*(K - 1)))``.
    """
    n, c_in = p.shape[:2]
    c_out, c_in_g, *kernel = w.shape
    c_out_g = c_out // groups
    out_size = tuple(length - d * (k - 1) for length, k, d in zip(p.shape[2:], kernel, dilation, strict=True))
    out = np.zeros((n, c_out, *out_size))
    for g in range(groups):
        pg = p[:, g * c_in_g:(g + 1) * c_in_g]  # (N, C_in/g, *L)
        wg = w[g * c_out_g:(g + 1) * c_out_g]  # (C_out/g, C_in/g, *K)
        for taps in itertools.product(*(range(k) for k in kernel)):
            view = pg[(slice(None), slice(None),
                       *(slice(t * d, t * d + o) for t, d, o in zip(taps, dilation, out_size, strict=True)))]
            out[:, g * c_out_g:(g + 1) * c_out_g] += np.einsum("ncdhw,oc->nodhw", view, wg[(..., *taps)])
    return out


def _pads(geom: Geometry) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Step 2's amounts per axis: ``dilation*(K - 1) - padding`` before, plus ``output_padding`` after."""
    before = tuple(d * (k - 1) - p for k, p, d in zip(geom.kernel, geom.padding, geom.dilation, strict=True))
    after = tuple(b + op for b, op in zip(before, geom.output_padding, strict=True))
    return before, after


def _run(nd, input, weight, bias, stride, padding, output_padding, groups, dilation):
    input, weight, bias, geom = check_conv_transpose(nd, input, weight, bias, stride, padding,
                                                     output_padding, groups, dilation, "cpu")
    x = np.asarray(input, np.float64).reshape(geom.input_shape5)  # (N, C_in, D, H, W)
    w = np.asarray(weight, np.float64).reshape(geom.weight_shape5)  # (C_in, C_out/g, kD, kH, kW)
    z = zero_stuff(x, geom.stride)  # (N, C_in, (D-1)*sD + 1, ...)
    p = pad_or_crop(z, *_pads(geom))  # (N, C_in, D_out + dD*(kD-1), ...)
    out = conv_stride1(p, flip_and_swap(w, geom.groups), geom.dilation, geom.groups)  # (N, C_out, *out_size)
    assert out.shape == geom.output_shape5, (out.shape, geom.output_shape5)
    if bias is not None:
        out += np.asarray(bias, np.float64).reshape(1, -1, 1, 1, 1)
    return out.reshape(geom.output_shape)


def conv_transpose1d_textbook(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                              dilation=1) -> np.ndarray:
    """float64 ``conv_transpose1d`` as a stride-1 convolution of the zero-stuffed, padded input with the
    flipped, channel-swapped kernel. Arguments and checks as :func:`kernels.conv_transpose1d`:
    input ``(N, C_in, L)`` or ``(C_in, L)``, weight ``(C_in, C_out/groups, K)``."""
    return _run(1, input, weight, bias, stride, padding, output_padding, groups, dilation)


def conv_transpose3d_textbook(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                              dilation=1) -> np.ndarray:
    """float64 ``conv_transpose3d`` by the textbook recipe (see :func:`conv_transpose1d_textbook`):
    input ``(N, C_in, D, H, W)`` or ``(C_in, D, H, W)``, weight ``(C_in, C_out/groups, kD, kH, kW)``."""
    return _run(3, input, weight, bias, stride, padding, output_padding, groups, dilation)


@dataclass(frozen=True)
class ZeroCount:
    """Where the multiply-adds of the textbook recipe's stride-1 convolution (step 4) read their input from.

    ``total = real + inserted + padding``. ``real`` are the taps that hit input samples (the only useful
    work: what a polyphase kernel computes, i.e. the scatter's pairs that land inside the output);
    ``inserted`` hit a zero put between samples (step 1); ``padding`` hit a zero added at the ends (step 2).
    """

    total: int
    real: int
    inserted: int
    padding: int

    @property
    def zero_fraction(self) -> float:
        """Share of the multiply-adds that read a zero (inserted or padding)."""
        return 1.0 - self.real / self.total

    @property
    def inserted_fraction(self) -> float:
        """Share of the multiply-adds that read an inserted zero."""
        return self.inserted / self.total


def _axis_counts(n_in: int, kernel: int, stride: int, dilation: int, before: int, out_len: int):
    """(real, in-range, total) tap counts of one axis: pairs (o, k) with o < out_len, k < kernel."""
    stuffed = (n_in - 1) * stride + 1
    j = np.arange(out_len)[:, None] + dilation * np.arange(kernel)[None, :] - before  # index into z, (out, K)
    inside = (j >= 0) & (j < stuffed)
    real = inside & (j % stride == 0)
    return int(real.sum()), int(inside.sum()), out_len * kernel


def zero_fraction(input, weight, stride=1, padding=0, output_padding=0, groups=1, dilation=1,
                  nd: int | None = None) -> tuple[ZeroCount, float]:
    """Count the textbook recipe's wasted work: ``(exact counts for these shapes, asymptotic zero share)``.

    ``input`` and ``weight`` are arrays or shapes (tuples of ints), as for :func:`conv_transpose1d_textbook`
    (``nd`` spatial axes: 1 or 3; taken from the weight's rank when not given). The asymptotic share,
    ``1 - 1/prod(stride)``, is what the exact ``ZeroCount.zero_fraction`` tends to as the input grows: of the
    stuffed input, one sample in ``prod(stride)`` is real and the padding becomes negligible.
    """
    x = np.broadcast_to(np.float64(0), tuple(input)) if _is_shape(input) else input
    w = np.broadcast_to(np.float64(0), tuple(weight)) if _is_shape(weight) else weight
    nd = len(np.shape(w)) - 2 if nd is None else nd
    if nd not in (1, 3):
        raise ValueError(f"nd: expected 1 or 3 spatial axes, got {nd}")
    *_, geom = check_conv_transpose(nd, x, w, None, stride, padding, output_padding, groups, dilation, "cpu")
    before, _ = _pads(geom)
    real = inside = total = geom.batch * geom.c_out * (geom.c_in // geom.groups)
    for axis in zip(geom.in_size, geom.kernel, geom.stride, geom.dilation, before, geom.out_size, strict=True):
        r, i, t = _axis_counts(*axis)
        real, inside, total = real * r, inside * i, total * t
    count = ZeroCount(total=total, real=real, inserted=inside - real, padding=total - inside)
    return count, 1.0 - 1.0 / float(np.prod(geom.stride))


def _is_shape(a) -> bool:
    return isinstance(a, (tuple, list)) and all(isinstance(v, (int, np.integer)) for v in a)


__all__ = [
    "ZeroCount",
    "conv_stride1",
    "conv_transpose1d_textbook",
    "conv_transpose3d_textbook",
    "flip_and_swap",
    "pad_or_crop",
    "zero_fraction",
    "zero_stuff",
]
