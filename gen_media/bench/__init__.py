"""Benchmarks: kernels (CPU), gpu (CUDA), training (end to end), vocoding, upsampling; shared helpers."""


def per_axis(v: int | tuple[int, ...], nd: int) -> tuple[int, ...]:
    """A per-axis argument (kernel, stride, padding) as one value per spatial axis."""
    return v if isinstance(v, tuple) else (v,) * nd


def axes_text(v: int | tuple[int, ...]) -> str:
    """A per-axis argument as a table shows it: ``4`` or ``1x4x4``."""
    return "x".join(map(str, v)) if isinstance(v, tuple) else str(v)


def publish(text: str, out) -> None:
    """Print a benchmark's table and, unless ``out`` is None, write it to that file (its folder made first)."""
    from pathlib import Path

    print(text)
    if out is not None:
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
        print(f"written to {out}")


def machine() -> str:
    """The CPU a table was measured on: model, widest vector extension, cores and L2 per core. Ratios move
    with it (the kernels of commit 639cb82: forward 1.15x torch on an AVX-512 machine, 1.06x on an AVX2 EPYC), so every
    table says which."""
    import os
    import platform
    from pathlib import Path

    model, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
                break
    except OSError:
        pass
    isa = next((name for flag, name in (("avx512f", "AVX-512"), ("avx2", "AVX2"), ("avx", "AVX"), ("asimd", "NEON"))
                if flag in flags), None)
    l2 = ""
    try:
        l2 = Path("/sys/devices/system/cpu/cpu0/cache/index2/size").read_text().strip()
    except OSError:
        pass
    parts = [model] + ([isa] if isa else []) + [f"{os.cpu_count()} cores"]
    return ", ".join(parts + ([f"L2 {l2} per core"] if l2 else []))


def steady_allocator() -> bool:
    """Keep freed heap memory in the process (glibc ``mallopt``): a fixed mmap threshold of 32 MB and no
    trimming, so the multi-MB scratch arrays of either library reuse pages instead of faulting in fresh ones
    on every call. Why a benchmark needs it: in a VM a page fault costs microseconds, and glibc's *adaptive*
    threshold made the same kernel run 5 or 15 ms depending on what ran before it (torch's as well). Returns
    False where there is no glibc (nothing changed)."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # <malloc.h>
    return bool(mallopt(m_mmap_threshold, 32 << 20)) and bool(mallopt(m_trim_threshold, 1 << 30))

