"""CUDA target of the transposed-convolution kernels, checked against the reference and torch.

Without a GPU these run in Numba's CUDA simulator (about one simulated thread per 0.2-0.4 ms),
so every shape is tiny: at most a couple of hundred result elements per launch.
"""

import math
import os

os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")  # before numba is imported (conftest does too)

import numba  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from numba import cuda  # noqa: E402

import kernels  # noqa: E402
import kernels.cuda  # noqa: E402  (loaded on first use otherwise)

pytestmark = pytest.mark.cuda

TOL = {np.float32: dict(rtol=1e-4, atol=1e-5), np.float64: dict(rtol=1e-10, atol=1e-12)}

OURS = {1: (kernels.conv_transpose1d, kernels.conv_transpose1d_backward),
        3: (kernels.conv_transpose3d, kernels.conv_transpose3d_backward)}
REFERENCE = {1: (kernels.conv_transpose1d_reference, kernels.conv_transpose1d_backward_reference),
             3: (kernels.conv_transpose3d_reference, kernels.conv_transpose3d_backward_reference)}
TORCH = {1: F.conv_transpose1d, 3: F.conv_transpose3d}


def _tup(v, nd):
    return tuple(v) if isinstance(v, (tuple, list)) else (v,) * nd


def make_case(nd, batch, c_in, c_out, groups, size, kernel, bias, dtype, seed=0):
    """Random (input, weight, bias) for one problem; ``batch=None`` makes an unbatched input."""
    rng = np.random.default_rng(seed)
    size, kernel = _tup(size, nd), _tup(kernel, nd)
    x_shape = (c_in, *size) if batch is None else (batch, c_in, *size)
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal((c_in, c_out // groups, *kernel)).astype(dtype)
    b = rng.standard_normal(c_out).astype(dtype) if bias else None
    return x, w, b


def torch_results(nd, x, w, b, go, **kw):
    """torch's output and (grad_input, grad_weight, grad_bias) for grad_output ``go``."""
    xt = torch.tensor(x, requires_grad=True)
    wt = torch.tensor(w, requires_grad=True)
    bt = None if b is None else torch.tensor(b, requires_grad=True)
    out = TORCH[nd](xt, wt, bt, **kw)
    out.backward(torch.tensor(go))
    channel_axis = go.ndim - nd - 1  # no bias to differentiate: its gradient is go summed
    gb = go.sum(axis=tuple(a for a in range(go.ndim) if a != channel_axis)) if bt is None else bt.grad
    return out.detach().numpy(), (xt.grad.numpy(), wt.grad.numpy(), np.asarray(gb))


def check(nd, x, w, b, seed=0, **kw):
    """Our forward and all three gradients against the float64 reference and against torch."""
    forward, backward = OURS[nd]
    ref_forward, ref_backward = REFERENCE[nd]
    tol = TOL[x.dtype.type]

    out = forward(x, w, b, **kw, target="cuda")
    assert isinstance(out, np.ndarray) and out.dtype == x.dtype
    np.testing.assert_allclose(out, ref_forward(x, w, b, **kw), **tol)

    go = np.random.default_rng(seed + 1).standard_normal(out.shape).astype(x.dtype)
    grads = backward(go, x, w, **kw, target="cuda")
    shapes = (x.shape, w.shape, (out.shape[-nd - 1],))
    for ours, ref, shape in zip(grads, ref_backward(go, x, w, **kw), shapes, strict=True):
        assert ours.dtype == x.dtype and ours.shape == shape
        np.testing.assert_allclose(ours, ref, **tol)

    t_out, t_grads = torch_results(nd, x, w, b, go, **kw)
    np.testing.assert_allclose(out, t_out, **tol)
    for ours, theirs in zip(grads, t_grads, strict=True):
        np.testing.assert_allclose(ours, theirs, **tol)


# (nd, batch, c_in, c_out, groups, size, kernel, conv kwargs, bias): each line adds one feature.
CASES = [
    (1, 2, 2, 3, 1, 4, 3, dict(), True),
    (1, 2, 2, 2, 1, 4, 3, dict(stride=2), True),
    (1, 1, 2, 2, 1, 5, 3, dict(stride=2, padding=1, output_padding=1), True),
    (1, 1, 2, 2, 1, 4, 3, dict(stride=3, padding=2, output_padding=2), False),
    (1, 1, 2, 2, 1, 4, 2, dict(dilation=3, output_padding=2), True),  # output_padding < dilation
    (1, 2, 4, 6, 2, 3, 2, dict(stride=2), True),
    (1, 1, 4, 4, 4, 3, 3, dict(stride=2, padding=1), False),  # depthwise
    (1, None, 3, 2, 1, 4, 3, dict(stride=2, padding=1), True),  # unbatched
    (1, 1, 1, 1, 1, 1, 1, dict(), False),  # 1x1
    (1, 1, 2, 2, 1, 3, 4, dict(stride=2, padding=3), True),  # padding eats most of the output
    (3, 1, 2, 2, 1, (1, 2, 2), (1, 2, 2), dict(stride=2), True),
    (3, 1, 2, 2, 2, (2, 2, 1), (2, 1, 2), dict(stride=(1, 2, 2), padding=(0, 1, 0)), False),
    (3, 1, 1, 2, 1, (2, 1, 2), 2, dict(stride=2, padding=1, output_padding=(1, 0, 1),
                                       dilation=(1, 2, 1)), True),
    (3, None, 2, 1, 1, (1, 2, 2), (2, 2, 1), dict(dilation=2, padding=(1, 0, 0)), True),  # unbatched
]


def _case_id(c):
    args = "-".join(f"{k[:3]}{v}" for k, v in c[7].items()).replace(" ", "")
    return f"{c[0]}d-n{c[1]}-g{c[4]}-{args or 'plain'}-{'bias' if c[8] else 'nobias'}"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_matches_reference_and_torch(case, dtype):
    nd, batch, c_in, c_out, groups, size, kernel, kw, bias = case
    x, w, b = make_case(nd, batch, c_in, c_out, groups, size, kernel, bias, dtype)
    check(nd, x, w, b, groups=groups, **kw)


@st.composite
def problems(draw, nd):
    """Tiny random problems: every argument varies, outputs stay under ~150 elements."""
    small = st.integers(1, 3 if nd == 1 else 2)
    groups = draw(st.integers(1, 2))
    c_in, c_out = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    batch = draw(st.sampled_from([None, 1, 2] if nd == 1 else [None, 1]))
    size = tuple(draw(st.integers(1, 5 if nd == 1 else 2)) for _ in range(nd))
    kernel = tuple(draw(small) for _ in range(nd))
    stride = tuple(draw(small) for _ in range(nd))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(nd))
    out_pad = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation, strict=True))
    # padding p leaves an output of span - 2p + 1 >= 1 samples
    span = [kernels.output_size(*a) - 1 for a in zip(size, kernel, stride, (0,) * nd, out_pad, dilation,
                                                     strict=True)]
    padding = tuple(draw(st.integers(0, min(2, s // 2))) for s in span)
    kw = dict(stride=stride, padding=padding, output_padding=out_pad, dilation=dilation, groups=groups)
    return (batch, c_in, c_out, groups, size, kernel, draw(st.booleans()),
            draw(st.sampled_from([np.float32, np.float64])), kw)


@pytest.mark.parametrize("nd", [1, 3])
@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_random_problems(nd, data):
    batch, c_in, c_out, groups, size, kernel, bias, dtype, kw = data.draw(problems(nd))
    x, w, b = make_case(nd, batch, c_in, c_out, groups, size, kernel, bias, dtype)
    check(nd, x, w, b, **kw)


@pytest.mark.parametrize("nd", [1, 3])
def test_zero_batch(nd):
    x, w, b = make_case(nd, 0, 2, 3, 1, 2, 2, True, np.float32)
    forward, backward = OURS[nd]
    out = forward(x, w, b, stride=2, target="cuda")
    expected = TORCH[nd](torch.tensor(x), torch.tensor(w), torch.tensor(b), stride=2)
    assert out.shape == tuple(expected.shape) and out.dtype == np.float32
    gx, gw, gb = backward(np.zeros(out.shape, np.float32), x, w, stride=2, target="cuda")
    assert gx.shape == x.shape
    np.testing.assert_array_equal(gw, np.zeros_like(w))  # written, not left uninitialised
    np.testing.assert_array_equal(gb, np.zeros(3, np.float32))


def test_batched_equals_per_item():
    x, w, b = make_case(1, 3, 2, 2, 1, 4, 3, True, np.float64)
    out = kernels.conv_transpose1d(x, w, b, stride=2, padding=1, target="cuda")
    for n in range(3):
        np.testing.assert_array_equal(
            out[n], kernels.conv_transpose1d(x[n], w, b, stride=2, padding=1, target="cuda"))


def test_output_mask():
    x, w, _ = make_case(1, 1, 2, 2, 1, 3, 2, False, np.float64)
    go = np.ones((1, 2, 6))
    full = kernels.conv_transpose1d_backward(go, x, w, stride=2, target="cuda")
    for mask in [(True, False, False), (False, True, False), (False, False, True)]:
        part = kernels.conv_transpose1d_backward(go, x, w, stride=2, output_mask=mask, target="cuda")
        for want, got, full_grad in zip(mask, part, full, strict=True):
            if want:
                np.testing.assert_array_equal(got, full_grad)
            else:
                assert got is None


@pytest.mark.parametrize("with_bias", [True, False])
def test_device_arrays_in_device_arrays_out(with_bias):
    x, w, b = make_case(1, 1, 2, 2, 1, 3, 3, with_bias, np.float32)
    out_host = kernels.conv_transpose1d(x, w, b, stride=2, target="cuda")
    assert isinstance(out_host, np.ndarray)

    bd = cuda.to_device(b) if with_bias else None
    out_dev = kernels.conv_transpose1d(cuda.to_device(x), cuda.to_device(w), bd, stride=2, target="cuda")
    assert cuda.is_available() and not isinstance(out_dev, np.ndarray)
    assert hasattr(out_dev, "copy_to_host") and out_dev.shape == out_host.shape
    np.testing.assert_array_equal(out_dev.copy_to_host(), out_host)

    go = np.ones(out_host.shape, np.float32)
    grads_dev = kernels.conv_transpose1d_backward(cuda.to_device(go), cuda.to_device(x), cuda.to_device(w),
                                                  stride=2, target="cuda")
    grads_host = kernels.conv_transpose1d_backward(go, x, w, stride=2, target="cuda")
    for d, h in zip(grads_dev, grads_host, strict=True):
        assert not isinstance(d, np.ndarray) and hasattr(d, "copy_to_host")
        np.testing.assert_array_equal(d.copy_to_host(), h)


@pytest.mark.parametrize("algorithm", ["tiled", "direct"])
def test_results_and_scratch_come_from_the_allocator_in_use(algorithm):
    """Inside kernels.cuda.allocator every result (and the tiled kernels' tap-major weight copy) comes from the
    given allocator, as gen_media.nn uses it for torch's caching allocator; outside it, from Numba's."""
    from kernels import cuda as kcuda

    x, w, b = make_case(1, 2, 4, 6, 2, 5, 3, True, np.float64)
    geom = kernels.geometry(1, x.shape, w.shape, stride=2, groups=2, dtype=np.float64)
    go = np.random.default_rng(7).standard_normal(geom.output_shape)
    made = []

    def empty(shape, dtype):
        made.append((shape, np.dtype(dtype)))
        return cuda.device_array(shape, dtype)

    dev = [cuda.to_device(a) for a in (x, w, b, go)]
    with kcuda.use_algorithm(algorithm), kcuda.allocator(empty):
        out = kernels.conv_transpose1d(*dev[:3], stride=2, groups=2, target="cuda")
        grads = kernels.conv_transpose1d_backward(dev[3], *dev[:2], stride=2, groups=2, target="cuda")
    results = {shape for shape, dtype in made if dtype == np.float64}
    assert {geom.output_shape5, geom.input_shape5, geom.weight_shape5, (6,)} <= results
    assert ((3, 4, 3) in results) == (algorithm == "tiled")  # taps x C_in x C_out/g: the forward's weight copy
    np.testing.assert_allclose(out.copy_to_host(), REFERENCE[1][0](x, w, b, stride=2, groups=2), **TOL[np.float64])
    for got, want in zip(grads, REFERENCE[1][1](go, x, w, stride=2, groups=2), strict=True):
        np.testing.assert_allclose(got.copy_to_host(), want, **TOL[np.float64])
    count = len(made)
    kernels.conv_transpose1d(*dev[:3], stride=2, groups=2, target="cuda")
    assert len(made) == count  # the block is over: Numba's allocator again


@pytest.mark.skipif(not numba.config.ENABLE_CUDASIM, reason="inspects the simulator's launches")
@pytest.mark.parametrize("algorithm", kernels.cuda.ALGORITHMS)
def test_no_launch_gets_none(monkeypatch, algorithm):
    """numba-cuda refuses a None kernel argument ("NotImplementedError: (none, None)") where the
    simulator passes it through, so no launch may get one: bias=None travels as an empty array."""
    from numba.cuda.simulator.kernel import FakeCUDAKernel

    launched = []
    run = FakeCUDAKernel.__call__

    def recording(self, *args):
        if not self._device:
            launched.append((self.fn.__qualname__, args))
        return run(self, *args)

    monkeypatch.setattr(FakeCUDAKernel, "__call__", recording)
    x, w, _ = make_case(1, 1, 2, 2, 1, 3, 3, False, np.float32)
    with kernels.cuda.use_algorithm(algorithm):
        out = kernels.conv_transpose1d(x, w, None, stride=2, target="cuda")
        kernels.conv_transpose1d_backward(np.ones_like(out), x, w, stride=2, target="cuda")
    assert len(launched) >= 4  # forward, and the three gradients
    for name, args in launched:
        assert all(a is not None for a in args), name
    np.testing.assert_allclose(out, kernels.conv_transpose1d_reference(x, w, None, stride=2), **TOL[np.float32])


def test_non_contiguous_device_array_is_refused():
    x, w, _ = make_case(1, 1, 2, 2, 1, 3, 2, False, np.float32)
    x_t = cuda.to_device(np.ascontiguousarray(x.transpose(0, 2, 1))).transpose((0, 2, 1))
    with pytest.raises(ValueError, match="C-contiguous"):
        kernels.conv_transpose1d(x_t, w, target="cuda")


def test_nan_propagates_like_torch():
    kw = dict(stride=2, padding=1)
    x, w, b = make_case(1, 1, 2, 2, 1, 5, 3, True, np.float32)
    x[0, 1, 0] = np.nan  # reaches only the outputs its taps land on
    w[0, 1, 2] = np.nan  # reaches output channel 1 wherever input channel 0 lands through tap 2
    out = kernels.conv_transpose1d(x, w, b, **kw, target="cuda")
    go = np.ones(out.shape, np.float32)
    go[0, 0, 3] = np.nan
    t_out, t_grads = torch_results(1, x, w, b, go, **kw)
    np.testing.assert_array_equal(np.isnan(out), np.isnan(t_out))
    assert np.isnan(out).any() and not np.isnan(out).all()
    np.testing.assert_allclose(out, t_out, **TOL[np.float32])  # equal_nan is the default

    # NaN in grad_output: the same NaN pattern as torch in every gradient. (With NaN in x or w,
    # torch's gradients also spread NaN through padding zeros (0 * NaN); ours follow the
    # definition, like the reference, so those are checked against the reference instead.)
    x_clean, w_clean = np.nan_to_num(x), np.nan_to_num(w)
    grads = kernels.conv_transpose1d_backward(go, x_clean, w_clean, **kw, target="cuda")
    _, t_grads = torch_results(1, x_clean, w_clean, b, go, **kw)
    for ours, theirs in zip(grads, t_grads, strict=True):
        np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs))
    grads = kernels.conv_transpose1d_backward(go, x, w, **kw, target="cuda")
    for ours, ref in zip(grads, kernels.conv_transpose1d_backward_reference(go, x, w, **kw), strict=True):
        np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref))


def test_gpu_check_script_quick(tmp_path, capsys):
    from gen_media.bench import gpu

    out = tmp_path / "gpu.md"
    assert gpu.main(["--quick", "--reps", "1", "--tiles", "--out", str(out)]) == 0
    report = out.read_text()
    assert "| shape" in report and "FAIL" not in report
    assert report.count(" ok ") >= 4  # forward and backward rows, float32 and float64
    assert "all parity checks passed" in capsys.readouterr().out
    from kernels import cuda_tiled

    tiles = report.split("## Tile shapes")[1]  # one row per small case and candidate tile shape, all agreeing
    assert tiles.count(" ok 0.0e+00 ") == len(gpu.SMALL_CASES) * len(cuda_tiled.CANDIDATES)


def test_gpu_check_tiles_flags_a_tile_shape_that_disagrees(monkeypatch):
    """A wrong kernel for one candidate tile shape shows as FAIL in the tile table."""
    from gen_media.bench import gpu
    from kernels import cuda_tiled

    real = cuda_tiled.forward

    def off_by_one(x5, w5, bias, out, geom, tiles=None):
        real(x5, w5, bias, out, geom, tiles)
        if tiles is cuda_tiled.CANDIDATES[-1]:
            host = out.copy_to_host()
            out.copy_to_device(host + 1.0)

    monkeypatch.setattr(cuda_tiled, "forward", off_by_one)
    text, failures = gpu.tiles_table(gpu.Device(gpu=False), gpu.SMALL_CASES[:1], reps=1)
    assert failures == 1 and text.count("FAIL") == 1


# (nd, batch, c_in, c_out, groups, size, kernel, conv kwargs): several tiles per axis of the result,
# and grad_weight reductions long enough to be split over blocks (atomic partial sums).
TILED_CASES = [
    (1, 3, 5, 6, 1, 7, 4, dict(stride=2, padding=1)),
    (1, 2, 6, 4, 2, 5, 3, dict(stride=3, padding=1, output_padding=2)),
    (3, 2, 3, 5, 1, (2, 3, 2), (2, 2, 3), dict(stride=(1, 2, 2), padding=(0, 1, 1))),
]


@pytest.mark.parametrize("case", TILED_CASES, ids=lambda c: f"{c[0]}d-{c[7]}")
def test_tiled_equals_direct(case):
    """The tiled kernels (the default) and the direct ones give the same results."""
    from kernels import cuda as kcuda
    from kernels import cuda_tiled

    nd, batch, c_in, c_out, groups, size, kernel, kw = case
    x, w, b = make_case(nd, batch, c_in, c_out, groups, size, kernel, True, np.float64)
    geom = kernels.geometry(nd, x.shape, w.shape, groups=groups, **kw)
    assert cuda_tiled.grad_weight_splits(geom) > 1  # the atomic path runs
    assert math.prod(geom.out_size) > cuda_tiled.DEFAULT.cols and c_out > cuda_tiled.DEFAULT.rows // 2
    forward, backward = OURS[nd]
    results = {}
    for algorithm in kcuda.ALGORITHMS:
        with kcuda.use_algorithm(algorithm):
            out = forward(x, w, b, groups=groups, **kw, target="cuda")
            go = np.random.default_rng(5).standard_normal(out.shape)
            results[algorithm] = (out, *backward(go, x, w, groups=groups, **kw, target="cuda"))
    for tiled, direct in zip(results["tiled"], results["direct"], strict=True):
        np.testing.assert_allclose(tiled, direct, rtol=1e-12, atol=1e-12)
    ref = REFERENCE[nd][0](x, w, b, groups=groups, **kw)
    np.testing.assert_allclose(results["tiled"][0], ref, **TOL[np.float64])


@pytest.mark.parametrize("case", [TILED_CASES[1], TILED_CASES[2]], ids=["1d", "3d"])
def test_every_candidate_tile_shape_gives_the_same_results(case):
    """Each tile shape the GPU check times (the simulator's own small ones here) computes what the default does:
    the kernels are built per shape, with its sizes as compile-time constants."""
    from kernels import cuda_tiled

    nd, batch, c_in, c_out, groups, size, kernel, kw = case
    x, w, b = make_case(nd, batch, c_in, c_out, groups, size, kernel, True, np.float64)
    geom = kernels.geometry(nd, x.shape, w.shape, groups=groups, **kw, dtype=np.float64)
    go = np.random.default_rng(6).standard_normal(geom.output_shape)
    x5, w5, go5 = (cuda.to_device(a.reshape(shape)) for a, shape in
                   ((x, geom.input_shape5), (w, geom.weight_shape5), (go, geom.output_shape5)))
    results = {}
    assert len(set(cuda_tiled.CANDIDATES)) >= 3 and cuda_tiled.DEFAULT in cuda_tiled.CANDIDATES
    for tiles in cuda_tiled.CANDIDATES:
        out, gx, gw = (cuda.device_array(shape) for shape in
                       (geom.output_shape5, geom.input_shape5, geom.weight_shape5))
        cuda_tiled.forward(x5, w5, cuda.to_device(b), out, geom, tiles)
        cuda_tiled.grad_input(go5, w5, gx, geom, tiles)
        cuda_tiled.grad_weight(go5, x5, gw, geom, tiles)
        results[tiles] = [a.copy_to_host() for a in (out, gx, gw)]
    want = [REFERENCE[nd][0](x, w, b, groups=groups, **kw)]
    want += list(REFERENCE[nd][1](go, x, w, groups=groups, **kw)[:2])
    for tiles, got in results.items():
        for name, g, r in zip(("output", "grad_input", "grad_weight"), got, want, strict=True):
            np.testing.assert_allclose(g.reshape(r.shape), r, **TOL[np.float64], err_msg=f"{name} with {tiles}")


@pytest.mark.parametrize("shape", [(3, 2, 2, 2, 2), (2, 2, 2, 2, 3), (64, 32, 1, 1, 1), (2, 2, 0, 2, 2)])
def test_tile_shapes_that_cannot_stage_evenly_are_refused(shape):
    from kernels import cuda_tiled

    with pytest.raises(ValueError, match="cannot run: it needs 1-1024 threads"):
        cuda_tiled.Tiles(*shape)


def test_unknown_algorithm_is_refused():
    from kernels import cuda as kcuda

    with pytest.raises(ValueError, match=r"algorithm: expected one of \('tiled', 'direct'\), got 'fast'"):
        with kcuda.use_algorithm("fast"):
            pass


def test_compile_check_rebuilds_argument_types():
    """gen_media.bench.cuda_compile records launches in the simulator and compiles them elsewhere
    from stand-in arguments: each stand-in must have the recorded argument's Numba type."""
    from gen_media.bench.cuda_compile import _arg_spec, _dispatcher, _dummy
    from kernels import cuda_tiled

    x = np.zeros((2, 3, 1, 1, 5), np.float32)
    args = [x, x[..., ::2], cuda.to_device(np.zeros(4)), np.float32(0), (1, 2, 3), True, 7, np.zeros(0, np.float64)]
    for a in args:
        assert numba.typeof(_dummy(_arg_spec(a))) == numba.typeof(getattr(a, "_ary", a)), a
    specs = tuple(_arg_spec(a) for a in args[:1])
    kernel = _dispatcher("kernels.cuda_tiled", "_make_forward.<locals>.kernel", specs)
    assert kernel.__qualname__ == "_make_forward.<locals>.kernel"
    other = _dispatcher("kernels.cuda_tiled", "_make_forward.<locals>.kernel", specs, cuda_tiled.CANDIDATES[1])
    assert other is not kernel and other.__qualname__ == kernel.__qualname__  # built for the other tile shape
    assert _dispatcher("kernels.cuda", "_grad_bias_kernel", specs) is kernels.cuda._grad_bias_kernel


def test_gpu_check_kernel_only_launches():
    """The GPU check's kernel-only timing launches the tiled kernels on outputs it allocates once:
    they must hold the same results as the public calls."""
    from gen_media.bench import gpu

    case = gpu.SMALL_CASES[2]  # 3-D, output_padding, no groups
    x, w, b = make_case(3, case.batch, case.c_in, case.c_out, case.groups, case.size, case.kernel_size, True,
                        np.float64)
    geom = kernels.geometry(3, x.shape, w.shape, **case.kwargs, dtype=x.dtype)
    out = kernels.conv_transpose3d(x, w, b, **case.kwargs, target="cuda")
    go = np.random.default_rng(1).standard_normal(out.shape)
    gx, gw, _ = kernels.conv_transpose3d_backward(go, x, w, **case.kwargs, target="cuda")
    forward, backward, results = gpu._tiled_launches(geom, *(cuda.to_device(a) for a in (x, w, b, go)))
    forward()
    backward()
    for got, want in zip(results, (out, gx, gw), strict=True):
        np.testing.assert_allclose(got.copy_to_host().reshape(want.shape), want, **TOL[np.float64])


def test_tiles_beyond_the_grid_limits_run_direct():
    """CUDA caps a grid's y and z at 65535 (the simulator does not): a depthwise layer with 70,000
    channels, or a kernel of over 65,535 taps, would need more tiled blocks than that."""
    from kernels import cuda as kcuda
    from kernels import cuda_tiled

    depthwise = kernels.geometry(1, (1, 70_000, 3), (70_000, 1, 2), groups=70_000)
    many_taps = kernels.geometry(3, (1, 1, 1, 1, 1), (1, 1, 41, 41, 41))
    ordinary = kernels.geometry(3, (2, 8, 2, 3, 3), (8, 4, 4, 4, 4), stride=2, padding=1)
    assert not cuda_tiled.supports(depthwise) and not cuda_tiled.supports(many_taps)
    assert cuda_tiled.supports(ordinary)
    assert kcuda._algorithm_for(depthwise, None) == kcuda._algorithm_for(many_taps, "tiled") == "direct"
    assert kcuda._algorithm_for(ordinary, None) == "tiled"
    with kcuda.use_algorithm("direct"):
        assert kcuda._algorithm_for(ordinary, None) == "direct"
