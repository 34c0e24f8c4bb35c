"""Fuzz the public kernel API with any arguments, valid or not: ``python tests/fuzz_kernels.py N``.

Every Numba function of ``kernels.cpu`` and ``kernels.cpu1d`` is recompiled serially with bounds checking first
(:func:`bounds_checked`), so an index out of bounds inside a kernel raises IndexError instead of
reading or writing stray memory. The contract checked, per call:

* valid problems (any layout: strided, Fortran-ordered, unbatched) give torch's result;
* anything else raises ValueError or TypeError (never IndexError, never another error, never a
  crash of the process);
* whatever call we accept, torch accepts too and gives the same result (we may refuse more: bools as ints,
  float16), so a mistake that slips through our checks shows as a call torch refuses or answers otherwise.

``tests/test_kernels_fuzz.py`` runs this in a subprocess; it prints ``fuzzed N calls`` at the end.
"""

from __future__ import annotations

import sys
import warnings

import numpy as np
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kernel_cases import BACKWARD, FORWARD, TOL, TORCH, cases, phase_cases, phases_match_reference
from numba import njit
from numba.core.registry import CPUDispatcher as Dispatcher

import kernels.cpu
import kernels.cpu1d

# Invalid arguments must raise ValueError / TypeError. A valid call whose output cannot exist (dilation 1e12 makes
# a 3.6 TiB output) may instead fail where it allocates, with NumPy's MemoryError naming the size: it never
# reaches a kernel, and that is the honest answer (drawn by chance: it failed 2 of 5 runs of this fuzzer).
ALLOWED = (ValueError, TypeError, MemoryError)
calls = 0

# Scalars and tuples an argument might be given: the valid ones and every common mistake.
any_int = st.integers(-3, 6)
any_scalar = st.one_of(
    any_int, st.floats(allow_nan=True, allow_infinity=True), st.booleans(), st.none(),
    st.text(max_size=2), st.sampled_from([np.int64(2), np.float32(1.0), 10**12, -(10**12)]),
)
any_arg = st.one_of(any_int, any_int, any_scalar, st.tuples(any_int), st.tuples(any_int, any_int, any_int),
                    st.lists(any_scalar, max_size=4).map(tuple))
dtypes = st.sampled_from([np.float32, np.float32, np.float64, np.float16, np.int32, np.complex64, np.bool_])


@st.composite
def any_array(draw, max_ndim=6):
    """An array of any rank (0-6), size (zeros included), dtype and memory layout; or not an array."""
    if draw(st.integers(0, 19)) == 0:
        return draw(st.sampled_from([None, 3, "x", [[1.0, 2.0]], object()]))
    shape = tuple(draw(st.lists(st.integers(0, 4), max_size=max_ndim)))
    a = np.random.default_rng(draw(st.integers(0, 9))).standard_normal(shape).astype(draw(dtypes))
    layout = draw(st.sampled_from(["c", "f", "strided", "nan"]))
    if layout == "f":
        a = np.asfortranarray(a)
    elif layout == "strided" and a.ndim:
        a = np.repeat(a, 2, axis=-1)[..., ::2]
    elif layout == "nan" and a.size and a.dtype.kind == "f":
        a.flat[0] = np.nan
    return a


@st.composite
def any_call(draw):
    """(nd, forward?, kwargs): a valid problem with some of its arguments replaced by anything."""
    case = draw(cases(max_channels=3))
    kw = dict(input=case.x, weight=case.w, **case.kwargs)
    forward = draw(st.booleans())
    if forward:
        kw["bias"] = case.b
    else:
        out = FORWARD[case.nd](case.x, case.w, None, **case.kwargs)
        kw["grad_output"] = np.ones_like(out)
        kw["output_mask"] = (True, True, True)
    for name in list(kw):
        if draw(st.integers(0, 5)) == 0:  # about one argument in six
            kw[name] = draw(ARGUMENT[name])
    return case.nd, forward, kw


ARGUMENT = dict(
    input=any_array(), weight=any_array(), grad_output=any_array(), bias=st.one_of(st.none(), any_array(2)),
    stride=any_arg, padding=any_arg, output_padding=any_arg, dilation=any_arg,
    groups=st.one_of(any_int, any_scalar), output_mask=st.lists(st.booleans(), max_size=4).map(tuple),
)


def bounds_checked(module) -> None:
    """Recompile every Numba function of ``module`` serially with bounds checking.

    NUMBA_BOUNDSCHECK does not reach inside ``prange`` loops (parallel lowering skips it), so the
    fuzzer swaps each dispatcher for a serial, checked twin before the first call compiles anything.
    """
    for name, obj in list(vars(module).items()):
        if isinstance(obj, Dispatcher):
            setattr(module, name, njit(boundscheck=True)(obj.py_func))


def _strided_copy(a: np.ndarray, how: str) -> np.ndarray:
    if how == "f":
        return np.asfortranarray(a)
    if how == "strided":
        return np.repeat(a, 2, axis=-1)[..., ::2]
    return a


SETTINGS = settings(deadline=None, database=None, suppress_health_check=list(HealthCheck))


CONV_ARGS = ("stride", "padding", "output_padding", "groups", "dilation")


def torch_answer(nd: int, forward: bool, kw: dict) -> tuple:
    """torch's result for a call we accepted: ``(output,)`` or ``(grad_input, grad_weight, grad_bias)``. Arrays go
    over as C-ordered copies (ours accepted them as arrays); an exception of torch's propagates."""
    t = lambda a: None if a is None else torch.from_numpy(np.array(a))  # noqa: E731
    conv = {k: kw[k] for k in CONV_ARGS if k in kw}
    if forward:
        return (TORCH[nd](t(kw["input"]), t(kw["weight"]), t(kw.get("bias")), **conv).numpy(),)
    x, w, go = t(kw["input"]).requires_grad_(), t(kw["weight"]).requires_grad_(), t(kw["grad_output"])
    y = TORCH[nd](x, w, None, **conv)
    gx, gw = torch.autograd.grad(y, (x, w), go)
    channel = y.ndim - nd - 1  # 0 unbatched, else 1
    gb = go.sum(dim=[d for d in range(go.ndim) if d != channel])
    return gx.numpy(), gw.numpy(), gb.numpy()


def fuzz_any(n: int) -> None:
    @settings(SETTINGS, max_examples=n)
    @given(any_call())
    def check(call):
        global calls
        nd, forward, kw = call
        calls += 1
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                ours = (FORWARD if forward else BACKWARD)[nd](**kw)
            except ALLOWED:
                return
        ours = (ours,) if forward else ours
        try:
            theirs = torch_answer(nd, forward, kw)
        except Exception as e:
            raise AssertionError(f"we accepted a call torch refuses ({type(e).__name__}: {e})") from None
        for o, t in zip(ours, theirs, strict=True):
            if o is not None:  # output_mask drops a gradient
                assert o.shape == t.shape and o.dtype == t.dtype, (o.shape, o.dtype, t.shape, t.dtype)
                np.testing.assert_allclose(o, t, **TOL[o.dtype.type])

    check()


def fuzz_valid(n: int) -> None:
    @settings(SETTINGS, max_examples=n)
    @given(cases(max_channels=3), st.sampled_from(["c", "f", "strided"]))
    def check(case, layout):
        global calls
        calls += 1
        x, w = _strided_copy(case.x, layout), _strided_copy(case.w, layout)
        ours = FORWARD[case.nd](x, w, case.b, **case.kwargs)
        go = np.random.default_rng(3).standard_normal(ours.shape).astype(case.dtype)
        grads = BACKWARD[case.nd](_strided_copy(go, layout), x, w, **case.kwargs)
        theirs, theirs_grads = case.torch_forward_backward(go)
        np.testing.assert_allclose(ours, theirs, **TOL[case.dtype])
        for o, t in zip(grads, theirs_grads, strict=True):
            if t is not None:
                np.testing.assert_allclose(o, t, **TOL[case.dtype])

    check()


def fuzz_phases(n: int) -> None:
    """cpu1d.forward_phases directly, on layouts the plan gives it only for wide layers (so fuzz_valid's small
    problems never reach it): any channels, groups, dilation and blocks."""
    @settings(SETTINGS, max_examples=n)
    @given(phase_cases())
    def check(drawn):
        global calls
        calls += 1
        phases_match_reference(drawn)

    check()


if __name__ == "__main__":
    torch.set_num_threads(1)
    for module in (kernels.cpu, kernels.cpu1d):
        bounds_checked(module)
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    fuzz_valid(n // 4)
    fuzz_phases(n // 4)
    fuzz_any(n)
    print(f"fuzzed {calls} calls")
