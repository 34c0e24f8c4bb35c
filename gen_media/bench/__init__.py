"""Benchmarks: kernels (CPU), gpu (CUDA), training (end to end), vocoding, upsampling; shared helpers."""

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

