"""CPU kernels against the float64 loop reference and torch: outputs and all three gradients."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from kernel_cases import (
    BACKWARD,
    BACKWARD_REFERENCE,
    FORWARD,
    REFERENCE,
    TOL,
    TORCH,
    Case,
    cases,
    phase_cases,
    phases_match_reference,
)

import kernels

SETTINGS = settings(max_examples=60, deadline=None)


@SETTINGS
@given(cases())
def test_forward_matches_reference_and_torch(case):
    ours = FORWARD[case.nd](case.x, case.w, case.b, **case.kwargs)
    ref = REFERENCE[case.nd](case.x, case.w, case.b, **case.kwargs)
    theirs, _ = case.torch_forward_backward(np.zeros(ref.shape, case.dtype))
    assert ours.dtype == case.dtype and ours.shape == theirs.shape == ref.shape
    np.testing.assert_allclose(ours, ref, **TOL[case.dtype])
    np.testing.assert_allclose(ours, theirs, **TOL[case.dtype])


@SETTINGS
@given(cases())
def test_backward_matches_reference_and_torch(case):
    out_shape = REFERENCE[case.nd](case.x, case.w, None, **case.kwargs).shape
    go = np.random.default_rng(1).standard_normal(out_shape).astype(case.dtype)
    ours = BACKWARD[case.nd](go, case.x, case.w, **case.kwargs)
    ref = BACKWARD_REFERENCE[case.nd](go, case.x, case.w, **case.kwargs)
    _, theirs = case.torch_forward_backward(go)
    for name, o, r, t in zip(("input", "weight", "bias"), ours, ref, theirs, strict=True):
        assert o.dtype == case.dtype, name
        np.testing.assert_allclose(o, r, **TOL[case.dtype], err_msg=f"grad_{name} vs reference")
        if t is not None:
            np.testing.assert_allclose(o, t, **TOL[case.dtype], err_msg=f"grad_{name} vs torch")


@settings(max_examples=20, deadline=None)
@given(cases(allow_unbatched=False))
def test_batch_consistency(case):
    """The batched result equals the per-sample results, forward and backward."""
    fwd, bwd = FORWARD[case.nd], BACKWARD[case.nd]
    batched = fwd(case.x, case.w, case.b, **case.kwargs)
    go = np.random.default_rng(2).standard_normal(batched.shape).astype(case.dtype)
    gx, gw, gb = bwd(go, case.x, case.w, **case.kwargs)
    gw_sum = np.zeros_like(gw)
    for n in range(case.x.shape[0]):
        np.testing.assert_allclose(fwd(case.x[n], case.w, case.b, **case.kwargs), batched[n], **TOL[case.dtype])
        gx_n, gw_n, _ = bwd(go[n], case.x[n], case.w, **case.kwargs)
        np.testing.assert_allclose(gx_n, gx[n], **TOL[case.dtype])
        gw_sum += gw_n
    np.testing.assert_allclose(gw_sum, gw, **TOL[case.dtype])
    np.testing.assert_allclose(gb, go.sum(axis=tuple(i for i in range(go.ndim) if i != 1)), **TOL[case.dtype])


# (nd, output channels per group, groups, length): the gather kernels, then cpu1d (16+ output channels per group)
# in its padded layout and sample by sample in place (rows of cpu1d.MIN_ROW_LENGTH frames or more)
@pytest.mark.parametrize("nd, c_out_g, groups, length", [(1, 2, 1, 3), (3, 2, 1, 3), (1, 16, 2, 5), (1, 16, 2, 300)])
def test_output_mask_skips_gradients(nd, c_out_g, groups, length, rng):
    x = rng.standard_normal((2, 4) + (length,) * nd)
    w = rng.standard_normal((4, c_out_g) + (2,) * nd)
    go = rng.standard_normal(FORWARD[nd](x, w, stride=2, groups=groups).shape)
    full = BACKWARD[nd](go, x, w, stride=2, groups=groups)
    for mask in [(True, False, False), (False, True, False), (False, False, True)]:
        got = BACKWARD[nd](go, x, w, stride=2, groups=groups, output_mask=mask)
        for want, g, m in zip(full, got, mask, strict=True):
            assert (g is None) != m
            if m:  # both gradients together share one pass, so summation order may differ
                np.testing.assert_allclose(g, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("nd", [1, 3])
def test_zero_batch(nd, rng):
    x = np.zeros((0, 4) + (3,) * nd, np.float32)
    w = rng.standard_normal((4, 2) + (2,) * nd).astype(np.float32)
    b = np.ones(2, np.float32)
    y = FORWARD[nd](x, w, b, stride=2)
    expected = TORCH[nd](torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b), stride=2)
    assert y.shape == tuple(expected.shape) and y.dtype == np.float32
    gx, gw, gb = BACKWARD[nd](np.zeros(y.shape, np.float32), x, w, stride=2)
    assert gx.shape == x.shape and not gw.any() and not gb.any()


@pytest.mark.parametrize("nd", [1, 3])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_and_inf_propagate_like_torch(nd, bad, rng):
    x = rng.standard_normal((2, 3) + (4,) * nd).astype(np.float32)
    x[(1, 2) + (1,) * nd] = bad
    w = rng.standard_normal((3, 2) + (3,) * nd).astype(np.float32)
    ours = FORWARD[nd](x, w, stride=2, padding=1)
    theirs = TORCH[nd](torch.from_numpy(x), torch.from_numpy(w), stride=2, padding=1).numpy()
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs))
    np.testing.assert_array_equal(np.isposinf(ours), np.isposinf(theirs))
    assert not np.isfinite(ours).all()
    finite = np.isfinite(theirs)
    np.testing.assert_allclose(ours[finite], theirs[finite], **TOL[np.float32])


# Each CPU layout at least once: 1-D samples side by side (masked and not), 3-D slabs masked at the row ends,
# per-row runs (planes wider than the input), a 1-D-looking 3-D problem whose output grows in height, and GEMMs
# per depth tap over its live slices (_forward_depth_kernel; blocks of samples in the test below).
LAYOUTS = [
    (1, (5, 4, 6), 3, (4,), dict(stride=2, padding=1, groups=2)),
    (1, (3, 2, 7), 2, (3,), dict(stride=1, padding=1)),
    (1, (4, 3, 5), 2, (16,), dict(stride=8, padding=4)),
    (1, (3, 2, 5), 2, (5,), dict(stride=2, padding=2, output_padding=1)),
    (3, (3, 4, 2, 3, 5), 2, (4, 4, 4), dict(stride=2, padding=1, groups=2)),
    (3, (2, 3, 2, 2, 3), 2, (3, 3, 3), dict(stride=2)),
    (3, (2, 1, 1, 1, 1), 1, (1, 1, 1), dict(output_padding=(0, 1, 0), dilation=(1, 2, 1))),
    (3, (2, 3, 1, 2, 3), 2, (4, 4, 4), dict(stride=2, padding=1)),  # depth taps 0 and 3 reach no output
    (3, (1, 2, 3, 2, 4), 2, (4, 4, 4), dict(stride=2, padding=1)),  # one GEMM per depth tap, one sample
]


@pytest.mark.parametrize("nd, x_shape, c_out_g, kernel, kwargs", LAYOUTS)
def test_every_layout_matches_torch(nd, x_shape, c_out_g, kernel, kwargs, rng):
    x = rng.standard_normal(x_shape)
    w = rng.standard_normal((x_shape[1], c_out_g) + kernel)
    b = rng.standard_normal(c_out_g * kwargs.get("groups", 1))
    case = Case(nd, np.float64, x, w, b, kwargs)
    out = FORWARD[nd](x, w, b, **kwargs)
    go = rng.standard_normal(out.shape)
    want_out, want_grads = case.torch_forward_backward(go)
    np.testing.assert_allclose(out, want_out, **TOL[np.float64])
    for got, want in zip(BACKWARD[nd](go, x, w, **kwargs), want_grads, strict=True):
        np.testing.assert_allclose(got, want, **TOL[np.float64])


# 1-D problems that cpu1d's backward runs (C_out/groups >= cpu1d.MIN_DEPTH): stride 2 and 8, groups, output
# padding, a dilation whose taps shift by more than the stride.
CPU1D_BACKWARD = [
    ((3, 4, 9), 16, (4,), dict(stride=2, padding=1)),
    ((2, 6, 7), 16, (3,), dict(stride=2, padding=2, output_padding=1, groups=2)),
    ((2, 3, 5), 17, (16,), dict(stride=8, padding=4)),
    ((2, 4, 6), 16, (3,), dict(stride=1, padding=1, dilation=3)),
]


@pytest.mark.parametrize("in_place", [True, False], ids=["sample-by-sample", "samples-side-by-side"])
@pytest.mark.parametrize("x_shape, c_out_g, kernel, kwargs", CPU1D_BACKWARD)
def test_cpu1d_backward_in_both_layouts(in_place, x_shape, c_out_g, kernel, kwargs, rng, monkeypatch):
    """Long rows get their gradients sample by sample, in place; short ones in the padded layout with every
    sample side by side. Both against torch, on short rows by moving the threshold."""
    import kernels.cpu1d as cpu1d

    monkeypatch.setattr(cpu1d, "MIN_ROW_LENGTH", 1 if in_place else 10**9)
    calls = []
    for name in ("_grad_input_rows", "_grad_weight_rows"):
        kernel_fn = getattr(cpu1d, name)
        monkeypatch.setattr(cpu1d, name, lambda *a, _f=kernel_fn, _n=name: calls.append(_n) or _f(*a))
    groups = kwargs.get("groups", 1)
    x = rng.standard_normal(x_shape)
    w = rng.standard_normal((x_shape[1], c_out_g) + kernel)
    case = Case(1, np.float64, x, w, rng.standard_normal(c_out_g * groups), kwargs)
    go = rng.standard_normal(FORWARD[1](x, w, **kwargs).shape)
    _, want_grads = case.torch_forward_backward(go)
    for got, want in zip(BACKWARD[1](go, x, w, **kwargs), want_grads, strict=True):
        np.testing.assert_allclose(got, want, **TOL[np.float64])
    assert calls == (["_grad_input_rows", "_grad_weight_rows"] if in_place else [])


@pytest.mark.parametrize("length", [8, 20, 40])  # output rows of 16, 40 and 80
@pytest.mark.parametrize("nd, c_out_g", [(1, 16), (1, 3), (3, 3)])  # cpu1d's planes; the rows kernel; 3-D
def test_rows_on_each_side_of_the_copy_thresholds(nd, c_out_g, length, rng):
    """Output rows are copied to and from phase planes through offset tables when short and by to_row / from_row
    when long (kernels._runs): rows on each side of both thresholds, forward and backward, against torch."""
    from kernels._runs import MIN_FROM_ROW, MIN_TO_ROW

    assert 16 < MIN_FROM_ROW <= 40 < MIN_TO_ROW <= 80  # so that the lengths straddle them
    x_shape, kernel = ((3, 4, length), (4,)) if nd == 1 else ((2, 4, 2, 3, length), (4, 3, 4))
    x = rng.standard_normal(x_shape)
    w = rng.standard_normal((4, c_out_g) + kernel)
    case = Case(nd, np.float64, x, w, rng.standard_normal(c_out_g), dict(stride=2, padding=1))
    out = FORWARD[nd](x, w, case.b, **case.kwargs)
    go = rng.standard_normal(out.shape)
    want_out, want_grads = case.torch_forward_backward(go)
    np.testing.assert_allclose(out, want_out, **TOL[np.float64])
    for got, want in zip(BACKWARD[nd](go, x, w, **case.kwargs), want_grads, strict=True):
        np.testing.assert_allclose(got, want, **TOL[np.float64])


def test_forward_plans_the_decoders_layers():
    """Which CPU kernel runs each decoder layer (_forward_plan), as measured best: per depth tap where a quarter
    of the GEMM would be thrown away, samples side by side or one GEMM per output phase for the speech decoder's
    short rows."""
    from kernels.cpu import _forward_plan

    def kind(nd, x_shape, c_out, kernel, stride, padding):
        geom = kernels.geometry(nd, x_shape, (x_shape[1], c_out) + (kernel,) * nd, stride, padding)
        return _forward_plan(geom, 2)[2]

    assert kind(3, (16, 128, 2, 8, 8), 64, 4, 2, 1) == "depth"  # spatiotemporal video decoder layer 2
    assert kind(3, (16, 64, 4, 16, 16), 32, 4, 2, 1) == "depth"  # layer 3: an eighth dead
    assert kind(3, (16, 32, 8, 32, 32), 1, 4, 2, 1) == "taps"  # layer 4: a sixteenth
    assert kind(3, (16, 256, 1, 4, 4), 128, 4, 2, 1) == "taps"  # layer 1: dead taps cropped, none left per slice
    assert kind(1, (64, 256, 4), 256, 4, 2, 1) == "rows"  # speech decoder layer 1
    assert kind(1, (64, 256, 8), 192, 4, 2, 1) == "rows"  # layer 2: 512 samples x frames
    assert kind(1, (64, 192, 16), 128, 4, 2, 1) == "phases"  # layer 3: 1024 samples x frames
    assert kind(1, (32, 192, 16), 128, 4, 2, 1) == "rows"  # at batch 32: 512
    assert kind(1, (64, 128, 32), 128, 4, 2, 1) == "phases"  # layer 4: 32 frames, 2048 samples x frames
    assert kind(1, (64, 32, 32), 8, 4, 2, 1) == "taps"  # too few channels for a phase's GEMM
    assert kind(1, (16, 256, 64), 128, 4, 2, 1) == "rows"  # 64 frames, 1024 samples x frames
    assert kind(1, (64, 128, 64), 80, 4, 2, 1) == "taps"


@SETTINGS
@given(phase_cases())
def test_phases_kernel_matches_reference(drawn):
    """cpu1d.forward_phases, called directly: the plan gives it only layers of 16 or more output channels and
    short rows, and picks its blocks from the thread count, so here any channels and blocks run."""
    assume(phases_match_reference(drawn))  # a few dilations give a phase shifts that are not consecutive


@pytest.mark.parametrize("x_shape, kernel, with_bias", [
    ((64, 16, 32), 4, True),  # the speech decoder's last layer, narrower
    ((64, 16, 32), 4, False),
    ((2048, 16, 1), 4, True),  # one frame: taps 0 and 3 reach no output and are cropped first
])
def test_public_call_through_the_phases_kernel(x_shape, kernel, with_bias, rng):
    """The plan's own route to cpu1d.forward_phases (its blocks, the cropped weight, no bias) against torch."""
    from kernels.cpu import _forward_plan

    w = rng.standard_normal((x_shape[1], 16, kernel)).astype(np.float32) * 0.1
    geom = kernels.geometry(1, x_shape, w.shape, 2, 1)
    assert _forward_plan(geom, 2)[2] == "phases"
    x = rng.standard_normal(x_shape).astype(np.float32)
    b = rng.standard_normal(16).astype(np.float32) if with_bias else None
    want = TORCH[1](torch.from_numpy(x), torch.from_numpy(w), None if b is None else torch.from_numpy(b), 2, 1)
    np.testing.assert_allclose(kernels.conv_transpose1d(x, w, b, 2, 1), want.numpy(), **TOL[np.float32])


def test_phase_plan_copies_and_declines():
    """The shifts to copy, and what it declines: planes longer than the input, shifts that skip within a phase,
    and a dilation so large that the input would be copied once per shift thousands of times (every tap misses
    the output there)."""
    from kernels import cpu1d

    def plan(x_shape, k, **kw):
        return cpu1d.phase_plan(kernels.geometry(1, x_shape, (x_shape[1], 16, k), **kw))

    assert plan((2, 4, 8), 4, stride=2, padding=1).n_shifts == 3
    # one tap shifted by -1: the copies still include the unshifted input, which the others are made from
    assert plan((2, 4, 5), 1, stride=3, padding=1, output_padding=2)[4:] == (-1, 2)
    assert plan((2, 4, 8), 4, stride=2, padding=0) is None  # 18 frames: planes of 9
    assert plan((2, 4, 8), 4, stride=3, padding=2, dilation=2) is None  # phase 1's taps shifted by -1 and 1
    assert plan((64, 16, 32), 2, stride=2, padding=100_000, dilation=200_001) is None


@pytest.mark.parametrize("n_block", [1, 2, 3])
def test_depth_kernel_with_blocks_of_samples(n_block, rng):
    """_forward_depth_kernel lays a block of samples out slice-major before its GEMMs (_slice_block); the plan
    picks the block size from the thread count, so the test sets it: 1, 2 and an uneven 3 of 5 samples."""
    from kernels.cpu import _forward_depth_kernel

    geom = kernels.geometry(3, (5, 4, 3, 2, 3), (4, 3, 4, 3, 4), (2, 1, 2), 1, groups=2)
    x, w, b = rng.standard_normal((5, 4, 3, 2, 3)), rng.standard_normal((4, 3, 4, 3, 4)), rng.standard_normal(6)
    out = np.empty(geom.output_shape5)
    _forward_depth_kernel(x.reshape(5, 4, -1), w.reshape(4, 3, -1), b, out, geom.in_size, geom.out_size, geom.kernel,
                          geom.stride, geom.padding, geom.dilation, geom.groups, 2, n_block)
    want = torch.nn.functional.conv_transpose3d(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b),
                                                stride=(2, 1, 2), padding=1, groups=2).numpy()
    np.testing.assert_allclose(out, want, **TOL[np.float64])


def test_taps_that_reach_no_output_are_dropped_and_get_zero_gradient(rng):
    """The spatiotemporal video decoder's first layer (depth 1, kernel 4, stride 2, padding 1): depth taps 0 and 3 land
    outside the output, so the kernels skip them (half the GEMM) and their weight gradient is exactly zero."""
    from kernels.cpu import _crop_dead_taps

    geom = kernels.geometry(3, (2, 4, 1, 4, 4), (4, 3, 4, 4, 4), 2, 1)
    cut, live = _crop_dead_taps(geom)
    assert cut[2] == slice(1, 3) and live.kernel == (2, 4, 4) and live.padding == (0, 1, 1)
    assert _crop_dead_taps(kernels.geometry(3, (2, 4, 2, 4, 4), (4, 3, 4, 4, 4), 2, 1)) is None
    x, w = rng.standard_normal((2, 4, 1, 4, 4)), rng.standard_normal((4, 3, 4, 4, 4))
    go = rng.standard_normal(kernels.conv_transpose3d(x, w, stride=2, padding=1).shape)
    gw = kernels.conv_transpose3d_backward(go, x, w, stride=2, padding=1)[1]
    assert not gw[:, :, [0, 3]].any() and gw[:, :, 1:3].all()


def test_reference_is_the_definition():
    """One input sample through one tap lands where the formula says, scaled by the weight."""
    x = np.zeros((1, 1, 3))
    x[0, 0, 1] = 2.0
    w = np.array([[[1.0, 10.0, 100.0]]])
    # o = i*stride - padding + k*dilation = 1*3 - 1 + k*2 -> 2, 4, 6
    out = kernels.conv_transpose1d_reference(x, w, stride=3, padding=1, dilation=2)
    expected = np.zeros(kernels.output_size(3, 3, 3, 1, 0, 2))
    expected[[2, 4, 6]] = [2.0, 20.0, 200.0]
    np.testing.assert_array_equal(out[0, 0], expected)


def test_float64_stays_float64_and_large_layers_match_torch(rng):
    """A decoder-sized layer (many channels: BLAS path with several row blocks)."""
    x = rng.standard_normal((3, 64, 9)).astype(np.float32)
    w = rng.standard_normal((64, 48, 4)).astype(np.float32) * 0.1
    b = rng.standard_normal(48).astype(np.float32)
    ours = kernels.conv_transpose1d(x, w, b, stride=2, padding=1)
    theirs = TORCH[1](torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b), stride=2, padding=1)
    np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-4, atol=1e-4)
    assert kernels.conv_transpose1d(x.astype(np.float64), w.astype(np.float64), stride=2).dtype == np.float64


def test_benchmark_checks_results_before_timing():
    """The CPU benchmark runs end to end on tiny shapes and refuses to time a wrong result."""
    from gen_media.bench import kernels as bench

    text = bench.main(["--quick", "--repeats", "2"])
    assert text.count("| quick ") == 4 and "geometric-mean ratio" in text
    assert re.search(r"Machine: .+, \d+ cores", text)  # ratios differ between CPUs: the table names its own
    import platform

    if platform.libc_ver()[0] == "glibc":  # the allocator is pinned (mallopt) and the table says so
        assert "glibc told to keep freed memory" in text
    shape = bench.QUICK_SHAPES[0]
    good = np.ones((2, 3), np.float32)
    bench._check_parity(shape, "forward", good, torch.from_numpy(good.copy()))
    with pytest.raises(RuntimeError, match="differs from torch"):
        bench._check_parity(shape, "forward", good + 1, torch.from_numpy(good.copy()))
