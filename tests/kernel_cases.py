"""Hypothesis strategies and helpers shared by the kernel tests of every target."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from hypothesis import assume
from hypothesis import strategies as st

import kernels
import kernels.cpu1d

TOL = {np.float32: dict(rtol=2e-4, atol=2e-4), np.float64: dict(rtol=1e-10, atol=1e-10)}
FORWARD = {1: kernels.conv_transpose1d, 3: kernels.conv_transpose3d}
BACKWARD = {1: kernels.conv_transpose1d_backward, 3: kernels.conv_transpose3d_backward}
REFERENCE = {1: kernels.conv_transpose1d_reference, 3: kernels.conv_transpose3d_reference}
BACKWARD_REFERENCE = {1: kernels.conv_transpose1d_backward_reference,
                      3: kernels.conv_transpose3d_backward_reference}
TORCH = {1: torch.nn.functional.conv_transpose1d, 3: torch.nn.functional.conv_transpose3d}


@dataclass
class Case:
    nd: int
    dtype: type
    x: np.ndarray
    w: np.ndarray
    b: np.ndarray | None
    kwargs: dict

    def torch_forward_backward(self, grad_output: np.ndarray):
        """torch's output and (grad_input, grad_weight, grad_bias) for this case."""
        x = torch.tensor(self.x, requires_grad=True)
        w = torch.tensor(self.w, requires_grad=True)
        b = None if self.b is None else torch.tensor(self.b, requires_grad=True)
        y = TORCH[self.nd](x, w, b, **self.kwargs)
        y.backward(torch.tensor(grad_output))
        gb = None if b is None else b.grad.numpy()
        return y.detach().numpy(), (x.grad.numpy(), w.grad.numpy(), gb)


def _axis(draw, max_size):
    k = draw(st.integers(1, 4))
    s = draw(st.integers(1, 3))
    d = draw(st.integers(1, 3))
    p = draw(st.integers(0, 3))
    op = draw(st.integers(0, max(s, d) - 1))
    n = draw(st.integers(1, max_size))
    return n, k, s, p, op, d


@st.composite
def cases(draw, nd=None, max_channels=3, max_size=None, max_batch=3, allow_unbatched=True):
    """Any valid transposed-convolution problem (small enough for the loop reference)."""
    nd = draw(st.sampled_from([1, 3])) if nd is None else nd
    max_size = max_size or (7 if nd == 1 else 3)
    axes = [_axis(draw, max_size) for _ in range(nd)]
    for n, k, s, p, op, d in axes:
        if kernels.output_size(n, k, s, p, op, d) < 1:
            # smallest change that keeps the draw valid: drop the padding
            axes = [(n, k, s, 0, op, d) for n, k, s, p, op, d in axes]
            break
    groups = draw(st.integers(1, 3))
    c_in = groups * draw(st.integers(1, max_channels))
    c_out_g = draw(st.integers(1, max_channels))
    batch = draw(st.sampled_from(([None] if allow_unbatched else []) + list(range(1, max_batch + 1))))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    seed = draw(st.integers(0, 2**31))
    rng = np.random.default_rng(seed)
    spatial = tuple(a[0] for a in axes)
    x_shape = (c_in, *spatial) if batch is None else (batch, c_in, *spatial)
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal((c_in, c_out_g, *(a[1] for a in axes))).astype(dtype)
    b = rng.standard_normal(c_out_g * groups).astype(dtype) if draw(st.booleans()) else None

    def per_axis(i):
        vals = tuple(a[i] for a in axes)
        return vals[0] if nd == 1 and draw(st.booleans()) else vals

    kwargs = dict(stride=per_axis(2), padding=per_axis(3), output_padding=per_axis(4), groups=groups,
                  dilation=per_axis(5))
    return Case(nd, dtype, x, w, b, kwargs)


@st.composite
def phase_cases(draw):
    """1-D problems whose phase planes are as long as the input (what cpu1d.forward_phases needs), any channels,
    groups, dilation, output padding, dtype and bias, with the kernel's blocks of channels and samples."""
    s, d = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    k = draw(st.integers(1, 3 * s))
    op = draw(st.integers(0, max(s, d) - 1))
    # the output has s*L - (s - 1 - e) frames with e = d*(k-1) + op - 2p: planes as long as the input need e in [0, s)
    e_max = d * (k - 1) + op
    p_lo, p_hi = max(0, -(-(e_max - s + 1) // 2)), e_max // 2
    assume(p_lo <= p_hi)  # stride 1 with an odd e_max: no padding fits
    p = draw(st.integers(p_lo, p_hi))
    groups, batch, length = draw(st.integers(1, 2)), draw(st.integers(1, 4)), draw(st.integers(1, 6))
    c_in, c_out_g = groups * draw(st.integers(1, 3)), draw(st.integers(1, 4))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    x = rng.standard_normal((batch, c_in, length)).astype(dtype)
    w = rng.standard_normal((c_in, c_out_g, k)).astype(dtype)
    b = rng.standard_normal(groups * c_out_g).astype(dtype)
    kwargs = dict(stride=s, padding=p, output_padding=op, groups=groups, dilation=d)
    return Case(1, dtype, x, w, b, kwargs), draw(st.integers(1, c_out_g)), draw(st.integers(1, batch))


def phases_match_reference(drawn) -> bool:
    """Run a phase_cases draw through cpu1d.forward_phases into a NaN-filled output and compare it with the loop
    reference; False (nothing run) where phase_plan declines the geometry."""
    case, co_block, n_block = drawn
    geom = kernels.geometry(1, case.x.shape, case.w.shape, **case.kwargs, dtype=case.dtype)
    if kernels.cpu1d.phase_plan(geom) is None:
        return False
    out = np.full(geom.output_shape, np.nan, case.dtype)
    kernels.cpu1d.forward_phases(case.x, case.w, case.b, out, geom, co_block, n_block)
    np.testing.assert_allclose(out, REFERENCE[1](case.x, case.w, case.b, **case.kwargs), **TOL[case.dtype])
    return True
