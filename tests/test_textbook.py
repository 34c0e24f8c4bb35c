"""The textbook recipe (zero-stuff, pad, flip, stride-1 convolution) against the scatter reference and torch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from kernel_cases import REFERENCE, TORCH, cases

from kernels.textbook import conv_transpose1d_textbook, conv_transpose3d_textbook, zero_fraction

TEXTBOOK = {1: conv_transpose1d_textbook, 3: conv_transpose3d_textbook}
TOL = dict(rtol=1e-10, atol=1e-10)


def _three_ways(nd, x, w, b, **kwargs):
    x, w = np.asarray(x, np.float64), np.asarray(w, np.float64)
    b = None if b is None else np.asarray(b, np.float64)
    ours = TEXTBOOK[nd](x, w, b, **kwargs)
    ref = REFERENCE[nd](x, w, b, **kwargs)
    theirs = TORCH[nd](torch.from_numpy(x), torch.from_numpy(w), None if b is None else torch.from_numpy(b),
                       **kwargs).numpy()
    assert ours.dtype == np.float64 and ours.shape == ref.shape == theirs.shape
    np.testing.assert_allclose(ours, ref, **TOL)
    np.testing.assert_allclose(ours, theirs, **TOL)


@settings(max_examples=40, deadline=None)
@given(cases())
def test_textbook_matches_scatter_reference_and_torch(case):
    """Every argument combination of the shared strategy: strides, paddings, output_padding, dilation, groups,
    batched and unbatched, 1-D and 3-D."""
    _three_ways(case.nd, case.x, case.w, case.b, **case.kwargs)


@pytest.mark.parametrize("nd, x_shape, w_shape, kwargs", [
    # padding larger than dilation*(kernel - 1): step 2 crops instead of padding
    (1, (2, 3, 5), (3, 2, 3), dict(stride=2, padding=3)),
    (1, (3, 4), (3, 1, 2), dict(stride=3, padding=4, output_padding=2, dilation=1)),
    (1, (1, 4, 6), (4, 1, 3), dict(stride=2, padding=5, output_padding=1, dilation=2, groups=2)),
    # padding on one side, cropping on the other (output_padding)
    (1, (1, 1, 4), (1, 1, 2), dict(stride=3, padding=1, output_padding=2)),
    (3, (1, 2, 3, 2, 4), (2, 2, 2, 3, 1), dict(stride=(2, 1, 3), padding=(2, 2, 1), output_padding=(1, 0, 2),
                                                dilation=(1, 2, 1), groups=2)),
    (3, (3, 3, 3, 3), (3, 1, 3, 3, 3), dict(stride=2, padding=3, output_padding=1, groups=3)),
])
def test_textbook_edge_cases(nd, x_shape, w_shape, kwargs):
    rng = np.random.default_rng(1)
    b = rng.standard_normal(w_shape[1] * kwargs.get("groups", 1))
    _three_ways(nd, rng.standard_normal(x_shape), rng.standard_normal(w_shape), b, **kwargs)


def test_textbook_checks_arguments_like_the_kernels():
    with pytest.raises(ValueError, match="output_padding"):
        conv_transpose1d_textbook(np.zeros((1, 2, 3)), np.zeros((2, 1, 3)), stride=2, output_padding=2)
    with pytest.raises(ValueError, match="groups"):
        conv_transpose3d_textbook(np.zeros((3, 2, 2, 2)), np.zeros((3, 1, 1, 1, 1)), groups=2)


def _direct_count_1d(n_in, k, s, p, op, d):
    """Build the stuffed, padded marker sequence (1 real, 2 inserted, 0 padding) and walk the convolution."""
    z = [2] * ((n_in - 1) * s + 1)
    z[::s] = [1] * n_in
    a = d * (k - 1) - p
    padded = [0] * max(a, 0) + z[max(-a, 0):len(z) - max(-(a + op), 0)] + [0] * max(a + op, 0)
    out_len = len(padded) - d * (k - 1)
    hits = [padded[o + t * d] for o in range(out_len) for t in range(k)]
    return hits.count(1), hits.count(2), hits.count(0)


@pytest.mark.parametrize("n_in, k, s, p, op, d", [(5, 4, 2, 1, 0, 1), (4, 3, 3, 4, 2, 1), (6, 3, 2, 0, 1, 2),
                                                  (3, 2, 1, 0, 0, 1)])
def test_zero_fraction_matches_a_direct_count(n_in, k, s, p, op, d):
    count, asymptotic = zero_fraction((2, 3, n_in), (3, 2, k), stride=s, padding=p, output_padding=op, dilation=d,
                                      groups=3)
    real, inserted, padding = _direct_count_1d(n_in, k, s, p, op, d)
    pairs = 2 * 6 * 1  # batch * C_out * C_in/groups: every (n, c_out, c_in) pair walks the same taps
    assert (count.real, count.inserted, count.padding) == (real * pairs, inserted * pairs, padding * pairs)
    assert count.total == count.real + count.inserted + count.padding
    assert asymptotic == pytest.approx(1 - 1 / s)


def test_zero_fraction_3d_real_taps_equal_the_scatter_pairs():
    """Real taps = the scatter's (input, tap) pairs that land in the output: the sum of the reference with all-ones
    input and weight. Large inputs approach the asymptotic share 1 - 1/prod(stride)."""
    kw = dict(stride=(2, 1, 3), padding=(1, 0, 2), output_padding=(1, 0, 0), dilation=(1, 2, 1), groups=2)
    x, w = np.ones((2, 4, 3, 2, 4)), np.ones((4, 3, 2, 2, 3))
    count, asymptotic = zero_fraction(x, w, **kw)
    assert count.real == REFERENCE[3](x, w, **kw).sum()
    assert asymptotic == pytest.approx(1 - 1 / 6)
    big, asymptotic = zero_fraction((1, 1, 64, 64, 64), (1, 1, 4, 4, 4), stride=2, padding=1)
    assert asymptotic == 0.875 and big.zero_fraction == pytest.approx(0.875, abs=0.03)
