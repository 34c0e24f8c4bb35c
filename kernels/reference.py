"""Plain-loop float64 references: the definition of a transposed convolution, nothing more.

Each input sample ``x[n, ci, i]`` is scattered through every kernel tap ``k`` to the output
position ``o = i*stride - padding + k*dilation`` (per axis), when that position exists.
The backward pass walks the same loops and reads the same pairs the other way round.
Every fast kernel is tested against these. They are compiled (``njit``) only so that tests
run in seconds; there is nothing clever in them.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._args import check_conv_transpose, check_grad_output


@njit(cache=True)
def _tap_position(i, k, stride, padding, dilation, out_len):
    """Output position reached from input position i through tap k, or -1 if none."""
    o = i * stride - padding + k * dilation
    return o if 0 <= o < out_len else -1


@njit(cache=True)
def _reference_loops(x, w, go, out, gx, gw, gb, stride, padding, dilation, groups):
    """One loop nest for all four results: out (forward) and gx, gw, gb (backward, from go)."""
    n_batch, c_in, d_in, h_in, w_in = x.shape
    c_out_g, kd_n, kh_n, kw_n = w.shape[1], w.shape[2], w.shape[3], w.shape[4]
    c_in_g = c_in // groups
    d_out, h_out, w_out = out.shape[2], out.shape[3], out.shape[4]
    for n in range(n_batch):
        for ci in range(c_in):
            g = ci // c_in_g
            for co_g in range(c_out_g):
                co = g * c_out_g + co_g
                for i_d in range(d_in):
                    for i_h in range(h_in):
                        for i_w in range(w_in):
                            for kd in range(kd_n):
                                od = _tap_position(i_d, kd, stride[0], padding[0], dilation[0], d_out)
                                if od < 0:
                                    continue
                                for kh in range(kh_n):
                                    oh = _tap_position(i_h, kh, stride[1], padding[1], dilation[1], h_out)
                                    if oh < 0:
                                        continue
                                    for kw in range(kw_n):
                                        ow = _tap_position(i_w, kw, stride[2], padding[2], dilation[2], w_out)
                                        if ow < 0:
                                            continue
                                        xv = x[n, ci, i_d, i_h, i_w]
                                        wv = w[ci, co_g, kd, kh, kw]
                                        gv = go[n, co, od, oh, ow]
                                        out[n, co, od, oh, ow] += xv * wv
                                        gx[n, ci, i_d, i_h, i_w] += gv * wv
                                        gw[ci, co_g, kd, kh, kw] += gv * xv
    for n in range(n_batch):
        for co in range(out.shape[1]):
            gb[co] += go[n, co].sum()


def _run(nd, grad_output, input, weight, bias, stride, padding, output_padding, groups, dilation):
    input, weight, bias, geom = check_conv_transpose(nd, input, weight, bias, stride, padding,
                                                     output_padding, groups, dilation, "cpu")
    x = np.asarray(input, np.float64).reshape(geom.input_shape5)
    w = np.asarray(weight, np.float64).reshape(geom.weight_shape5)
    if grad_output is None:
        go = np.zeros(geom.output_shape5)
    else:
        go = np.asarray(check_grad_output(grad_output, geom, "cpu"), np.float64).reshape(geom.output_shape5)
    out, gx, gw = np.zeros(geom.output_shape5), np.zeros_like(x), np.zeros_like(w)
    gb = np.zeros(geom.c_out)
    _reference_loops(x, w, go, out, gx, gw, gb, geom.stride, geom.padding, geom.dilation, geom.groups)
    if bias is not None:
        out += np.asarray(bias, np.float64).reshape(1, -1, 1, 1, 1)
    return (out.reshape(geom.output_shape), gx.reshape(geom.input_shape),
            gw.reshape(geom.weight_shape), gb)


def conv_transpose1d_reference(input, weight, bias=None, stride=1, padding=0, output_padding=0,
                               groups=1, dilation=1):
    """float64 result of ``conv_transpose1d`` by plain loops."""
    return _run(1, None, input, weight, bias, stride, padding, output_padding, groups, dilation)[0]


def conv_transpose3d_reference(input, weight, bias=None, stride=1, padding=0, output_padding=0,
                               groups=1, dilation=1):
    """float64 result of ``conv_transpose3d`` by plain loops."""
    return _run(3, None, input, weight, bias, stride, padding, output_padding, groups, dilation)[0]


def conv_transpose1d_backward_reference(grad_output, input, weight, stride=1, padding=0,
                                        output_padding=0, groups=1, dilation=1):
    """float64 ``(grad_input, grad_weight, grad_bias)`` of ``conv_transpose1d`` by plain loops."""
    return _run(1, grad_output, input, weight, None, stride, padding, output_padding, groups, dilation)[1:]


def conv_transpose3d_backward_reference(grad_output, input, weight, stride=1, padding=0,
                                        output_padding=0, groups=1, dilation=1):
    """float64 ``(grad_input, grad_weight, grad_bias)`` of ``conv_transpose3d`` by plain loops."""
    return _run(3, grad_output, input, weight, None, stride, padding, output_padding, groups, dilation)[1:]
