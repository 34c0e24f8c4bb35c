"""Start-up cost of the CPU kernels: JIT compilation on a cold cache, cache loading in a second process.

    python -m gen_media.bench.startup [--out FILE]

Runs one child process twice against a fresh ``NUMBA_CACHE_DIR``: the first compiles what the default recipes'
decoder layers need (speech and content-motion video, forward and backward) and writes the cache, the second
loads it, as a second training or generation process would. Each child times ``import kernels`` and every
call's first run minus its second run, in the order a model calls them, after timing the one-time start-up
that any first call pays (SciPy's linalg and Numba's CPU target) on its own. The children import no torch.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from gen_media.bench import machine, publish
from gen_media.bench.kernels import SHAPES

RESULTS = Path(__file__).parent / "results" / "startup_cpu.md"
LAYERS = ("speech dec", "video sprite", "video motion")  # the default recipes' decoders

_CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import numpy as np
import kernels
timings = [["import kernels", time.perf_counter() - t0]]
t0 = time.perf_counter()
import scipy.linalg.cython_blas  # Numba's CPU target imports it on its first dispatch (numba.np.arraymath)
t1 = time.perf_counter()
from kernels import cpu  # noqa: F401  (the rest of the CPU target: binding BLAS, Numba decorations)
t2 = time.perf_counter()
from kernels._runs import zero_run
zero_run(np.zeros(1, np.float32), 0, 1)  # the first dispatch starts Numba's CPU target
t3 = time.perf_counter()
timings += [["SciPy's linalg (import; Numba's CPU target loads it)", t1 - t0], ["kernels.cpu (import)", t2 - t1],
            ["Numba's CPU target (first dispatch of a one-line kernel)", t3 - t2]]
for name, shape, c_out, kernel, stride, padding in json.loads(sys.argv[1]):
    nd = len(shape) - 2
    kernel = tuple(kernel) if isinstance(kernel, list) else (kernel,) * nd
    x = np.ones(shape, np.float32)
    w = np.ones((shape[1], c_out, *kernel), np.float32)
    fwd = kernels.conv_transpose1d if nd == 1 else kernels.conv_transpose3d
    bwd = kernels.conv_transpose1d_backward if nd == 1 else kernels.conv_transpose3d_backward
    stride = tuple(stride) if isinstance(stride, list) else stride
    padding = tuple(padding) if isinstance(padding, list) else padding
    go = np.ones(kernels.geometry(nd, x.shape, w.shape, stride, padding).output_shape, np.float32)
    for pass_name, call in (("forward", lambda: fwd(x, w, None, stride, padding)),
                            ("backward", lambda: bwd(go, x, w, stride, padding))):
        t0 = time.perf_counter(); call(); t1 = time.perf_counter(); call(); t2 = time.perf_counter()
        timings.append([f"{name} {pass_name}", (t1 - t0) - (t2 - t1)])
print(json.dumps(timings))
"""


def _child(layers: list, cache_dir: str) -> list[tuple[str, float]]:
    env = {**os.environ, "NUMBA_CACHE_DIR": cache_dir}
    proc = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(layers)], env=env, capture_output=True,
                          text=True, check=True)
    return [tuple(t) for t in json.loads(proc.stdout.splitlines()[-1])]


def measure() -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
    layers = [(s.name, s.input, s.c_out, s.kernel, s.stride, s.padding) for s in SHAPES if s.name.startswith(LAYERS)]
    with tempfile.TemporaryDirectory() as cache_dir:
        return _child(layers, cache_dir), _child(layers, cache_dir)


def table(cold: list[tuple[str, float]], warm: list[tuple[str, float]]) -> str:
    lines = ["# Start-up of the CPU kernels: cold cache (JIT compile) and a second process (cache load)", "",
             f"Machine: {machine()}. The one-time start-up of the runtimes first, then each layer's first call minus "
             "its second, in calling order: compilation on a cold cache, loading the cached code in a second "
             "process.", "",
             "| step | cold cache s | second process s |", "|---|---:|---:|"]
    for (name, c), (_, w) in zip(cold, warm, strict=True):
        lines.append(f"| {name} | {max(c, 0.0):.2f} | {max(w, 0.0):.2f} |")  # a negative is timing noise
    first = lambda rows: sum(max(t, 0.0) for _, t in rows[:5])  # noqa: E731  (start-up, the first layer's forward)
    total = lambda rows: sum(max(t, 0.0) for _, t in rows)  # noqa: E731
    lines += [f"| **import to the end of the first call** | **{first(cold):.2f}** | **{first(warm):.2f}** |",
              f"| **everything** | **{total(cold):.2f}** | **{total(warm):.2f}** |"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    text = table(*measure())
    publish(text, args.out)
    return text


if __name__ == "__main__":
    main()
