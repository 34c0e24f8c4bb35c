"""Per-layer table of a decoder: shapes, parameters, FLOPs, receptive spans and kernel/stride overlap unevenness.

:func:`layer_table` runs one real forward pass with forward hooks and lists every layer call in forward order.
Layers it understands: our :class:`gen_media.nn.ConvTranspose1d`/``3d`` and torch's ``Conv1d/2d/3d``,
``ConvTranspose1d/2d/3d``, ``Upsample``, ``Linear`` (and ``Embedding``); every other leaf module
(activations, norms, dropout, identity) is a pass-through: listed, no FLOPs, the receptive field unchanged.

Receptive span, per spatial axis. Each position of a layer's output is tied to the interval ``[lo, hi]``
of *base* positions that reach it, where the base is the input of the first spatial layer (for our decoders,
the latent grid the ``fc`` layer reshapes into). A layer maps its output position ``o`` to the exact set of
its input positions that feed ``o`` (for a transposed convolution: ``i`` with ``o = i*stride - padding +
k*dilation`` for some tap ``k``), and ``[lo, hi]`` of ``o`` is the hull of its inputs' intervals. The table
reports ``hi - lo + 1`` as min/max over output positions (0 for a position that no sample reaches, e.g. a
dilated tap pattern that skips a phase).

The stack is read as a chain: a spatial layer continues the field of the last tensor seen with its input's
spatial shape (or starts a new one, the identity, if none). Skip connections are not followed; for the
residual ``h + conv(h)`` with a centred kernel, the skip's field lies inside the convolution's. Convolutions are
taken as zero-padded (a ``padding_mode`` of reflect/replicate/circular reads a little more at the edges).

Unevenness (transposed convolutions only): output position ``o`` of phase ``r = o mod stride`` receives
the taps ``k`` with ``k*dilation = r + padding (mod stride)``; the table reports ``max/min`` of that count
over the phases (1.0 when every phase gets as many taps, e.g. kernel = 2 x stride; ``inf`` when some phase gets
none). An uneven count is the classic checkerboard source (Odena et al., 2016).

FLOPs are ``2 x`` multiply-adds of convolutions and linear layers, for the batch that was run: a convolution
counts ``N * C_out * prod(out) * C_in/groups * prod(kernel)``; a transposed convolution counts every
(input sample, tap) pair, ``N * C_in * C_out/groups * prod(in) * prod(kernel)``, as
:attr:`kernels.Geometry.flops` (this includes the taps that padding crops away); bias adds, norms, activations
and interpolation are not counted.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from kernels import output_size

CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
TRANSPOSED = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)  # ours subclass these
KNOWN = (*CONVS, *TRANSPOSED, nn.Upsample, nn.Linear, nn.Embedding)


@dataclass
class LayerRow:
    """One layer call. ``span``/``unevenness`` have one entry per spatial axis of the output (empty when the
    output has none); ``span`` holds ``(min, max)`` over output positions, or None where it is unknown."""

    name: str
    kind: str
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    params: int
    flops: int
    span: tuple[tuple[int, int], ...] | None = None
    unevenness: tuple[float, ...] = ()
    first_call: bool = True  # False when this module ran before (its parameters are counted once in totals)
    _field: list[tuple[np.ndarray, np.ndarray]] | None = field(default=None, repr=False)


# --- one axis of one layer: the input positions that feed each output position ---------------------------------

def _conv_sources(n_in: int, n_out: int, k: int, s: int, p: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    """Conv: ``i = o*s - p + t*d`` for taps ``t``. Returns (positions (out, taps), valid mask)."""
    i = np.arange(n_out)[:, None] * s - p + d * np.arange(k)[None, :]
    return i, (i >= 0) & (i < n_in)


def _transposed_sources(n_in: int, n_out: int, k: int, s: int, p: int, d: int):
    """Transposed conv: ``i = (o + p - t*d) / s`` where that division is exact."""
    num = np.arange(n_out)[:, None] + p - d * np.arange(k)[None, :]
    i = num // s
    return i, (num % s == 0) & (i >= 0) & (i < n_in)


def _upsample_sources(n_in: int, n_out: int, mode: str, align_corners: bool | None):
    """Interpolation: nearest reads one sample, (bi/tri)linear two neighbours (torch's index rules; the scale is
    taken as ``n_in / n_out``)."""
    o = np.arange(n_out, dtype=np.float64)
    if mode == "nearest":
        i = np.minimum(np.floor(o * n_in / n_out), n_in - 1).astype(int)[:, None]
        return i, np.ones_like(i, bool)
    if mode == "nearest-exact":
        i = np.minimum(np.floor((o + 0.5) * n_in / n_out), n_in - 1).astype(int)[:, None]
        return i, np.ones_like(i, bool)
    if mode in ("linear", "bilinear", "trilinear"):
        if align_corners:
            src = o * (n_in - 1) / max(n_out - 1, 1)
        else:
            src = np.maximum((o + 0.5) * n_in / n_out - 0.5, 0.0)
        lo = np.minimum(np.floor(src).astype(int), n_in - 1)
        i = np.stack([lo, np.minimum(lo + 1, n_in - 1)], axis=1)
        return i, np.stack([np.ones(n_out, bool), src > lo], axis=1)  # a zero weight on the right is no source
    raise ValueError(f"Upsample mode: expected nearest, nearest-exact or (bi/tri)linear, got {mode!r}")


def _compose(prev: tuple[np.ndarray, np.ndarray], sources) -> tuple[np.ndarray, np.ndarray]:
    """New ``(lo, hi)`` per output position: the hull of the previous intervals of its sources."""
    lo_prev, hi_prev = prev
    i, valid = sources
    i = np.clip(i, 0, len(lo_prev) - 1)
    lo = np.where(valid, lo_prev[i], np.iinfo(np.int64).max).min(axis=1)
    hi = np.where(valid, hi_prev[i], np.iinfo(np.int64).min).max(axis=1)
    empty = ~valid.any(axis=1)
    return np.where(empty, 0, lo), np.where(empty, -1, hi)  # an empty field has span hi - lo + 1 = 0


def _identity(n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.arange(n, dtype=np.int64), np.arange(n, dtype=np.int64)


def _unevenness(k: int, s: int, p: int, d: int) -> float:
    """max/min over output phases of the number of taps each phase receives."""
    counts = [sum(1 for t in range(k) if (t * d - r - p) % s == 0) for r in range(s)]
    return math.inf if min(counts) == 0 else max(counts) / min(counts)


# --- one layer ---------------------------------------------------------------------------------------------------

def _tuple(v, nd: int) -> tuple[int, ...]:
    return tuple(v) if isinstance(v, (tuple, list)) else (v,) * nd


def _layer_sources(m: nn.Module, in_sp: tuple[int, ...], out_sp: tuple[int, ...]):
    """Per spatial axis, the sources of every output position; None for layers without a spatial map."""
    if isinstance(m, CONVS):
        if isinstance(m.padding, str):  # "same" / "valid": torch pads (total) d*(k-1) split left-heavy-last
            pads = [d * (k - 1) // 2 if m.padding == "same" else 0 for k, d in zip(m.kernel_size, m.dilation,
                                                                                     strict=True)]
        else:
            pads = m.padding
        return [_conv_sources(n, o, k, s, p, d) for n, o, k, s, p, d in
                zip(in_sp, out_sp, m.kernel_size, m.stride, pads, m.dilation, strict=True)]
    if isinstance(m, TRANSPOSED):
        return [_transposed_sources(n, o, k, s, p, d) for n, o, k, s, p, d in
                zip(in_sp, out_sp, m.kernel_size, m.stride, m.padding, m.dilation, strict=True)]
    if isinstance(m, nn.Upsample):
        return [_upsample_sources(n, o, m.mode, m.align_corners) for n, o in zip(in_sp, out_sp, strict=True)]
    return None


def _flops(m: nn.Module, x: torch.Tensor, y: torch.Tensor) -> int:
    if isinstance(m, CONVS):
        nd = len(m.kernel_size)
        batch = int(np.prod(y.shape[:-nd - 1]))
        return 2 * batch * m.out_channels * int(np.prod(y.shape[-nd:])) * (m.in_channels // m.groups) * int(
            np.prod(m.kernel_size))
    if isinstance(m, TRANSPOSED):
        nd = len(m.kernel_size)
        batch = int(np.prod(x.shape[:-nd - 1]))
        return 2 * batch * m.in_channels * (m.out_channels // m.groups) * int(np.prod(x.shape[-nd:])) * int(
            np.prod(m.kernel_size))
    if isinstance(m, nn.Linear):
        return 2 * int(np.prod(x.shape[:-1])) * m.in_features * m.out_features
    return 0


def _check_transposed_size(m: nn.Module, name: str, in_sp, out_sp) -> None:
    """The output must follow the size rule, up to an ``output_size=`` given at call time (which only changes
    output_padding, within [0, max(stride, dilation)))."""
    for n, o, k, s, p, op, d in zip(in_sp, out_sp, m.kernel_size, m.stride, m.padding, m.output_padding,
                                    m.dilation, strict=True):
        base = output_size(n, k, s, p, 0, d)
        if not (o == output_size(n, k, s, p, op, d) or 0 <= o - base < max(s, d)):
            raise RuntimeError(f"{name}: output length {o} does not follow the transposed-convolution size rule "
                               f"for input {n}, kernel {k}, stride {s}, padding {p}, dilation {d}")


# --- the table ---------------------------------------------------------------------------------------------------

def _layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Known layers wherever they are, and leaf modules outside them (a spectral-norm conv is one layer)."""
    out, inside = [], set()
    for name, m in model.named_modules():
        if any(name.startswith(p + ".") for p in inside):
            continue
        if isinstance(m, KNOWN):
            out.append((name, m))
            inside.add(name)
        elif not any(True for _ in m.children()):
            out.append((name, m))
    return out


def layer_table(model: nn.Module, input_shape: Sequence[int] | None = None,
                run: Callable[[nn.Module], object] | None = None, passthrough: bool = True) -> list[LayerRow]:
    """Run ``model`` once and list its layer calls in forward order.

    Args:
        model: any module built from the layers named in the module docstring.
        input_shape: run ``model(torch.randn(input_shape))``, or
        run: a callable ``run(model)`` that does the forward pass (e.g. with a latent and labels). Exactly one.
        passthrough: list the pass-through layers (activations, norms) too.

    The pass runs under ``torch.no_grad()`` in eval mode (the training flags are restored afterwards, so
    batch-norm statistics are not touched). When the model's returned tensor has another shape than the
    last layer's output (a crop), one more row, ``(output)``, gives that shape.
    """
    if (input_shape is None) == (run is None):
        raise ValueError("layer_table: give exactly one of input_shape or run")
    if run is None:
        shape = tuple(input_shape)

        def run(m):
            return m(torch.randn(shape))

    rows: list[LayerRow] = []
    fields: dict[tuple[int, ...], list] = {}  # spatial shape -> field of the last tensor seen with that shape
    seen: set[int] = set()
    calls_by_name: dict[str, int] = {}

    def hook(name, m, args, y):
        if not isinstance(y, torch.Tensor) or not args or not isinstance(args[0], torch.Tensor):
            return
        x = args[0]
        name = name or type(m).__name__  # the model itself, when it is a single layer
        calls = calls_by_name.get(name, 0)
        calls_by_name[name] = calls + 1
        row = LayerRow(name=name if not calls else f"{name}#{calls + 1}", kind=type(m).__name__,
                       in_shape=tuple(x.shape), out_shape=tuple(y.shape),
                       params=sum(p.numel() for p in m.parameters()), flops=_flops(m, x, y),
                       first_call=id(m) not in seen)
        seen.add(id(m))
        nd = len(m.kernel_size) if isinstance(m, (*CONVS, *TRANSPOSED)) else max(x.dim() - 2, 0)  # spatial axes
        in_sp, out_sp = tuple(x.shape[x.dim() - nd:]), tuple(y.shape[y.dim() - nd:])
        sources = _layer_sources(m, in_sp, out_sp) if nd else None
        if isinstance(m, TRANSPOSED):
            _check_transposed_size(m, name, in_sp, out_sp)
            row.unevenness = tuple(_unevenness(k, s, p, d) for k, s, p, d in
                                   zip(m.kernel_size, m.stride, m.padding, m.dilation, strict=True))
        elif nd and sources is not None:
            row.unevenness = (1.0,) * nd
        if sources is not None:
            prev = fields.get(in_sp) or [_identity(n) for n in in_sp]
            row._field = [_compose(f, s) for f, s in zip(prev, sources, strict=True)]
            fields[out_sp] = row._field
        elif y.dim() >= 3 and tuple(y.shape[2:]) == tuple(x.shape[2:]) and not isinstance(m, KNOWN):
            row._field = fields.get(tuple(y.shape[2:]))  # pass-through: the field is unchanged
        if row._field is not None:
            row.span = tuple((int((hi - lo + 1).min()), int((hi - lo + 1).max())) for lo, hi in row._field)
        if passthrough or isinstance(m, KNOWN):
            rows.append(row)

    handles = [m.register_forward_hook(lambda mod, a, y, n=name: hook(n, mod, a, y)) for name, m in _layers(model)]
    modes = {m: m.training for m in model.modules()}
    try:
        model.eval()
        with torch.no_grad():
            result = run(model)
    finally:
        for h in handles:
            h.remove()
        for m, training in modes.items():
            m.training = training
    if isinstance(result, torch.Tensor) and rows and tuple(result.shape) != rows[-1].out_shape:
        rows.append(_crop_row(rows[-1], tuple(result.shape)))
    return rows


def _crop_row(last: LayerRow, shape: tuple[int, ...]) -> LayerRow:
    """The model's own output, when it crops the last layer's (``h[..., :frames]``): the first positions keep
    their fields."""
    row = LayerRow(name="(output)", kind="crop", in_shape=last.out_shape, out_shape=shape, params=0, flops=0)
    if last._field is not None and len(shape) == len(last.out_shape):
        nd = len(last._field)
        row._field = [(lo[:n], hi[:n]) for (lo, hi), n in zip(last._field, shape[len(shape) - nd:], strict=True)]
        row.span = tuple((int((hi - lo + 1).min()), int((hi - lo + 1).max())) for lo, hi in row._field)
    return row


def _fmt_int(v: int) -> str:
    if v >= 10**9:
        return f"{v / 1e9:.2f}G"
    if v >= 10**6:
        return f"{v / 1e6:.2f}M"
    if v >= 10**4:
        return f"{v / 1e3:.1f}k"
    return str(v)


def format_table(rows: Sequence[LayerRow]) -> str:
    """An aligned text table of :func:`layer_table`'s rows, with total parameters (each module once) and FLOPs."""
    head = ("layer", "kind", "output shape", "params", "FLOPs", "span min-max per axis", "unevenness")
    lines = []
    for r in rows:
        span = " ".join(f"{a}-{b}" if a != b else str(a) for a, b in r.span) if r.span else "-"
        uneven = " ".join("inf" if math.isinf(u) else f"{u:g}" for u in r.unevenness) or "-"
        lines.append((r.name, r.kind, "x".join(map(str, r.out_shape)), _fmt_int(r.params) if r.first_call else "",
                      _fmt_int(r.flops) if r.flops else "", span, uneven))
    params = sum(r.params for r in rows if r.first_call)
    flops = sum(r.flops for r in rows)
    total = ("total", "", "", _fmt_int(params), _fmt_int(flops), "", "")
    widths = [max(len(str(c)) for c in col) for col in zip(head, *lines, total, strict=True)]
    right = {3, 4}

    def fmt(cells):
        return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths, strict=True))).rstrip()

    rule = "-" * len(fmt(head))
    return "\n".join([fmt(head), rule, *map(fmt, lines), rule, fmt(total)])
