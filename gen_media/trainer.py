"""One training loop for every recipe (speech and video): progress bar, metrics, samples, checkpoints, resume.

A recipe builds its models, optimizers and data, wraps them in a *task* object and hands that to
:class:`Trainer`::

    class Task:                                    # the protocol (see TrainTask)
        def train_step(self, batch, step) -> dict[str, float]   # one optimizer step; {"loss": ...}
        def state_dict(self) -> dict                            # models + optimizers + schedulers
        def load_state_dict(self, state) -> None
        # optional:
        def validate(self) -> float                             # lower is better; decides best.pt
        def sample(self, run, step) -> None                     # write samples under run.samples_dir
        def extra_state(self) -> dict                           # -> checkpoint["extra"] (mel config, stats)

    run = RunDir.create(args.out, cfg, resume=args.resume)
    seed_everything(cfg.seed)
    task = SpeechTask(cfg)                         # builds the models (resume overwrites their state)
    batches = EpochSampler(len(ds), cfg.train.batch_size, seed=cfg.seed, fetch=ds.batch)
    Trainer(run, task, batches, cfg.train).fit()   # cfg.train: a LoopConfig (or a subclass with lr, ...)

Resume is exact: the checkpoint holds the step, the task's state, the batch source's position, every
global RNG state and the loss accumulator, and ``validate``/``sample`` run on a copy of the RNG state (they
never shift the training stream), so a run stopped at step k and resumed logs the same losses at every later
step as a run that never stopped (in one CPU process; CUDA kernels may be nondeterministic on their own, and
under torchrun the ranks above 0 draw their random streams anew on resume). A second Ctrl-C stops inside the step
in flight: the checkpoint then holds the state from before that step except the models' partial update.
"""

from __future__ import annotations

import dataclasses
import math
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
import torch
from tqdm.auto import tqdm

from gen_media import distributed
from gen_media.config import package_version, to_dict
from gen_media.runs import (
    RunDir,
    load_checkpoint,
    plot_metrics,
    resume_command,
    rng_state,
    save_checkpoint,
    set_rng_state,
)

__all__ = [
    "CHECKPOINT_FORMAT",
    "EpochSampler",
    "FitResult",
    "LoopConfig",
    "NonFiniteLossError",
    "Trainer",
    "TrainingInterrupted",
    "TrainTask",
]

CHECKPOINT_FORMAT = 1


@runtime_checkable
class TrainTask(Protocol):
    """What :class:`Trainer` needs from a recipe. ``validate``, ``sample`` and ``extra_state`` are optional.

    - ``train_step(batch, step)``: one optimizer step on ``batch``; returns scalar values by name (floats or
      0-d tensors). Keys containing ``"loss"`` are checked for NaN/inf; every key is logged and shown.
    - ``state_dict()`` / ``load_state_dict(state)``: everything the task updates (models, optimizers,
      schedulers, EMA weights, GAN balance terms ...), as tensors/numbers/containers (``weights_only``
      loadable).
    - ``validate() -> float`` (optional): a metric, lower is better; its improvements write ``best.pt``. It may
      return a mapping instead: ``"val"`` is that metric and the other entries are logged beside it.
    - ``sample(run, step)`` (optional): write samples (``run.samples_dir``).
    - ``extra_state() -> dict`` (optional): saved as ``checkpoint["extra"]`` for generation (mel settings,
      normalization statistics, label names).
    - ``skips_nonfinite = True`` (optional attribute): ``train_step`` checks the loss and gradients before each
      optimizer step, never applies a non-finite update, and reports a dropped one as ``"skipped": 1``
      (needed for ``nonfinite="skip"``; see :class:`gen_media.tasks.GenerativeTask`).

    ``validate`` and ``sample`` run under ``torch.no_grad()`` with the RNG state saved and restored around
    them; switching models to ``eval()`` and back to ``train()`` is the task's job.
    """

    def train_step(self, batch: Any, step: int) -> Mapping[str, Any]: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: Mapping[str, Any]) -> None: ...


@dataclasses.dataclass
class LoopConfig:
    """Loop settings. A recipe's ``TrainConfig`` can subclass this to add its own fields (lr, batch_size ...).

    Intervals count optimizer steps; 0 means "only at the end" (``val_every=0``: with each checkpoint).
    """

    steps: int = 1000  # total optimizer steps (raise it with --resume --set train.steps=N to extend a run)
    log_every: int = 10  # mean of the losses over the last N steps -> metrics.jsonl
    sample_every: int = 0  # task.sample(run, step) every N steps and at the end
    checkpoint_every: int = 500  # last.pt every N steps and at the end
    val_every: int = 0  # task.validate() every N steps (0: at each checkpoint); improvements -> best.pt
    nonfinite: Literal["stop", "skip"] = "stop"  # NaN/inf loss or gradient: "stop" training, or "skip" the update
    max_skipped: int = 10  # nonfinite="skip": stop after more than this many skipped steps in a row

    def __post_init__(self) -> None:
        for f in dataclasses.fields(LoopConfig):
            v = getattr(self, f.name)
            if f.name == "nonfinite":
                if v not in NONFINITE_MODES:
                    raise ValueError(f"nonfinite: expected one of {list(NONFINITE_MODES)}, got {v!r}")
            elif not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise ValueError(f"{f.name}: expected an int >= 0, got {v!r}")


NONFINITE_MODES = ("stop", "skip")


class NonFiniteLossError(FloatingPointError):
    """A loss came out NaN or infinite; training stopped without overwriting the last good checkpoint."""


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM: ``last.pt`` was written (``.checkpoint``, at ``.step``); recipes exit with
    ``.exit_code`` (128 + the signal number: 130 for Ctrl-C, 143 for SIGTERM)."""

    def __init__(self, message: str, step: int, checkpoint: Path, signum: int = signal.SIGINT):
        super().__init__(message)
        self.step = step
        self.checkpoint = checkpoint
        self.signum = int(signum)

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


class _NoLog:
    """The metrics log of ranks other than 0, which write nothing."""

    def log(self, step: int, values: Mapping[str, Any]) -> None:
        pass

    def close(self) -> None:
        pass


@dataclasses.dataclass
class FitResult:
    step: int  # steps completed
    losses: dict[str, float]  # the last logged means
    best_metric: float | None  # best validate() value, if the task validates
    last_path: Path
    best_path: Path | None


# --------------------------------------------------------------------------------------------- batches


class EpochSampler:
    """An endless stream of shuffled mini-batches over ``range(n)``, whose position can be saved and restored.

    Each epoch is a fresh permutation drawn from its own generator seeded by ``(seed, epoch)``, independent of
    the global RNGs, so ``state_dict() = {epoch, index, seed, ...}`` pins down every batch to come.
    Yields int64 index tensors of shape ``(batch_size,)``, or ``fetch(indices)`` when ``fetch`` is given
    (e.g. ``fetch=lambda i: (mels[i], labels[i])``).
    With ``drop_last=True`` every batch is full and an epoch has ``n // batch_size`` batches.

    Data parallel: ``batch_size`` is the *global* batch and each of ``world_size`` ranks gets every
    ``world_size``-th index of it, from ``rank`` on (``batch_size / world_size`` each). All ranks draw the same
    permutations (same seed), so the position (``state_dict``) is the same on every rank and a run saved with
    N processes resumes with M.
    """

    def __init__(
        self,
        n: int,
        batch_size: int,
        *,
        seed: int = 0,
        shuffle: bool = True,
        drop_last: bool = True,
        fetch: Callable[[torch.Tensor], Any] | None = None,
        rank: int = 0,
        world_size: int = 1,
    ):
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"n: expected the dataset size, an int >= 1, got {n!r}")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size: expected an int >= 1, got {batch_size!r}")
        if drop_last and batch_size > n:
            raise ValueError(
                f"batch_size={batch_size} is larger than the dataset (n={n}) with drop_last=True: "
                f"lower the batch size or pass drop_last=False"
            )
        if not 0 <= rank < world_size:
            raise ValueError(f"rank: expected 0 <= rank < world_size={world_size}, got {rank!r}")
        if batch_size % world_size:
            raise ValueError(
                f"batch_size={batch_size} (the global batch) does not split over {world_size} processes: "
                f"pick a multiple of {world_size}, e.g. "
                f"--set train.batch_size={batch_size // world_size * world_size or world_size}"
            )
        self.n, self.batch_size, self.seed = n, batch_size, int(seed)
        self.rank, self.world_size = rank, world_size
        self.shuffle, self.drop_last, self.fetch = shuffle, drop_last, fetch
        self.epoch = 0
        self.index = 0  # position inside the epoch's permutation
        self._perm_epoch: int | None = None
        self._perm: np.ndarray | None = None

    @property
    def batches_per_epoch(self) -> int:
        return self.n // self.batch_size if self.drop_last else -(-self.n // self.batch_size)

    def _permutation(self) -> np.ndarray:
        if self._perm_epoch != self.epoch:
            if self.shuffle:
                self._perm = np.random.default_rng([self.seed, self.epoch]).permutation(self.n)
            else:
                self._perm = np.arange(self.n)
            self._perm_epoch = self.epoch
        assert self._perm is not None
        return self._perm

    def __iter__(self) -> EpochSampler:
        return self

    def __next__(self) -> Any:
        end = self.n - self.n % self.batch_size if self.drop_last else self.n
        if self.index >= end:
            self.epoch += 1
            self.index = 0
        perm = self._permutation()
        idx = torch.from_numpy(perm[self.index : self.index + self.batch_size].astype(np.int64))  # (B,)
        self.index += len(idx)
        idx = idx[self.rank :: self.world_size]  # (B / world_size,) this rank's shard
        return self.fetch(idx) if self.fetch is not None else idx

    def state_dict(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "index": self.index,
            "seed": self.seed,
            "n": self.n,
            "batch_size": self.batch_size,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if state.get("n") != self.n or state.get("batch_size") != self.batch_size:
            warnings.warn(
                f"resuming the batch order with a different dataset size or batch size (checkpoint: "
                f"n={state.get('n')}, batch_size={state.get('batch_size')}; now: n={self.n}, "
                f"batch_size={self.batch_size}): starting a fresh epoch, so batches differ from an "
                "unbroken run",
                stacklevel=2,
            )
            self.seed, self.epoch, self.index = int(state["seed"]), int(state["epoch"]) + 1, 0
            return
        self.seed, self.epoch, self.index = int(state["seed"]), int(state["epoch"]), int(state["index"])


# --------------------------------------------------------------------------------------------- trainer


def _as_float(v: Any) -> float:
    if isinstance(v, torch.Tensor):
        return float(v.detach().item())
    return float(v)


def _config_diff(old: Any, new: Any, prefix: str = "") -> list[str]:
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        out = []
        for k in sorted(set(old) | set(new), key=str):
            out += _config_diff(old.get(k), new.get(k), f"{prefix}.{k}" if prefix else str(k))
        return out
    if isinstance(old, (list, tuple)) and isinstance(new, (list, tuple)):
        old, new = list(old), list(new)
    return [] if old == new else [f"{prefix}: {old!r} -> {new!r}"]


class Trainer:
    """Runs ``loop.steps`` optimizer steps of ``task`` on ``batches``, writing into ``run``.

    Parameters
    ----------
    run: the :class:`RunDir` (its ``cfg`` is stored in every checkpoint; ``run.resume`` selects resuming).
    task: a :class:`TrainTask`.
    batches: an iterator of batches (``next(batches)`` each step). If it has
        ``state_dict``/``load_state_dict`` (like :class:`EpochSampler`), its position is checkpointed and
        resume is exact.
    loop: a :class:`LoopConfig` or any object with its attributes (e.g. a recipe's ``TrainConfig``).
    resume: overrides ``run.resume``.
    progress: show the tqdm bar.
    plot: redraw ``losses.png`` with each ``last.pt``.

    Per step: ``train_step``; NaN/inf in a loss raises :class:`NonFiniteLossError` (last.pt is kept as is), or
    with ``loop.nonfinite="skip"`` the task drops that update (see :meth:`_check_finite`); every ``log_every``
    steps the mean losses go to ``metrics.jsonl``; when due, ``validate`` (its value is logged as ``"val"``; an
    improvement writes ``best.pt``), ``last.pt`` (+ ``losses.png``), then ``sample``.
    Ctrl-C or SIGTERM finishes the current step, writes ``last.pt``, prints the resume command and raises
    :class:`TrainingInterrupted`; a second Ctrl-C stops at once (the step in flight is dropped).

    Under torchrun (:mod:`gen_media.distributed`) every rank runs this loop on its shard; the logged values
    are the means over ranks, a stop signal on any rank stops all of them after the same step, and rank 0
    alone validates, samples and writes files.
    """

    def __init__(
        self,
        run: RunDir,
        task: TrainTask,
        batches: Any,
        loop: Any = None,
        *,
        resume: bool | None = None,
        progress: bool = True,
        plot: bool = True,
    ):
        loop = LoopConfig() if loop is None else loop
        missing = [f.name for f in dataclasses.fields(LoopConfig) if not hasattr(loop, f.name)]
        if missing:
            raise TypeError(f"loop: expected a LoopConfig-like object, {type(loop).__name__} lacks {missing}")
        for name in ("train_step", "state_dict", "load_state_dict"):
            if not callable(getattr(task, name, None)):
                raise TypeError(f"task: expected a TrainTask, {type(task).__name__} has no method {name}()")
        if loop.nonfinite == "skip" and not getattr(task, "skips_nonfinite", False):
            raise TypeError(
                f'nonfinite="skip" needs a task that checks the loss and gradients before its optimizer step '
                f"and reports 'skipped' (skips_nonfinite = True, like GenerativeTask); "
                f"{type(task).__name__} does not: use nonfinite=\"stop\""
            )
        self.run, self.task, self.loop = run, task, loop
        self.batches = batches
        self._iter: Iterator[Any] = batches if hasattr(batches, "__next__") else iter(batches)
        self.resume = run.resume if resume is None else resume
        self.main = distributed.is_main()
        self.progress = progress and self.main
        self.plot = plot
        self.step = 0
        self.best_metric: float | None = None
        self._acc: dict[str, float] = {}
        self._acc_n = 0
        self._skipped = 0  # skipped steps since the last log row
        self._skips_in_a_row = 0
        self._last_logged: dict[str, float] = {}
        self._signal: int | None = None  # the first stop signal this process received
        self._stop = False  # every rank agrees to stop before the next step

    # ----------------------------------------------------------------------------------- checkpoint contents

    def _batches_state(self) -> Any:
        sd = getattr(self.batches, "state_dict", None)
        return sd() if callable(sd) else None

    def _loop_state(self) -> dict[str, Any]:
        return {"acc_sum": dict(self._acc), "acc_n": self._acc_n, "skipped": self._skipped,
                "skips_in_a_row": self._skips_in_a_row}

    def checkpoint_dict(
        self,
        *,
        step: int | None = None,
        batches_state: Any = None,
        rng: Any = None,
        loop_state: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Everything :meth:`fit` needs to continue exactly (defaults: the current state)."""
        cfg = self.run.cfg
        extra = getattr(self.task, "extra_state", None)
        return {
            "format": CHECKPOINT_FORMAT,
            "step": self.step if step is None else step,
            "task": self.task.state_dict(),
            "batches": self._batches_state() if batches_state is None else batches_state,
            "rng": rng_state() if rng is None else rng,
            "config": to_dict(cfg) if dataclasses.is_dataclass(cfg) else None,
            "config_class": f"{type(cfg).__module__}.{type(cfg).__qualname__}" if cfg is not None else None,
            "extra": dict(extra()) if callable(extra) else {},
            "best_metric": self.best_metric,
            "loop": self._loop_state() if loop_state is None else loop_state,
            "versions": {"gen_media": package_version(), "torch": str(torch.__version__)},
            "time": time.time(),
        }

    def _restore(self) -> int:
        ckpt = load_checkpoint(self.run.last_path, map_location="cpu")
        if ckpt.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(
                f"{self.run.last_path}: checkpoint format {ckpt.get('format')!r}, this trainer reads "
                f"{CHECKPOINT_FORMAT}"
            )
        cfg = self.run.cfg
        if ckpt.get("config") is not None and dataclasses.is_dataclass(cfg):
            diff = _config_diff(ckpt["config"], to_dict(cfg))
            if diff:
                self._say("resuming with a changed config:\n  " + "\n  ".join(diff))
        self.task.load_state_dict(ckpt["task"])
        load = getattr(self.batches, "load_state_dict", None)
        if ckpt.get("batches") is not None and callable(load):
            load(ckpt["batches"])
        else:
            warnings.warn("the batch source has no saved position: resume is not exact", stacklevel=3)
        self.best_metric = ckpt.get("best_metric")
        if self.run.best_path.is_file():  # best.pt may be newer than last.pt (val_every < checkpoint_every)
            try:
                best = torch.load(self.run.best_path, map_location="cpu", weights_only=True, mmap=True)
                b = best.get("best_metric")
                if b is not None and (self.best_metric is None or b < self.best_metric):
                    self.best_metric = b
            except Exception as e:  # an unreadable best.pt must not block resuming
                warnings.warn(f"could not read {self.run.best_path}: {e}", stacklevel=3)
        loop_state = ckpt.get("loop") or {}
        self._acc = dict(loop_state.get("acc_sum", {}))
        self._acc_n = int(loop_state.get("acc_n", 0))
        self._skipped = int(loop_state.get("skipped", 0))
        self._skips_in_a_row = int(loop_state.get("skips_in_a_row", 0))
        self.step = int(ckpt["step"])
        set_rng_state(ckpt["rng"])  # last: nothing above may draw from the restored stream
        return self.step

    # ----------------------------------------------------------------------------------- helpers

    def _say(self, msg: str) -> None:
        if self.main:
            tqdm.write(msg, file=sys.stderr)

    @staticmethod
    def _due(done: int, every: int, total: int) -> bool:
        return done == total or (every > 0 and done % every == 0)

    def _isolated(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` without grad and without moving the training RNG stream."""
        state = rng_state()
        try:
            with torch.no_grad():
                return fn()
        finally:
            set_rng_state(state)

    def _save_last(self, ckpt: dict[str, Any] | None = None) -> Path:
        if not self.main:
            return self.run.last_path
        save_checkpoint(self.run.last_path, ckpt if ckpt is not None else self.checkpoint_dict())
        if self.plot:
            try:
                plot_metrics(self.run.path)
            except Exception as e:  # a plot must never stop training
                warnings.warn(f"could not plot metrics: {e}", stacklevel=2)
        return self.run.last_path

    def _on_signal(self, signum: int, frame: Any) -> None:
        if self._signal is not None:
            if signum == signal.SIGINT:  # second Ctrl-C: stop now
                raise KeyboardInterrupt
            return
        self._signal = signum
        again = " (Ctrl-C again to stop at once)" if signum == signal.SIGINT else ""
        self._say(f"\n{_signal_name(signum)}: finishing this step, then writing last.pt{again}")

    def _install_handlers(self) -> dict[int, Any]:
        """SIGINT and SIGTERM -> :meth:`_on_signal` (only the main thread may set handlers); the old ones."""
        if threading.current_thread() is not threading.main_thread():
            return {}
        return {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}

    def _sync(self, values: dict[str, float]) -> dict[str, float]:
        """Means of ``values`` over the ranks, and whether any rank got a stop signal (-> ``self._stop``)."""
        w = distributed.world()
        if not w.distributed:
            self._stop = self._signal is not None
            return values
        flat = torch.tensor([float(self._signal is not None), *values.values()], dtype=torch.float64)
        flat = distributed.sum_tensor(flat)
        self._stop = bool(flat[0] > 0)
        return {k: float(v) / w.size for k, v in zip(values, flat[1:].tolist(), strict=True)}

    def _check_finite(self, values: dict[str, float], done: int) -> bool:
        """True when this step's update counts. A non-finite loss (or an update the task dropped, reported as
        ``skipped``) raises :class:`NonFiniteLossError` with ``nonfinite="stop"``; with ``"skip"`` the step
        is counted as skipped, until more than ``max_skipped`` in a row."""
        skipped = values.pop("skipped", 0.0) > 0
        checked = {k: v for k, v in values.items() if "loss" in k} or values
        bad = any(not math.isfinite(v) for v in checked.values())
        if not (bad or skipped):
            self._skips_in_a_row = 0
            return True
        if self.loop.nonfinite == "stop" or not skipped:
            raise NonFiniteLossError(self._nonfinite_message(done, values, skipped))
        self._skipped += 1
        self._skips_in_a_row += 1
        if self._skips_in_a_row > self.loop.max_skipped:
            raise NonFiniteLossError(
                self._nonfinite_message(done, values, skipped, f"{self._skips_in_a_row} steps in a row skipped")
            )
        return False

    def _log_row(self, done: int, total: int) -> dict[str, float]:
        if not self._due(done, self.loop.log_every, total):
            return {}
        row = {k: s / self._acc_n for k, s in self._acc.items()} if self._acc_n else {}
        if self.loop.nonfinite == "skip":
            row["skipped"] = float(self._skipped)
        self._last_logged = dict(row)
        self._acc, self._acc_n, self._skipped = {}, 0, 0
        return row

    def _validate(self, row: dict[str, float], done: int) -> bool:
        """Run ``validate`` into ``row``; True when it improved on the best value."""
        m = self._isolated(self.task.validate)
        if isinstance(m, Mapping):  # {"val": metric, other logged values ...}
            m = dict(m)
            row.update({k: _as_float(v) for k, v in m.items() if k != "val"})
            m = m.get("val")
        if m is None:
            return False
        m = _as_float(m)
        row["val"] = m
        if not math.isfinite(m):
            warnings.warn(f"validate() returned {m} at step {done}", stacklevel=3)
            return False
        if self.best_metric is None or m < self.best_metric:
            self.best_metric = m
            return True
        return False

    # ----------------------------------------------------------------------------------- the loop

    def fit(self) -> FitResult:
        total = int(self.loop.steps)
        start = self._restore() if self.resume else 0
        distributed.fork_rng()
        metrics = self.run.metrics(resume_step=start if self.resume else None) if self.main else _NoLog()
        if start >= total:
            self._say(
                f"{self.run.path}: already at step {start} of {total}; nothing to do "
                f"(raise the step count, e.g. --set train.steps={max(total, start) * 2}, to continue)"
            )
            metrics.close()
            return self._result()

        old_handlers = self._install_handlers()
        bar = tqdm(
            total=total,
            initial=start,
            desc=self.run.path.name,
            dynamic_ncols=True,
            disable=not self.progress,
            file=sys.stderr,
        )
        pre: tuple[int, Any, Any, dict[str, Any]] | None = None
        in_step = False
        try:
            for step in range(start, total):
                if self._stop or (self._signal is not None and not distributed.world().distributed):
                    raise KeyboardInterrupt  # alone, stop at once; with others, after the step all agreed on
                # The state before this step, for a Ctrl-C that lands inside train_step.
                pre = (step, self._batches_state(), rng_state(), self._loop_state())
                in_step = True
                batch = next(self._iter)
                out = self.task.train_step(batch, step)
                in_step = False
                values = self._sync({k: _as_float(v) for k, v in out.items()})
                done = step + 1
                if self._check_finite(values, done):
                    for k, v in values.items():
                        self._acc[k] = self._acc.get(k, 0.0) + v
                    self._acc_n += 1
                self.step = done
                self._after_step(done, total, metrics)
                bar.update(1)
                bar.set_postfix({k: f"{v:.4g}" for k, v in values.items()}, refresh=False)
        except KeyboardInterrupt:
            bar.close()
            self._interrupted(in_step, pre, total)
        finally:
            bar.close()
            metrics.close()
            for s, h in old_handlers.items():
                signal.signal(s, h)
        return self._result()

    def _after_step(self, done: int, total: int, metrics: Any) -> None:
        """Log, validate, checkpoint and sample as due (rank 0 only: the others write nothing)."""
        row = self._log_row(done, total)
        if not self.main:
            return
        ckpt_due = self._due(done, self.loop.checkpoint_every, total)
        val_due = ckpt_due if self.loop.val_every == 0 else self._due(done, self.loop.val_every, total)
        improved = callable(getattr(self.task, "validate", None)) and val_due and self._validate(row, done)
        if row:
            metrics.log(done, row)
        if ckpt_due or improved:
            ckpt = self.checkpoint_dict()
            if ckpt_due:
                self._save_last(ckpt)
            if improved:
                save_checkpoint(self.run.best_path, ckpt)
        sample = getattr(self.task, "sample", None)
        if callable(sample) and self._due(done, self.loop.sample_every, total):
            self._isolated(lambda: sample(self.run, done))

    def _interrupted(self, in_step: bool, pre: Any, total: int) -> None:
        """Write last.pt after a stop signal (or Ctrl-C inside a step), print how to resume, and raise."""
        inexact = ""
        if in_step and pre is not None:
            # Interrupted inside train_step: the step, data position, RNG and loss sums from before it, so a
            # resume runs that step again. The models keep what the step had already changed (batch-norm
            # statistics from its forward, a GAN's discriminator update, part of an optimizer update): keeping
            # a copy of them before every step would cost more than the exactness of a double Ctrl-C is worth.
            step, bstate, rng, loop_state = pre
            self.step = step
            self._save_last(self.checkpoint_dict(step=step, batches_state=bstate, rng=rng, loop_state=loop_state))
            inexact = (f" (stopped inside step {step + 1}: the models keep that step's partial update, so the "
                       "resumed run will not log exactly what an unbroken run logs)")
        else:
            self._save_last()
        signum = self._signal if self._signal is not None else signal.SIGINT
        if self._signal is None and distributed.world().distributed:
            how = "another process got a stop signal"
        else:
            how = _signal_name(signum)
        msg = (
            f"Interrupted ({how}) at step {self.step}/{total}; wrote {self.run.last_path}{inexact}. Resume with:\n"
            f"  {resume_command()}"
        )
        self._say(msg)
        raise TrainingInterrupted(msg, self.step, self.run.last_path, signum) from None

    def _nonfinite_message(self, step: int, values: Mapping[str, float], skipped: bool, why: str = "") -> str:
        shown = ", ".join(f"{k}={v:.6g}" for k, v in values.items())
        what = why or ("non-finite gradient" if skipped and all(map(math.isfinite, values.values()))
                       else "non-finite loss")
        if self.run.last_path.is_file():
            try:
                good = torch.load(self.run.last_path, map_location="cpu", weights_only=True, mmap=True)[
                    "step"
                ]
                keep = f"the last good checkpoint {self.run.last_path} (step {good}) is kept"
            except Exception:
                keep = f"{self.run.last_path} is kept as it was"
            hint = "resume from it with --resume (e.g. with a lower learning rate via --set)"
        else:
            keep, hint = "no checkpoint was written yet", "lower the learning rate or check the data"
        if self.loop.nonfinite == "stop":
            hint += ', or skip such steps with --set train.nonfinite="skip"'
        return f"{what} at step {step}: {shown}; training stopped, {keep}; {hint}"

    def _result(self) -> FitResult:
        return FitResult(
            step=self.step,
            losses=dict(self._last_logged),
            best_metric=self.best_metric,
            last_path=self.run.last_path,
            best_path=self.run.best_path if self.run.best_path.is_file() else None,
        )


def _signal_name(signum: int) -> str:
    return "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
