"""Run directories: resolved config, metadata, metrics log, atomic checkpoints, RNG state, loss plots.

Layout of a run directory (``--out DIR``)::

    DIR/config.toml     the resolved config (--config + --set), loadable with --config
    DIR/meta.json       seed, gen_media/torch/python versions, command line, start time (+ one per resume)
    DIR/metrics.jsonl   one JSON object per logged step: {"step": 100, "loss": 0.52, ...}
    DIR/last.pt         latest checkpoint (written atomically)
    DIR/best.pt         checkpoint with the best validation metric so far
    DIR/losses.png      loss curves (plot_metrics)
    DIR/samples/        whatever the recipe writes while training
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import os
import platform
import random
import shlex
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gen_media.config import dump_toml, package_version
from gen_media.files import atomic_write, atomic_write_text

__all__ = [
    "CHECKPOINT_NAMES",
    "MetricsLog",
    "RunDir",
    "RunExistsError",
    "command_line",
    "load_checkpoint",
    "plot_metrics",
    "read_metrics",
    "rng_state",
    "save_checkpoint",
    "seed_everything",
    "set_rng_state",
]

CHECKPOINT_NAMES = ("last.pt", "best.pt")


class RunExistsError(FileExistsError):
    """The run directory already holds a checkpoint and neither --resume nor another --out was given."""


def command_line() -> str:
    """The command that started this process, shell-quoted (``python -m gen_media.recipes.speech ...``)."""
    argv = getattr(sys, "orig_argv", None) or [sys.executable, *sys.argv]
    return shlex.join(argv)


def resume_command() -> str:
    """This process's command line with ``--resume`` added (for "how to resume" messages).

    Under torchrun (``LOCAL_WORLD_SIZE`` set) it is a torchrun command; any number of processes may resume.
    """
    argv = list(getattr(sys, "orig_argv", None) or [sys.executable, *sys.argv])
    if "--resume" not in argv:
        argv.append("--resume")
    local = os.environ.get("LOCAL_WORLD_SIZE")
    if local is None:
        return shlex.join(argv)
    args = [a for a in argv[1:] if a != "-u"]  # torchrun starts workers as `python -u -m module ...`
    nodes = int(os.environ.get("WORLD_SIZE", local)) // max(1, int(local))
    launch = ["torchrun", f"--nproc_per_node={local}"] + ([f"--nnodes={nodes}"] if nodes > 1 else [])
    return shlex.join([*launch, *args]) + (" (with your --rdzv options)" if nodes > 1 else "")


def _now() -> str:
    return _dt.datetime.now().astimezone().isoformat(timespec="seconds")


def _write_json_atomic(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2) + "\n")


# --------------------------------------------------------------------------------------------- run directory


@dataclasses.dataclass
class RunDir:
    """A run directory. Make one with :meth:`create` (training) or :meth:`open` (reading a finished run)."""

    path: Path
    cfg: Any = None
    resume: bool = False

    @classmethod
    def create(cls, path: str | Path, cfg: Any, *, resume: bool = False, write: bool = True) -> RunDir:
        """Prepare ``path`` for training with config ``cfg`` (a dataclass).

        A directory that already holds a checkpoint is only reused with ``resume=True`` (it is never silently
        overwritten); ``resume=True`` needs ``path/last.pt``. Writes ``config.toml`` (the resolved config) and
        ``meta.json`` (on resume, ``meta.json`` keeps the original start and gains an entry in ``resumes``).
        ``write=False`` (data-parallel ranks other than 0) makes the same checks and writes nothing.
        """
        path = Path(path)
        last = path / "last.pt"
        if resume:
            if not last.is_file():
                found = sorted(p.name for p in path.iterdir()) if path.is_dir() else []
                raise FileNotFoundError(
                    f"cannot resume: no checkpoint {last}"
                    + (f" (the directory holds: {', '.join(found)})" if found else " (no such run directory)")
                    + "; start a new run without --resume"
                )
        else:
            existing = [n for n in CHECKPOINT_NAMES if (path / n).is_file()]
            if existing:
                raise RunExistsError(
                    f"{path} already holds a trained run ({', '.join(existing)}); "
                    f"pass --resume to continue it, "
                    f"or pick another --out to start a new one"
                )
        run = cls(path=path, cfg=cfg, resume=resume)
        if not write:
            return run
        path.mkdir(parents=True, exist_ok=True)
        if cfg is not None:
            dump_toml(cfg, run.config_path)
        seed = getattr(cfg, "seed", None)
        entry = {"time": _now(), "command": command_line()}
        meta: dict[str, Any] = {}
        if resume and run.meta_path.is_file():
            try:
                meta = json.loads(run.meta_path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError):
                meta = {}
        if meta:
            meta.setdefault("resumes", []).append(entry)
        else:
            meta = {
                "seed": seed,
                "config_class": f"{type(cfg).__module__}.{type(cfg).__qualname__}"
                if cfg is not None
                else None,
                "gen_media_version": package_version(),
                "torch_version": str(torch.__version__),
                "numpy_version": np.__version__,
                "python_version": platform.python_version(),
                "cuda": torch.version.cuda,
                "host": platform.node(),
                "command": entry["command"],
                "start_time": entry["time"],
            }
        _write_json_atomic(run.meta_path, meta)
        return run

    @classmethod
    def open(cls, path: str | Path) -> RunDir:
        """An existing run directory, for reading.

        ``cfg`` is None: type it with ``load_config(cls, run.config_path)``.
        """
        path = Path(path)
        if not path.is_dir():
            raise FileNotFoundError(f"run directory not found: {path}")
        return cls(path=path)

    # paths
    @property
    def config_path(self) -> Path:
        return self.path / "config.toml"

    @property
    def meta_path(self) -> Path:
        return self.path / "meta.json"

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def last_path(self) -> Path:
        return self.path / "last.pt"

    @property
    def best_path(self) -> Path:
        return self.path / "best.pt"

    @property
    def samples_dir(self) -> Path:
        """``path/samples`` (created on first access)."""
        d = self.path / "samples"
        d.mkdir(parents=True, exist_ok=True)
        return d

    def metrics(self, resume_step: int | None = None) -> MetricsLog:
        """The run's :class:`MetricsLog` (a fresh log, or on resume one cut back to ``resume_step``)."""
        return MetricsLog(self.metrics_path, resume_step=resume_step)

    def __fspath__(self) -> str:
        return str(self.path)


# --------------------------------------------------------------------------------------------- metrics


def _finite_or_str(v: Any) -> Any:
    if isinstance(v, float) and not np.isfinite(v):
        return str(v)  # "nan"/"inf": keeps every line strict JSON
    return v


class MetricsLog:
    """Appends one JSON object per logged step to ``metrics.jsonl``: ``{"step": 100, "loss": 0.5, ...}``.

    Each line is flushed when written, so the file is readable (and plottable) while training runs.
    With ``resume_step=k`` the lines with ``step > k`` (logged after the checkpoint being resumed) and any
    torn last line are dropped first, so the log of a resumed run reads like an uninterrupted one.
    """

    def __init__(self, path: str | Path, *, resume_step: int | None = None):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if resume_step is None:
            self._f = self.path.open("w", encoding="utf-8")
        else:
            kept = (
                [r for r in read_metrics(self.path) if r.get("step", 0) <= resume_step]
                if self.path.is_file()
                else []
            )
            atomic_write_text(self.path, "".join(json.dumps(r) + "\n" for r in kept))
            self._f = self.path.open("a", encoding="utf-8")

    def log(self, step: int, values: Mapping[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
        """Append ``{"step": step, **values, **kw}`` (tensors and numpy scalars become floats)."""
        row: dict[str, Any] = {"step": int(step)}
        for k, v in {**(values or {}), **kw}.items():
            if isinstance(v, torch.Tensor):
                v = v.item()
            elif isinstance(v, np.generic):
                v = v.item()
            row[k] = _finite_or_str(v)
        self._f.write(json.dumps(row) + "\n")
        self._f.flush()
        return row

    def close(self) -> None:
        if not self._f.closed:
            self._f.close()

    def __enter__(self) -> MetricsLog:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def read_metrics(run_dir_or_file: str | Path) -> list[dict[str, Any]]:
    """The rows of a ``metrics.jsonl`` (a run directory or the file); a torn last line is skipped."""
    p = Path(run_dir_or_file)
    if p.is_dir():
        p = p / "metrics.jsonl"
    rows = []
    with p.open(encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut short by a crash
            if isinstance(row, dict) and "step" in row:
                rows.append(row)
    return rows


def plot_metrics(
    run_dir: str | Path, keys: list[str] | None = None, out: str | Path | None = None
) -> Path | None:
    """Write ``losses.png`` in ``run_dir``: one panel per loss key (keys containing "loss", plus "val").

    Returns the image path, or None when the log holds nothing to plot. Uses the Agg canvas directly, so it
    never touches the global matplotlib backend.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    run_dir = Path(run_dir)
    rows = read_metrics(run_dir)
    if keys is None:
        keys = []
        for r in rows:
            for k, v in r.items():
                if (
                    k != "step"
                    and k not in keys
                    and ("loss" in k or k == "val")
                    and isinstance(v, (int, float))
                ):
                    keys.append(k)
    if not rows or not keys:
        return None
    n = len(keys)
    cols = min(n, 3)
    nrows = (n + cols - 1) // cols
    fig = Figure(figsize=(4.2 * cols, 3.0 * nrows))
    fig.subplots_adjust(
        left=0.08 if cols > 1 else 0.15,
        right=0.97,
        bottom=0.15 / nrows**0.5,
        top=0.9,
        wspace=0.3,
        hspace=0.55,
    )
    FigureCanvasAgg(fig)
    for i, k in enumerate(keys):
        ax = fig.add_subplot(nrows, cols, i + 1)
        pts = [(r["step"], r[k]) for r in rows if isinstance(r.get(k), (int, float))]
        if pts:
            xs, ys = zip(*pts, strict=True)
            ax.plot(xs, ys, marker="." if len(pts) < 50 else None, linewidth=1.2)
            if all(y > 0 for y in ys) and max(ys) / max(min(ys), 1e-30) > 100:
                ax.set_yscale("log")
        ax.set_title(k)
        ax.set_xlabel("step")
        ax.grid(True, alpha=0.3)
    out = Path(out) if out is not None else run_dir / "losses.png"
    fig.savefig(out, dpi=100)
    return out


# --------------------------------------------------------------------------------------------- checkpoints


def save_checkpoint(path: str | Path, obj: Any) -> Path:
    """``torch.save(obj)`` to ``path`` atomically: temp file in the same directory, flush + fsync, os.replace.

    A crash (or Ctrl-C) mid-write leaves the previous checkpoint intact and no temp file behind.
    """
    return atomic_write(path, lambda f: torch.save(obj, f), durable=True)


def load_checkpoint(
    run_dir_or_file: str | Path, map_location: Any = "cpu", *, weights_only: bool = True
) -> dict[str, Any]:
    """Load a checkpoint: a file, or a run directory (its ``last.pt``).

    ``weights_only=True`` (torch's safe loader) reads everything the trainer writes: tensors, numbers,
    strings and containers of them. Pass ``weights_only=False`` only for trusted files holding other objects.
    """
    p = Path(run_dir_or_file)
    if p.is_dir():
        f = p / "last.pt"
        if not f.is_file():
            found = sorted(x.name for x in p.glob("*.pt"))
            raise FileNotFoundError(
                f"no last.pt in run directory {p}"
                + (f" (checkpoints there: {', '.join(found)})" if found else " (it holds no checkpoint)")
            )
        p = f
    elif not p.is_file():
        raise FileNotFoundError(f"checkpoint not found: {p}")
    return torch.load(p, map_location=map_location, weights_only=weights_only)


# --------------------------------------------------------------------------------------------- RNG state


def seed_everything(seed: int) -> None:
    """Seed python ``random``, numpy's global RNG and torch (CPU and every CUDA device)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds all CUDA devices


def rng_state() -> dict[str, Any]:
    """The global RNG states (python random, numpy, torch CPU, and CUDA when it is in use).

    Stored as tensors/ints/tuples only, so a checkpoint holding it loads with ``weights_only=True``.
    """
    name, key, pos, has_gauss, cached = np.random.get_state(legacy=True)
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {
            "bit_generator": str(name),
            "key": torch.from_numpy(np.asarray(key, dtype=np.int64).copy()),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "torch": torch.get_rng_state(),
        "cuda": None,
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restore the states captured by :func:`rng_state`."""
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    n = state["numpy"]
    np.random.set_state(
        (
            n["bit_generator"],
            n["key"].numpy().astype(np.uint32),
            n["pos"],
            n["has_gauss"],
            n["cached_gaussian"],
        )
    )
    torch.set_rng_state(state["torch"].cpu())
    cuda = state.get("cuda")
    if cuda is not None and torch.cuda.is_available():
        if len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all([s.cpu() for s in cuda])
        else:
            import warnings

            warnings.warn(
                f"checkpoint has CUDA RNG states for {len(cuda)} devices, this machine has "
                f"{torch.cuda.device_count()}: CUDA RNG not restored",
                stacklevel=2,
            )
