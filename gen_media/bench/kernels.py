"""Benchmark: our CPU transposed-convolution kernels against torch's, forward and backward.

    python -m gen_media.bench.kernels [--threads 2] [--repeats 30] [--out FILE] [--quick]

Both run in this process with the same thread count, interleaved (ours, torch, ours, ...)
after a warm-up; JIT compile time is measured on the first call and reported on its own.
The shapes are the reference shapes of the kernel issues plus the layers of the speech and
video decoders and of the vocoders (the iSTFT generator's inverse STFT, a HiFi-GAN upsampling stack).
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np
import torch

import kernels
from gen_media.bench import axes_text, machine, per_axis, publish, steady_allocator

RESULTS = Path(__file__).parent / "results" / "kernels_cpu.md"


@dataclass(frozen=True)
class Shape:
    name: str
    input: tuple[int, ...]  # (N, C_in, *spatial)
    c_out: int
    kernel: int | tuple[int, ...]  # an int for every axis, or one per axis
    stride: int | tuple[int, ...]
    padding: int | tuple[int, ...]

    @property
    def nd(self) -> int:
        return len(self.input) - 2


SHAPES = [
    # reference shapes (issues 2 and 6)
    Shape("ref 1d k4 s2", (16, 256, 64), 128, 4, 2, 1),
    Shape("ref 1d k16 s8", (4, 128, 200), 64, 16, 8, 4),
    Shape("ref 3d k4 s2", (8, 128, 4, 8, 8), 64, 4, 2, 1),
    Shape("ref 3d k4 s2 large", (4, 64, 8, 16, 16), 32, 4, 2, 1),
    # The decoders' transposed convolutions as the default recipes build them, at their training batch size
    # (recipes/*/default.toml; read off the models with forward hooks). Speech: latent (256 ch x 4 frames) ->
    # 64 frames, batch 64.
    Shape("speech dec 1", (64, 256, 4), 256, 4, 2, 1),
    Shape("speech dec 2", (64, 256, 8), 192, 4, 2, 1),
    Shape("speech dec 3", (64, 192, 16), 128, 4, 2, 1),
    Shape("speech dec 4", (64, 128, 32), 128, 4, 2, 1),
    # Video, batch 16: the sprite path grows one frame from 4x4 to 32x32 (kernel 1x4x4), the motion path a
    # 2x5x5 code to 16x40x40 frames.
    Shape("video sprite 1", (16, 128, 1, 4, 4), 64, (1, 4, 4), (1, 2, 2), (0, 1, 1)),
    Shape("video sprite 2", (16, 64, 1, 8, 8), 32, (1, 4, 4), (1, 2, 2), (0, 1, 1)),
    Shape("video sprite 3", (16, 32, 1, 16, 16), 1, (1, 4, 4), (1, 2, 2), (0, 1, 1)),
    Shape("video motion 1", (16, 64, 2, 5, 5), 32, 4, 2, 1),
    Shape("video motion 2", (16, 32, 4, 10, 10), 16, 4, 2, 1),
    Shape("video motion 3", (16, 16, 8, 20, 20), 1, 4, 2, 1),
    # The spatiotemporal (VideoGAN-like) video decoder, the other choice, for 16 frames of 64x64.
    Shape("video st 1", (16, 256, 1, 4, 4), 128, 4, 2, 1),
    Shape("video st 2", (16, 128, 2, 8, 8), 64, 4, 2, 1),
    Shape("video st 3", (16, 64, 4, 16, 16), 32, 4, 2, 1),
    Shape("video st 4", (16, 32, 8, 32, 32), 1, 4, 2, 1),
    # vocoder upsampling (HiFi-GAN-like, rates 8, 8, 2, 2), 4 x 64 mel frames
    Shape("vocoder up 1", (4, 256, 64), 128, 16, 8, 4),
    Shape("vocoder up 2", (4, 128, 512), 64, 16, 8, 4),
    Shape("vocoder up 3", (4, 64, 4096), 32, 4, 2, 1),
    Shape("vocoder up 4", (4, 32, 8192), 16, 4, 2, 1),
    # the iSTFT vocoder's inverse STFT (2 x 513 coefficients -> 1 channel, kernel n_fft, stride hop): 16 x 32 frames
    Shape("vocoder istft", (16, 1026, 32), 1, 1024, 256, 0),
]

QUICK_SHAPES = [Shape("quick 1d", (2, 8, 6), 4, 4, 2, 1), Shape("quick 3d", (2, 4, 2, 3, 3), 3, 4, 2, 1)]


def _ours(shape, x, w, b):
    f = kernels.conv_transpose1d if shape.nd == 1 else kernels.conv_transpose3d
    b_ours = kernels.conv_transpose1d_backward if shape.nd == 1 else kernels.conv_transpose3d_backward
    fwd = lambda: f(x, w, b, shape.stride, shape.padding)  # noqa: E731
    go = np.ones(fwd().shape, x.dtype)
    bwd = lambda: b_ours(go, x, w, shape.stride, shape.padding)  # noqa: E731
    return fwd, bwd


def _torch(shape, x, w, b):
    xt, wt, bt = (torch.from_numpy(a) for a in (x, w, b))
    f = torch.nn.functional.conv_transpose1d if shape.nd == 1 else torch.nn.functional.conv_transpose3d
    s, p = per_axis(shape.stride, shape.nd), per_axis(shape.padding, shape.nd)
    fwd = lambda: f(xt, wt, bt, s, p)  # noqa: E731
    go = torch.ones_like(fwd())

    def bwd():
        return torch.ops.aten.convolution_backward(go, xt, wt, [shape.c_out], list(s), list(p),
                                                   [1] * shape.nd, True, [0] * shape.nd, 1,
                                                   [True, True, True])

    return fwd, bwd


def _check_parity(shape: Shape, pass_name: str, ours, theirs) -> None:
    """A benchmark of wrong results is worthless: compare with torch before timing."""
    ours = ours if isinstance(ours, tuple) else (ours,)
    theirs = theirs if isinstance(theirs, tuple) else (theirs,)
    for o, t in zip(ours, theirs, strict=True):
        t = t.numpy().reshape(o.shape)
        scale = max(1.0, float(np.abs(t).max()))
        if not np.allclose(o, t, rtol=1e-3, atol=1e-4 * scale):
            err = float(np.abs(o - t).max())
            raise RuntimeError(f"{shape.name} {pass_name}: ours differs from torch (max abs error {err:.3g})")


def _interleaved(a, b, repeats: int) -> tuple[float, float]:
    """Median seconds of a and of b, run alternately so both see the same machine state."""
    ta, tb = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        a()
        t1 = time.perf_counter()
        b()
        t2 = time.perf_counter()
        ta.append(t1 - t0)
        tb.append(t2 - t1)
    return statistics.median(ta), statistics.median(tb)


def _repeats_for(seconds: float, budget: float, lo: int, hi: int) -> int:
    return int(min(hi, max(lo, budget / max(seconds, 1e-6))))


def run(shapes, repeats: int, dtype=np.float32) -> tuple[list[dict], dict[str, float]]:
    rng = np.random.default_rng(0)
    rows, compile_s = [], {}
    for shape in shapes:
        x = rng.standard_normal(shape.input).astype(dtype)
        w = (rng.standard_normal((shape.input[1], shape.c_out) + per_axis(shape.kernel, shape.nd)) * 0.05
             ).astype(dtype)
        b = rng.standard_normal(shape.c_out).astype(dtype)
        geom = kernels.geometry(shape.nd, x.shape, w.shape, shape.stride, shape.padding)
        ours_fwd, ours_bwd = _ours(shape, x, w, b)
        torch_fwd, torch_bwd = _torch(shape, x, w, b)
        for pass_name, ours, theirs, flops in (("forward", ours_fwd, torch_fwd, geom.flops),
                                               ("backward", ours_bwd, torch_bwd, 2 * geom.flops)):
            t0 = time.perf_counter()
            got = ours()  # first call: JIT compile (or cache load) for this signature
            first = time.perf_counter() - t0
            _check_parity(shape, pass_name, got, theirs())
            warm_a, warm_b = _interleaved(ours, theirs, 3)
            n = _repeats_for(max(warm_a, warm_b), 2.0, 5, repeats)
            t_ours, t_torch = _interleaved(ours, theirs, n)
            key = f"{shape.nd}d {pass_name}"
            compile_s[key] = max(compile_s.get(key, 0.0), first - t_ours)
            rows.append(dict(name=shape.name, shape=shape, pass_=pass_name, ours_ms=t_ours * 1e3,
                             torch_ms=t_torch * 1e3, ratio=t_ours / t_torch,
                             ours_gflops=flops / t_ours / 1e9, torch_gflops=flops / t_torch / 1e9))
    return rows, compile_s


def _describe(shape: Shape) -> str:
    return (f"{shape.input}->{shape.c_out} k{axes_text(shape.kernel)} s{axes_text(shape.stride)} "
            f"p{axes_text(shape.padding)}")


def table(rows: list[dict], compile_s: dict[str, float], threads: int, steady: bool = False) -> str:
    allocator = (" glibc told to keep freed memory (gen_media.bench.steady_allocator), for both libraries alike."
                 if steady else "")
    lines = [
        f"# CPU transposed convolution: ours vs torch {torch.__version__} (float32, {threads} threads)",
        "",
        f"Machine: {machine()}; numba {numba.__version__}. Results checked "
        f"against torch, then the median of interleaved runs after warm-up.{allocator}",
        "",
        "| layer | shape | pass | ours ms | torch ms | ours/torch | ours GFLOP/s | torch GFLOP/s |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['name']} | {_describe(r['shape'])} | {r['pass_']} | {r['ours_ms']:.3f} | "
                     f"{r['torch_ms']:.3f} | {r['ratio']:.2f} | {r['ours_gflops']:.1f} | "
                     f"{r['torch_gflops']:.1f} |")
    lines.append("")
    for pass_name in ("forward", "backward"):
        ratios = [r["ratio"] for r in rows if r["pass_"] == pass_name]
        if ratios:
            gmean = math.exp(sum(map(math.log, ratios)) / len(ratios))
            lines.append(f"- {pass_name}: geometric-mean ratio ours/torch {gmean:.2f}, worst {max(ratios):.2f}")
    lines.append("- first-call cost beyond one run (JIT compile, or cache load when cached): " +
                 ", ".join(f"{k} {v:.2f} s" for k, v in sorted(compile_s.items())))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="threads for torch and numba alike")
    parser.add_argument("--repeats", type=int, default=30, help="most timed runs per shape and pass")
    parser.add_argument("--out", type=Path, default=None,
                        help="markdown table file (default: gen_media/bench/results/kernels_cpu.md; none with --quick)")
    parser.add_argument("--quick", action="store_true", help="tiny shapes, few runs: a smoke test")
    args = parser.parse_args(argv)
    steady = steady_allocator()
    torch.set_num_threads(args.threads)
    numba.set_num_threads(args.threads)
    shapes = QUICK_SHAPES if args.quick else SHAPES
    rows, compile_s = run(shapes, 3 if args.quick else args.repeats)
    text = table(rows, compile_s, args.threads, steady)
    publish(text, args.out if args.out is not None else (None if args.quick else RESULTS))
    return text


if __name__ == "__main__":
    main()
