"""GPU check of the CUDA kernels: parity with torch, then timings against torch/cuDNN.

    python -m gen_media.bench.gpu [--quick] [--tiles] [--out FILE]

On a real GPU: compares our CUDA forward and backward with torch on the GPU (float32 on the
benchmark shapes, float64 on small ones) and times both passes against torch/cuDNN
(``cudnn.benchmark=True``, TF32 off so both sides do float32 arithmetic). Each timing is the
median of many runs measured with CUDA events after warm-up; the first call (which JIT-compiles
our kernels when a new argument type appears) is reported separately. "ours" is the public
``kernels`` call on device arrays, so it includes argument checks, output allocation and launch;
it runs the tiled kernels, and "direct" the same call on the one-thread-per-result kernels.
"kernels" (GPU only) launches the tiled kernels alone on outputs allocated once, 20 launches
between two events: the kernels' own time, which one call between events hides when the host's
work per call takes longer than the GPU's. ``--tiles`` adds the same kernel-only timing for every candidate
tile shape of the tiled kernels (``kernels.cuda_tiled.CANDIDATES``), each checked against the default's results.

With ``--quick``, or with no GPU (then Numba's CUDA simulator runs the kernels on the CPU), it
uses tiny shapes and a few repetitions and compares with torch on the CPU; simulator timings
say nothing about kernel speed. Exit status 0 when every parity check passes.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import dataclass

import torch

if "numba" not in sys.modules and not torch.cuda.is_available():
    # No GPU: run the kernels in Numba's simulator (must be decided before numba is imported).
    os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")

import numpy as np  # noqa: E402
from numba import config, cuda  # noqa: E402

import kernels  # noqa: E402
import kernels.cuda  # noqa: E402  (imported on first use otherwise; the timings switch its algorithm)
from gen_media.bench import axes_text, per_axis, publish  # noqa: E402

TOL = {torch.float32: 1e-4, torch.float64: 1e-10}  # max |ours - torch| / max(1, max |torch|)
KERNEL_CALLS = 20  # kernel-only timing: launches between two events, so the host's time per launch hides


@dataclass(frozen=True)
class Case:
    """One transposed-convolution layer: input (batch, c_in, *size) -> c_out channels."""

    name: str
    batch: int
    c_in: int
    c_out: int
    size: tuple[int, ...]
    kernel: int | tuple[int, ...]
    stride: int | tuple[int, ...] = 1
    padding: int | tuple[int, ...] = 0
    output_padding: int | tuple[int, ...] = 0
    dilation: int | tuple[int, ...] = 1
    groups: int = 1
    bias: bool = True

    @property
    def nd(self) -> int:
        return len(self.size)

    @property
    def kwargs(self) -> dict:
        return dict(stride=self.stride, padding=self.padding, output_padding=self.output_padding,
                    dilation=self.dilation, groups=self.groups)

    @property
    def kernel_size(self) -> tuple[int, ...]:
        return per_axis(self.kernel, self.nd)

    def label(self) -> str:
        return f"{self.name} ({self.batch},{self.c_in},{','.join(map(str, self.size))})->{self.c_out}"

    def describe(self) -> str:
        """The label plus every argument that differs from its default, e.g. ``k4 s2 p1``."""
        parts = [f"k{axes_text(self.kernel)}", f"s{axes_text(self.stride)}", f"p{axes_text(self.padding)}"]
        extra = (("op", self.output_padding, 0), ("d", self.dilation, 1), ("g", self.groups, 1))
        parts += [f"{tag}{axes_text(v)}" for tag, v, default in extra if v != default]
        return " ".join([self.label(), *parts] + ([] if self.bias else ["no bias"]))


BENCH_CASES = [
    Case("1D", 16, 256, 128, (64,), 4, 2, 1),
    Case("1D", 4, 128, 64, (200,), 16, 8, 4),
    Case("3D", 8, 128, 64, (4, 8, 8), 4, 2, 1),
    Case("3D", 4, 64, 32, (8, 16, 16), 4, 2, 1),
    # Layers of the default recipes' decoders (gen_media.bench.kernels lists them all).
    Case("speech decoder 2", 64, 256, 192, (8,), 4, 2, 1),
    Case("video sprite 1", 16, 128, 64, (1, 4, 4), (1, 4, 4), (1, 2, 2), (0, 1, 1)),
    Case("video motion 1", 16, 64, 32, (2, 5, 5), 4, 2, 1),
]

# Tiny problems that between them use every argument: the whole check under --quick (and on
# the simulator), and the float64 parity check on a GPU.
SMALL_CASES = [
    Case("1D", 2, 4, 6, (5,), 3, 2, 1, output_padding=1, groups=2),
    Case("1D", 1, 2, 3, (4,), 2, 3, 0, dilation=2, bias=False),
    Case("3D", 1, 2, 2, (2, 2, 3), (2, 1, 2), (2, 1, 2), (1, 0, 0), output_padding=(1, 0, 1)),
    Case("3D", 1, 2, 2, (2, 1, 2), 2, 1, (0, 0, 1), dilation=(2, 1, 1), groups=2),
]


@dataclass
class Row:
    case: Case
    pass_: str  # "forward" or "backward"
    dtype: torch.dtype
    error: float  # worst relative error against torch over the pass's results
    ours_ms: float | None = None  # the tiled kernels (the default)
    direct_ms: float | None = None  # the direct kernels, one thread per result
    kernel_ms: float | None = None  # the tiled kernels alone: preallocated outputs, launches back to back
    torch_ms: float | None = None
    first_ms: float | None = None
    flops: int = 0

    @property
    def ok(self) -> bool:
        return self.error <= TOL[self.dtype]


class Device:
    """Where the check runs: a real GPU (torch and ours on it) or the simulator (torch on CPU)."""

    def __init__(self, gpu: bool):
        self.gpu = gpu
        self.torch_device = torch.device("cuda" if gpu else "cpu")

    def ours(self, t: torch.Tensor | None):
        """Our kernels' input for a torch tensor: a zero-copy Numba view on the GPU, else NumPy."""
        if t is None:
            return None
        return cuda.as_cuda_array(t.detach()) if self.gpu else t.detach().numpy()

    def torch(self, a) -> torch.Tensor | None:
        """Our result as a torch tensor on the check's device (copied, so it outlives ``a``)."""
        if a is None:
            return None
        if self.gpu:
            return torch.as_tensor(a, device=self.torch_device).clone()
        return torch.from_numpy(np.array(a))

    def sync(self) -> None:
        if self.gpu:
            torch.cuda.synchronize()

    def time_ms(self, fn, reps: int, calls: int = 1) -> float:
        """Median milliseconds per call over ``reps`` groups of ``calls`` calls of ``fn`` (warmed up)."""
        times = []
        for _ in range(reps):
            if self.gpu:
                # Numba launches on the legacy default stream, which is torch's current stream
                # unless the caller changed it, so these events bracket our kernels as well.
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
                for _ in range(calls):
                    fn()
                end.record()
                end.synchronize()
                times.append(start.elapsed_time(end) / calls)
            else:
                t0 = time.perf_counter()
                for _ in range(calls):
                    fn()
                times.append((time.perf_counter() - t0) * 1e3 / calls)
        return statistics.median(times)


def _rel_error(ours: torch.Tensor | None, theirs: torch.Tensor | None) -> float:
    if ours is None or theirs is None:
        return 0.0 if ours is None and theirs is None else float("inf")
    if ours.shape != theirs.shape:
        return float("inf")
    if ours.numel() == 0:
        return 0.0
    nan_same = torch.equal(torch.isnan(ours), torch.isnan(theirs))
    diff = (ours - theirs).nan_to_num(0.0).abs().max().item()
    scale = max(1.0, theirs.nan_to_num(0.0).abs().max().item())
    return diff / scale if nan_same else float("inf")


def _conv_fns(nd: int):
    """(our forward, our backward, torch's forward) for 1-D or 3-D."""
    F = torch.nn.functional
    if nd == 1:
        return kernels.conv_transpose1d, kernels.conv_transpose1d_backward, F.conv_transpose1d
    return kernels.conv_transpose3d, kernels.conv_transpose3d_backward, F.conv_transpose3d


def _torch_backward(case: Case, geom, go, x, w, bias: bool):
    """A call of torch's backward op for the case, as autograd makes it but without its bookkeeping (grad_input
    and grad_weight, and grad_bias when ``bias``), its arguments prepared here, outside the timed call."""
    stride, padding, dilation, out_pad = (list(a[-case.nd:]) for a in
                                          (geom.stride, geom.padding, geom.dilation, geom.output_padding))
    bias_sizes, mask = [case.c_out] if bias else None, [True, True, bias]
    return lambda: torch.ops.aten.convolution_backward(go, x, w, bias_sizes, stride, padding, dilation, True,
                                                       out_pad, case.groups, mask)


def check_case(dev: Device, case: Case, dtype: torch.dtype, reps: int, warm: int,
               timed: bool) -> list[Row]:
    """Parity of forward and backward against torch, and (if ``timed``) their timings."""
    ours_fwd, ours_bwd, torch_fwd = _conv_fns(case.nd)
    gen = torch.Generator().manual_seed(0)
    opts = dict(dtype=dtype)
    x = torch.randn(case.batch, case.c_in, *case.size, generator=gen, **opts).to(dev.torch_device)
    w = torch.randn(case.c_in, case.c_out // case.groups, *case.kernel_size, generator=gen,
                    **opts).to(dev.torch_device)
    b = torch.randn(case.c_out, generator=gen, **opts).to(dev.torch_device) if case.bias else None
    kw = case.kwargs

    # torch's results, through autograd (independent of the direct backward op timed below).
    xt, wt = x.clone().requires_grad_(), w.clone().requires_grad_()
    bt = b.clone().requires_grad_() if b is not None else None
    y_ref = torch_fwd(xt, wt, bt, **kw)
    go = torch.randn(y_ref.shape, generator=gen, **opts).to(dev.torch_device)
    y_ref.backward(go)
    gb_ref = bt.grad if bt is not None else go.sum(dim=[d for d in range(go.dim()) if d != 1])

    xo, wo, bo, goo = dev.ours(x), dev.ours(w), dev.ours(b), dev.ours(go)

    def run_forward():
        return ours_fwd(xo, wo, bo, **kw, target="cuda")

    def run_backward(mask=(True, True, True)):
        return ours_bwd(goo, xo, wo, **kw, output_mask=mask, target="cuda")

    t0 = time.perf_counter()
    y = run_forward()
    dev.sync()
    first_fwd = (time.perf_counter() - t0) * 1e3
    t0 = time.perf_counter()
    grads = run_backward()
    dev.sync()
    first_bwd = (time.perf_counter() - t0) * 1e3

    geom = kernels.geometry(case.nd, tuple(x.shape), tuple(w.shape), **kw,
                            dtype=torch.empty((), dtype=dtype).numpy().dtype)
    fwd = Row(case, "forward", dtype, _rel_error(dev.torch(y), y_ref.detach()), first_ms=first_fwd,
              flops=geom.flops)
    bwd = Row(case, "backward", dtype, max(_rel_error(dev.torch(g), r) for g, r in
                                           zip(grads, (xt.grad, wt.grad, gb_ref), strict=True)),
              first_ms=first_bwd, flops=2 * geom.flops)  # grad_input and grad_weight: one each
    if not timed:
        return [fwd, bwd]

    def torch_forward():
        return torch_fwd(x, w, b, **kw)

    torch_backward = _torch_backward(case, geom, go, x, w, case.bias)

    def ours_backward():  # the same results as torch_backward: no grad_bias without a bias
        return run_backward((True, True, case.bias))

    for row, ours, theirs in ((fwd, run_forward, torch_forward), (bwd, ours_backward, torch_backward)):
        for _ in range(warm):  # warm-up: cuDNN's algorithm search, caches, clocks
            ours()
            theirs()
        dev.sync()
        row.ours_ms = dev.time_ms(ours, reps)
        row.torch_ms = dev.time_ms(theirs, reps)
        with kernels.cuda.use_algorithm("direct"):
            ours()  # warm-up: compiles the direct kernels
            row.direct_ms = dev.time_ms(ours, reps)
    if dev.gpu:
        for row, launch in zip((fwd, bwd), _tiled_launches(geom, xo, wo, bo, goo)[:2], strict=True):
            launch()
            dev.sync()
            row.kernel_ms = dev.time_ms(launch, reps, calls=KERNEL_CALLS)
    return [fwd, bwd]


def check_torch_layer(dev: Device, case: Case, reps: int) -> tuple[float, float, float, float]:
    """GPU only: forward + backward through ``gen_media.nn.functional`` on CUDA tensors (what training with
    ``model.backend=numba`` runs: the stream handling, the output wrapping, autograd), against torch's op.
    Returns (worst relative error on torch's default stream, the same on a side stream, ours ms, torch ms)."""
    from gen_media.nn import functional as ours_nn

    ours_op = ours_nn.conv_transpose1d if case.nd == 1 else ours_nn.conv_transpose3d
    torch_op = _conv_fns(case.nd)[2]
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(case.batch, case.c_in, *case.size, generator=gen).cuda().requires_grad_()
    w = torch.randn(case.c_in, case.c_out // case.groups, *case.kernel_size, generator=gen).cuda().requires_grad_()
    b = torch.randn(case.c_out, generator=gen).cuda().requires_grad_() if case.bias else None

    def step(op, x, w, b):
        y = op(x, w, b, **case.kwargs)
        return [y.detach()] + list(torch.autograd.grad(y.square().sum(), [t for t in (x, w, b) if t is not None]))

    def fresh():  # copies of the inputs, written by work queued on the current stream
        return [None if t is None else t.detach().clone().requires_grad_() for t in (x, w, b)]

    want = step(torch_op, x, w, b)
    error = max(_rel_error(g, r) for g, r in zip(step(ours_op, x, w, b), want, strict=True))
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):  # a non-blocking stream: our launches must wait for its work, and it for them
        torch.cuda._sleep(100_000_000)  # ~0.05 s of GPU cycles before the inputs exist: a race would read garbage
        got = step(ours_op, *fresh())
    torch.cuda.current_stream().wait_stream(side)
    side_error = max(_rel_error(g, r) for g, r in zip(got, want, strict=True))
    return (error, side_error, dev.time_ms(lambda: step(ours_op, x, w, b), reps),
            dev.time_ms(lambda: step(torch_op, x, w, b), reps))


def torch_layer_table(dev: Device, cases: list[Case], reps: int) -> tuple[str, int]:
    """The markdown table of :func:`check_torch_layer` over ``cases``, and how many failed a parity check."""
    f32 = torch.float32
    text = ("\n## Through the torch layers (`gen_media.nn.functional`, float32): forward + backward with "
            "autograd\n\n| shape | parity | parity on a side stream | ours ms | cuDNN ms | ratio |\n"
            "| --- | --- | --- | ---: | ---: | ---: |\n")
    failures = 0
    for case in cases:
        err, side_err, ours_ms, torch_ms = check_torch_layer(dev, case, reps)
        failures += max(err, side_err) > TOL[f32]
        text += (f"| {case.describe()} | {_parity(err, f32)} | {_parity(side_err, f32)} | {ours_ms:.3f} "
                 f"| {torch_ms:.3f} | {ours_ms / torch_ms:.2f} |\n")
    return text, failures


def _tiled_launches(geom, x, w, bias, grad_output, tiles=None):
    """(forward, backward, (out, grad_input, grad_weight)): calls that launch the tiled kernels alone
    on 5-D outputs allocated once, with no argument checks or output allocation (the tap-major
    weight copy is still made per call). The backward is grad_input and grad_weight. ``tiles``: the block
    shape (the kernels' default unless given)."""
    from kernels import cuda_tiled
    from kernels._args import to5

    x5, w5, go5 = to5(x, geom.input_shape5), to5(w, geom.weight_shape5), to5(grad_output, geom.output_shape5)
    bias = cuda.device_array(0, dtype=geom.dtype) if bias is None else bias
    out, gx, gw = (cuda.device_array(shape, dtype=geom.dtype)
                   for shape in (geom.output_shape5, geom.input_shape5, geom.weight_shape5))

    def forward():
        cuda_tiled.forward(x5, w5, bias, out, geom, tiles)

    def backward():
        cuda_tiled.grad_input(go5, w5, gx, geom, tiles)
        cuda_tiled.grad_weight(go5, x5, gw, geom, tiles)

    return forward, backward, (out, gx, gw)


def check_tiles(dev: Device, case: Case, reps: int) -> tuple[list[tuple], float | None, float | None]:
    """The tiled kernels alone with each candidate tile shape (``kernels.cuda_tiled.CANDIDATES``, the default
    first) on one float32 case: ``([(tiles, error against the default's results, forward ms, backward ms)],
    torch forward ms, torch backward ms)``, timed as the "kernels" column (GPU only; None in the simulator)."""
    from kernels import cuda_tiled

    gen = torch.Generator().manual_seed(2)
    x = torch.randn(case.batch, case.c_in, *case.size, generator=gen).to(dev.torch_device)
    w = torch.randn(case.c_in, case.c_out // case.groups, *case.kernel_size, generator=gen).to(dev.torch_device)
    b = torch.randn(case.c_out, generator=gen).to(dev.torch_device) if case.bias else None
    geom = kernels.geometry(case.nd, tuple(x.shape), tuple(w.shape), **case.kwargs)
    go = torch.randn(geom.output_shape, generator=gen).to(dev.torch_device)
    args = [dev.ours(t) for t in (x, w, b, go)]
    rows, want = [], None
    for tiles in cuda_tiled.CANDIDATES:
        forward, backward, results = _tiled_launches(geom, *args, tiles=tiles)
        forward()  # compiles this tile shape's kernels on the first call
        backward()
        dev.sync()
        got = [dev.torch(r) for r in results]
        want = want or got
        error = max(_rel_error(g, r) for g, r in zip(got, want, strict=True))
        times = [dev.time_ms(f, reps, calls=KERNEL_CALLS) if dev.gpu else None for f in (forward, backward)]
        rows.append((tiles, error, *times))
    if not dev.gpu:
        return rows, None, None
    torch_fwd = _conv_fns(case.nd)[2]
    torch_times = [dev.time_ms(f, reps, calls=KERNEL_CALLS) for f in (
        lambda: torch_fwd(x, w, b, **case.kwargs), _torch_backward(case, geom, go, x, w, False))]
    return rows, *torch_times


def tiles_table(dev: Device, cases: list[Case], reps: int) -> tuple[str, int]:
    """The markdown table of :func:`check_tiles` over ``cases`` (the fastest shape per case and pass in bold),
    and how many tile shapes disagreed with the default."""
    theirs = "cuDNN" if dev.gpu else "torch"
    text = ("\n## Tile shapes (`kernels.cuda_tiled.CANDIDATES`, float32): the tiled kernels alone\n\n"
            f"| shape | tiles | parity vs default | forward ms | backward ms | forward / {theirs} "
            f"| backward / {theirs} |\n| --- | --- | --- | ---: | ---: | ---: | ---: |\n")
    failures = 0
    for case in cases:
        rows, torch_fwd, torch_bwd = check_tiles(dev, case, reps)
        best = [min((r[k] for r in rows if r[k] is not None), default=None) for k in (2, 3)]
        for tiles, error, fwd_ms, bwd_ms in rows:
            failures += error > TOL[torch.float32]
            times, ratios = [], []
            for ms, ref, fastest in ((fwd_ms, torch_fwd, best[0]), (bwd_ms, torch_bwd, best[1])):
                times.append(f"**{_fmt(ms)}**" if ms is not None and ms == fastest else _fmt(ms))
                ratios.append(_fmt(ms / ref if ms and ref else None, ".2f"))
            text += (f"| {case.describe()} | {tiles} | {_parity(error, torch.float32)} | {times[0]} | {times[1]} "
                     f"| {ratios[0]} | {ratios[1]} |\n")
    return text, failures


def _parity(error: float, dtype: torch.dtype) -> str:
    return f"{'ok' if error <= TOL[dtype] else 'FAIL'} {error:.1e}"


def _fmt(v: float | None, spec: str = ".3f") -> str:
    return "-" if v is None else format(v, spec)


def table(rows: list[Row], header: str, theirs: str) -> str:
    lines = [header, "",
             f"| shape | dtype | pass | parity (rel. err) | ours ms | direct ms | kernels ms | {theirs} ms | ratio "
             "| kernels ratio | ours GFLOP/s | first call ms |",
             "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        ratio = r.ours_ms / r.torch_ms if r.ours_ms and r.torch_ms else None
        kernel_ratio = r.kernel_ms / r.torch_ms if r.kernel_ms and r.torch_ms else None
        rate = r.flops / (r.ours_ms * 1e6) if r.ours_ms else None
        parity = _parity(r.error, r.dtype)
        dtype = str(r.dtype).removeprefix("torch.")
        lines.append(f"| {r.case.describe()} | {dtype} | {r.pass_} | {parity} | {_fmt(r.ours_ms)} "
                     f"| {_fmt(r.direct_ms)} | {_fmt(r.kernel_ms)} | {_fmt(r.torch_ms)} | {_fmt(ratio, '.2f')} "
                     f"| {_fmt(kernel_ratio, '.2f')} | {_fmt(rate, '.1f')} "
                     f"| {_fmt(r.first_ms, '.1f')} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny shapes, few repetitions (seconds)")
    parser.add_argument("--out", help="also write the table (markdown) to this file")
    parser.add_argument("--reps", type=int, default=None, help="timed repetitions per measurement")
    parser.add_argument("--tiles", action="store_true",
                        help="also time the tiled kernels with each candidate tile shape (kernels.cuda_tiled)")
    args = parser.parse_args(argv)

    simulated = bool(config.ENABLE_CUDASIM)
    gpu = not simulated and torch.cuda.is_available() and cuda.is_available()
    if not gpu and not simulated:
        print("no usable GPU for numba/torch: rerun with NUMBA_ENABLE_CUDASIM=1 to check the kernels "
              "in the simulator", file=sys.stderr)
        return 2
    quick = args.quick or not gpu
    reps = args.reps or (3 if quick else 50)
    dev = Device(gpu)
    if gpu:
        torch.backends.cudnn.benchmark = True
        torch.backends.cudnn.allow_tf32 = False  # float32 arithmetic on both sides
        torch.backends.cuda.matmul.allow_tf32 = False
        where = f"{torch.cuda.get_device_name()} (torch {torch.__version__}, cuDNN " \
                f"{torch.backends.cudnn.version()})"
    else:
        where = "Numba CUDA simulator on the CPU, torch CPU as the comparison (timings are not GPU speeds)"

    rows: list[Row] = []
    plan = [(c, torch.float32, True) for c in (SMALL_CASES if quick else BENCH_CASES)]
    plan += [(c, torch.float64, quick) for c in SMALL_CASES]
    for case, dtype, timed in plan:
        new = check_case(dev, case, dtype, reps, 1 if quick else 3, timed)
        rows += new
        for r in new:
            print(f"{r.case.describe():48s} {str(dtype):14s} {r.pass_:8s} "
                  f"{'ok' if r.ok else 'FAIL'} err={r.error:.1e} ours={_fmt(r.ours_ms)} ms "
                  f"torch={_fmt(r.torch_ms)} ms first={_fmt(r.first_ms, '.1f')} ms", flush=True)

    header = (f"# CUDA kernels vs torch ({'quick' if quick else 'full'})\n\n{where}. "
              f"Median of {reps} runs after warm-up; 'first call' includes JIT compilation.")
    text = table(rows, header, "cuDNN" if gpu else "torch CPU")
    layer_failures = 0
    if gpu:  # torch CUDA tensors through gen_media.nn: the simulator cannot read them
        layers, layer_failures = torch_layer_table(dev, SMALL_CASES if quick else BENCH_CASES, reps)
        text += layers
    if args.tiles:
        # 15 groups of KERNEL_CALLS launches per time, as for the earlier kernel-only figures: 7 cases x 5 shapes
        tiles, tile_failures = tiles_table(dev, SMALL_CASES if quick else BENCH_CASES, min(reps, 15))
        text += tiles
        layer_failures += tile_failures
    print()
    publish(text, args.out or None)
    failed = [r for r in rows if not r.ok]
    if failed or layer_failures:
        print(f"{len(failed) + layer_failures} parity check(s) FAILED")
        return 1
    print(f"all parity checks passed ({len(rows)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
