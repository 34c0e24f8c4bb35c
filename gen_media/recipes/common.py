"""What the speech and video command lines share: training runs, labels, latent walks, thread pools."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import torch

from gen_media import distributed
from gen_media.config import add_common_args, config_from_args
from gen_media.runs import RunDir, seed_everything
from gen_media.trainer import EpochSampler, NonFiniteLossError, Trainer, TrainingInterrupted


def set_threads(n: int) -> None:
    """The same number of threads for torch and Numba (BLAS inside Numba kernels runs on one)."""
    import numba

    torch.set_num_threads(n)
    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))


def add_train_parser(sub, default_config: Path, func: Callable, name: str = "train",
                     what: str = "a decoder") -> None:
    p = add_common_args(sub.add_parser(name, help=f"train {what} (default config: {default_config.name})"))
    p.set_defaults(func=func, default_config=default_config)


def run_training(args: argparse.Namespace, cfg_cls, prepare: Callable, default_out: Callable) -> int:
    """Resolve the config, build the task with ``prepare(cfg) -> (task, n_train, fetch, summary)`` (``fetch(idx)``
    returns a batch), train in ``--out`` or ``default_out(cfg)``, and report.

    ``--resume`` without ``--out`` continues the run a plain ``train`` with the same options wrote: the one in
    ``default_out`` of the config such a run starts from, with that run's own saved config.

    Under ``torchrun --nproc_per_node=N`` this runs in each of the N processes as distributed data parallel
    training (:mod:`gen_media.distributed`): ``train.batch_size`` is the global batch, split evenly over the
    processes, so one config means one effective batch whatever N is; rank 0 writes the run directory.
    Exit status: 0 done, 1 non-finite loss, 128 + signal number after Ctrl-C (130) or SIGTERM (143).
    """
    if args.resume and args.out is None:
        args.out = default_out(config_from_args(cfg_cls, args, args.default_config))
    cfg = config_from_args(cfg_cls, args, args.default_config)
    set_threads(cfg.train.threads)
    world = distributed.init()
    try:
        return _train(args, cfg, prepare, args.out or default_out(cfg), world)
    finally:
        distributed.cleanup()


def _train(args: argparse.Namespace, cfg, prepare: Callable, out: Path, world: distributed.World) -> int:
    seed_everything(cfg.seed)
    with distributed.main_first():  # rank 0 builds any dataset cache; the other ranks then read it
        task, n_train, fetch, summary = prepare(cfg)
    run = RunDir.create(out, cfg, resume=args.resume, write=world.rank == 0)
    batch = min(cfg.train.batch_size, n_train)
    batches = EpochSampler(n_train, batch, seed=cfg.seed, fetch=fetch, rank=world.rank, world_size=world.size)
    if world.distributed:
        task.distribute()
    _say(world, f"{summary}; run directory {run.path}\nworld size {world.size}: batch {batch // world.size} "
                f"per process, {batch} in all (train.batch_size is the global batch)")
    try:
        result = Trainer(run, task, batches, cfg.train).fit()
    except TrainingInterrupted as e:
        return e.exit_code
    except NonFiniteLossError as e:
        _say(world, f"error: {e}")
        return 1
    _say(world, f"done: step {result.step}, losses {result.losses}; samples in {run.samples_dir}")
    return 0


def _say(world: distributed.World, msg: str) -> None:
    """Print to stderr from rank 0 only (one copy of each message, not one per process)."""
    if world.rank == 0:
        print(msg, file=sys.stderr)


def parse_labels(gen, label: str | None, n: int) -> list[int | None]:
    """``n`` labels: all ``label``, or cycling over the classes, or None for an unconditional model."""
    if not gen.n_classes:
        if label is not None:
            gen.label_index(label)  # raises: unconditional model
        return [None] * n
    if label is None:
        return [i % gen.n_classes for i in range(n)]
    return [gen.label_index(label)] * n


def latent_walk(gen, label: str | None, n: int, seed: int, temperature: float):
    """Outputs along a walk between two latents (same label), or between two labels ``A:B`` (same latent).

    Returns ``(outputs, labels, titles)``.
    """
    n = max(n, 2)
    t = torch.linspace(0, 1, n).unsqueeze(1)  # (n, 1)
    g = torch.Generator().manual_seed(seed)
    z0, z1 = torch.randn(2, gen.decoder.latent_dim, generator=g) * temperature
    if label and ":" in label and gen.n_classes:
        a, b = (gen.label_index(x) for x in label.split(":", 1))
        emb = gen.decoder.embed.weight.detach()
        titles = [f"{gen.label_names[a]}->{gen.label_names[b]} {float(x):.2f}" for x in t[:, 0]]
        return gen.generate([a] * n, z=z0.expand(n, -1), cond=(1 - t) * emb[a] + t * emb[b]), [a] * n, titles
    labels = parse_labels(gen, label, 1) * n
    return gen.generate(labels, z=(1 - t) * z0 + t * z1), labels, [f"z walk {float(x):.2f}" for x in t[:, 0]]


def add_generate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", type=Path, required=True, help="run directory (uses last.pt) or a .pt file")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--n", type=int, default=10, help="how many (cycling over the classes unless --label)")
    p.add_argument("--label", default=None, help="class name or index; with --interpolate, A:B walks between classes")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--temperature", type=float, default=1.0, help="scale of the latent noise")
    p.add_argument("--interpolate", action="store_true", help="walk between two latents (or labels A:B)")


def generate_outputs(gen, args: argparse.Namespace):
    """``(outputs, labels, titles)`` for the generate command's arguments."""
    if args.interpolate:
        return latent_walk(gen, args.label, args.n, args.seed, args.temperature)
    labels = parse_labels(gen, args.label, args.n)
    return gen.generate(labels, seed=args.seed, temperature=args.temperature), labels, None


def add_inspect_parser(sub, default_config: Path, func: Callable) -> None:
    p = sub.add_parser("inspect", help="per-layer shapes, parameters, FLOPs and receptive spans of the decoder")
    p.add_argument("--config", type=Path, default=default_config, metavar="FILE")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--classes", type=int, default=10, help="number of classes the data has (0: unlabelled)")
    p.set_defaults(func=func)


def inspect_decoder(decoder: torch.nn.Module, n_classes: int) -> str:
    """The layer table of ``decoder`` for one latent (and label)."""
    from gen_media.analysis.receptive import format_table, layer_table

    z = torch.zeros(1, decoder.latent_dim)
    labels = torch.zeros(1, dtype=torch.long) if n_classes else None
    return format_table(layer_table(decoder, run=lambda m: m(z, labels)))


def write_report(report: dict, checkpoint: Path, name: str = "evaluate.json") -> None:
    """Print an evaluation report as JSON and keep it as ``name`` in the run directory."""
    import json

    from gen_media.files import atomic_write_text

    text = json.dumps(report, indent=2)
    print(text)
    run_dir = checkpoint if checkpoint.is_dir() else checkpoint.parent
    atomic_write_text(run_dir / name, text + "\n")


def run_cli(parser: argparse.ArgumentParser, argv: list[str] | None) -> int:
    """Parse, run the chosen command, and turn the errors users cause into a message and exit status 2."""
    import logging

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
