"""Compile every CUDA kernel for a GPU architecture on a machine without a GPU.

    pip install -e ".[cuda]"          # numba-cuda and NVVM; no driver or GPU needed
    python -m gen_media.bench.cuda_compile [--cc 9.0]

The simulator the tests use runs kernels as Python, so it accepts code that numba-cuda's compiler
refuses (a shared-array shape that is not a compile-time constant, for one), and device time is
scarce. This check runs the GPU check's small cases through the public API in the simulator (a
subprocess) to record each launch's kernel and argument types, then compiles each of them for
the architecture with numba-cuda, and links the PTX with nvJitLink for ptxas's report of stack
frame and register spills. Exit status 0 when every kernel compiles.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import pickle
import re
import subprocess
import sys
import tempfile
import types


def _arg_spec(a):
    """What decides a launch's compiled signature: an array's dtype, dimensions and layout, or a scalar's value."""
    import numpy as np

    a = getattr(a, "_ary", a)  # the simulator's device arrays wrap a NumPy array
    if isinstance(a, np.ndarray):
        return ("array", a.dtype.str, a.ndim, "C" if a.flags.c_contiguous else "A")
    if isinstance(a, np.generic):
        return ("scalar", a.dtype.str, a.item())
    return ("value", a)


def collect() -> dict:
    """Run the small cases in the simulator; {(module, qualname, argument specs): launch count}."""
    assert os.environ.get("NUMBA_ENABLE_CUDASIM") == "1", "collect() runs under the simulator"
    import torch
    from numba.cuda.simulator.kernel import FakeCUDAKernel

    import kernels.cuda
    from gen_media.bench import gpu

    launches: dict = {}
    run = FakeCUDAKernel.__call__

    def recording(self, *args):
        if not self._device:
            key = (self.fn.__module__, self.fn.__qualname__, tuple(_arg_spec(a) for a in args))
            launches[key] = launches.get(key, 0) + 1
        return run(self, *args)

    FakeCUDAKernel.__call__ = recording
    dev = gpu.Device(gpu=False)
    with contextlib.redirect_stdout(io.StringIO()):
        for algorithm in kernels.cuda.ALGORITHMS:
            with kernels.cuda.use_algorithm(algorithm):
                for case in gpu.SMALL_CASES:
                    for dtype in (torch.float32, torch.float64):
                        gpu.check_case(dev, case, dtype, reps=1, warm=0, timed=False)
    FakeCUDAKernel.__call__ = run
    return launches


def _dummy(spec):
    """An argument with the recorded spec (arrays of 2 or 3 per axis: only their type matters)."""
    import numpy as np

    kind = spec[0]
    if kind == "array":
        _, dtype, ndim, layout = spec
        return np.zeros((2,) * ndim, dtype) if layout == "C" else np.zeros((3,) * ndim, dtype)[..., ::2]
    if kind == "scalar":
        return np.dtype(spec[1]).type(spec[2])
    return spec[1]


def _is_factory_kernel(qualname: str) -> bool:
    """A tiled kernel, built by its module's factory per dtype and tile shape."""
    return qualname.startswith("_make_") and qualname.endswith(".<locals>.kernel")


def _dispatcher(module_name: str, qualname: str, specs, tiles=None):
    """The @cuda.jit object behind a recorded launch (tiled kernels come from their factory, built for ``tiles``,
    the module's default tile shape unless given)."""
    import numba
    import numpy as np

    module = sys.modules[module_name]
    if _is_factory_kernel(qualname):
        name = qualname.removeprefix("_make_").split(".")[0]
        dtype = next(np.dtype(s[1]) for s in specs if s[0] == "array")
        return module._FACTORIES[name](numba.from_dtype(dtype), tiles or module.DEFAULT)
    return getattr(module, qualname)


def _ptxas_report(ptx: str, cc: tuple[int, int]) -> str:
    """ptxas's stack-frame and spill line for the PTX, through nvJitLink (empty if unavailable)."""
    try:
        from cuda.bindings import nvjitlink
    except ImportError:
        return ""
    handle = nvjitlink.create(2, [f"-arch=sm_{cc[0]}{cc[1]}", "-verbose"])
    try:
        data = ptx.encode()
        nvjitlink.add_data(handle, nvjitlink.InputType.PTX, data, len(data), "kernel")
        nvjitlink.complete(handle)
        log = bytearray(nvjitlink.get_info_log_size(handle))
        nvjitlink.get_info_log(handle, log)
    finally:
        nvjitlink.destroy(handle)
    return "; ".join(re.findall(r"\d+ bytes stack frame.*spill loads", log.decode(errors="replace")))


def compile_all(launches: dict, cc: tuple[int, int]) -> list[tuple[str, str, str, str]]:
    """(kernel, signature, "ok"/"FAIL", ptxas report or error) for each distinct launch."""
    import numba
    import numba.cuda.dispatcher
    from numba import cuda

    # Device functions compile for the current device's architecture; there is none here.
    numba.cuda.dispatcher.get_current_device = lambda: types.SimpleNamespace(compute_capability=cc)
    rows, seen = [], set()
    for module_name, qualname, specs in sorted(launches, key=str):
        sig = tuple(numba.typeof(_dummy(s)) for s in specs)
        if (module_name, qualname, sig) in seen:  # the same types with other scalar values
            continue
        seen.add((module_name, qualname, sig))
        label = ", ".join(map(str, sig))
        # tiled kernels: every tile shape the GPU check may time, the default first
        module = sys.modules[module_name]
        for tiles in (module.CANDIDATES if _is_factory_kernel(qualname) else (None,)):
            name = f"{module_name}.{qualname}" + ("" if tiles is None else f" [{tiles}]")
            try:
                ptx, _ = cuda.compile(_dispatcher(module_name, qualname, specs, tiles).py_func, sig, cc=cc,
                                      output="ptx", device=False, abi="numba")
                rows.append((name, label, "ok", _ptxas_report(ptx, cc)))
            except Exception as e:  # noqa: BLE001  (report every kernel's failure, then fail the run)
                rows.append((name, label, "FAIL", f"{type(e).__name__}: {e}".splitlines()[0]))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cc", default="9.0", help="compute capability to compile for (default 9.0: H100/H200)")
    parser.add_argument("--collect", metavar="FILE", help=argparse.SUPPRESS)  # the simulator half
    args = parser.parse_args(argv)
    if args.collect:
        with open(args.collect, "wb") as f:
            pickle.dump(collect(), f)
        return 0

    from numba import config

    if config.ENABLE_CUDASIM:
        print("NUMBA_ENABLE_CUDASIM is set: unset it, this check needs numba-cuda's compiler", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "launches.pkl")
        env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
        subprocess.run([sys.executable, "-m", "gen_media.bench.cuda_compile", "--collect", path], env=env, check=True)
        with open(path, "rb") as f:
            launches = pickle.load(f)
    import kernels.cuda  # noqa: F401  (the modules the launches name)

    cc = tuple(int(p) for p in args.cc.split("."))
    rows = compile_all(launches, cc)
    print(f"| kernel | signature | sm_{cc[0]}{cc[1]} | ptxas |\n| --- | --- | --- | --- |")
    for name, sig, status, report in rows:
        print(f"| {name} | {sig} | {status} | {report} |")
    failed = sum(status != "ok" for _, _, status, _ in rows)
    print(f"\n{len(rows) - failed} of {len(rows)} kernel signatures compiled for sm_{cc[0]}{cc[1]}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
