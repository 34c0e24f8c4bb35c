"""End-to-end benchmark: a training step and a generation batch of each recipe's decoder, torch vs numba.

    python -m gen_media.bench.training [--media speech video] [--steps 20] [--pairs 40] [--threads 2] [--out FILE]

Builds the recipe's task from its default config (the real data, model and batch size), then times
blocks of optimizer steps with ``model.backend`` switched between torch and numba on the same task
(interleaved: torch block, numba block, ...; the weights are shared, so both see the same model), and
the decoder's generation of one batch, and of one clip, without gradients. Prints the median seconds per
step and the ratio numba/torch, and writes a markdown table (default
``gen_media/bench/results/training_cpu.md``).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numba
import numpy as np
import torch

from gen_media.bench import machine, publish
from gen_media.config import load_config
from gen_media.nn import set_backend
from gen_media.runs import seed_everything

ROOT = Path(__file__).resolve().parents[2]
RESULTS = Path(__file__).parent / "results" / "training_cpu.md"


def _task(media: str):
    """(task, n_train, fetch, batch_size) for a recipe's default config."""
    if media == "speech":
        from gen_media.recipes.speech import _prepare
        from gen_media.speech import SpeechConfig as cfg_cls
    else:
        from gen_media.recipes.video import _prepare
        from gen_media.video.pipeline import VideoConfig as cfg_cls
    cfg = load_config(cfg_cls, ROOT / "recipes" / media / "default.toml")
    seed_everything(cfg.seed)
    task, n_train, fetch, _, _ = _prepare(cfg)
    return task, n_train, fetch, cfg.train.batch_size


def _switch(task, backend: str) -> None:
    for m in task.models.values():
        set_backend(m, backend)


def _time_steps(task, batches, steps: int) -> float:
    t0 = time.perf_counter()
    for i in range(steps):
        task.train_step(batches[i % len(batches)], i)
    return (time.perf_counter() - t0) / steps


def _time_generation(task, batch: int, pairs: int) -> tuple[dict, float]:
    """Median ms per decode of one batch without gradients for each backend, and the median over ``pairs`` of
    the ratio numba/torch, alternating one decode of each: a decode takes milliseconds, and on a shared machine
    the speed drifts between blocks by more than the difference being measured."""
    n_classes = getattr(task.decoder, "n_classes", 0)
    labels = torch.arange(batch) % n_classes if n_classes else None
    z = torch.randn(batch, task.cfg.model.latent_dim)
    times = {"torch": [], "numba": []}
    with torch.no_grad():
        for i in range(pairs + 2):  # the first two pairs warm up
            for backend, seconds in times.items():
                _switch(task, backend)
                t0 = time.perf_counter()
                task.decode(z, labels)
                if i >= 2:
                    seconds.append(time.perf_counter() - t0)
    ratio = statistics.median(n / t for n, t in zip(times["numba"], times["torch"], strict=True))
    return {k: statistics.median(v) for k, v in times.items()}, ratio


def measure(media: str, steps: int, rounds: int, pairs: int) -> dict:
    task, n_train, fetch, batch_size = _task(media)
    rng = np.random.default_rng(0)
    batches = [fetch(torch.as_tensor(rng.choice(n_train, batch_size, replace=False))) for _ in range(4)]
    per_step = {"torch": [], "numba": []}
    for backend in per_step:  # warm-up: JIT compile / cache load, allocator, BLAS pools
        _switch(task, backend)
        _time_steps(task, batches, 3)
    for _ in range(rounds):
        for backend in per_step:
            _switch(task, backend)
            per_step[backend].append(_time_steps(task, batches, steps))
    step = {k: statistics.median(v) for k, v in per_step.items()}
    gen, gen_ratio = _time_generation(task, batch_size, pairs)
    clip, clip_ratio = _time_generation(task, 1, 5 * pairs)  # one clip: a call's fixed costs weigh more
    return dict(media=media, batch=batch_size, step=step, gen=gen, gen_ratio=gen_ratio, clip=clip,
                clip_ratio=clip_ratio)


def table(rows: list[dict], threads: int) -> str:
    lines = [f"# Training step and generation: model.backend numba vs torch ({threads} threads)", "",
             f"Machine: {machine()}. Default recipe configs and data, after warm-up. Training: median of "
             "interleaved blocks of steps. Generation: one batch (and one clip) decoded without gradients, the "
             "backends alternating decode by decode; the ratio is the median of the pairs' ratios.",
             "",
             "| recipe | batch | torch s/step | numba s/step | numba/torch | torch gen ms | numba gen ms "
             "| numba/torch | torch 1-clip ms | numba 1-clip ms | numba/torch |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        s, g, c = r["step"], r["gen"], r["clip"]
        lines.append(f"| {r['media']} | {r['batch']} | {s['torch']:.4f} | {s['numba']:.4f} | "
                     f"{s['numba'] / s['torch']:.2f} | {1e3 * g['torch']:.2f} | {1e3 * g['numba']:.2f} | "
                     f"{r['gen_ratio']:.2f} | {1e3 * c['torch']:.2f} | {1e3 * c['numba']:.2f} | "
                     f"{r['clip_ratio']:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--media", nargs="+", default=["speech", "video"], choices=["speech", "video"])
    parser.add_argument("--steps", type=int, default=20, help="optimizer steps per timed block")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved blocks per backend")
    parser.add_argument("--pairs", type=int, default=40, help="decodes per backend, alternating")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    numba.set_num_threads(args.threads)
    rows = [measure(m, args.steps, args.rounds, args.pairs) for m in args.media]
    text = table(rows, args.threads)
    publish(text, args.out)
    return text


if __name__ == "__main__":
    main()
