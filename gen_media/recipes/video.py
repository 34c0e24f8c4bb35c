"""Video recipe: ``python -m gen_media.recipes.video COMMAND ...``

    train     [--config FILE] [--out DIR] [--set key=value ...] [--resume]
    generate  --checkpoint RUN_OR_FILE --out DIR [--n N] [--label K] [--seed S] [--format mp4,gif,npy,png]
              [--interpolate]
    evaluate  --checkpoint RUN [--n N]
    inspect   [--config FILE] [--set key=value ...] [--classes N]
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from gen_media.recipes.common import (
    add_generate_args,
    add_inspect_parser,
    add_train_parser,
    generate_outputs,
    inspect_decoder,
    run_cli,
    run_training,
    set_threads,
    write_report,
)
from gen_media.runs import seed_everything
from gen_media.video.export import FORMATS
from gen_media.video.pipeline import VideoConfig, VideoGenerator, VideoTask, evaluate_run, load_clip_data

DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "recipes" / "video" / "default.toml"
log = logging.getLogger("gen_media.video")


def _prepare(cfg: VideoConfig):
    train = load_clip_data(cfg, "train")
    valid = load_clip_data(cfg, "test")
    if train.skipped:
        log.warning("skipped files: %s", train.skipped)
    summary = (f"{cfg.data.name}: {len(train.clips)} training clips, {len(valid.clips)} held out; clips "
               f"{tuple(train.clips.shape[1:])}; objective {cfg.model.objective}, backend {cfg.model.backend}")
    seed_everything(cfg.seed)
    return VideoTask(cfg, train, valid), len(train.clips), train.batch, summary


def cmd_train(args: argparse.Namespace) -> int:
    return run_training(args, VideoConfig, _prepare,
                        lambda cfg: Path("runs") / f"video-{cfg.data.name}-{cfg.model.objective}")


def _formats(text: str) -> tuple[str, ...]:
    formats = tuple(f.strip() for f in text.split(",") if f.strip())
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise argparse.ArgumentTypeError(f"expected a comma-separated subset of {','.join(FORMATS)}, got {text!r}")
    return formats


def cmd_generate(args: argparse.Namespace) -> int:
    gen = VideoGenerator.load(args.checkpoint)
    set_threads(gen.cfg.train.threads)
    clips, labels, titles = generate_outputs(gen, args)
    names = None if titles is None else [f"{i:03d}_walk" for i in range(len(labels))]
    paths = gen.write(args.out, clips, labels, formats=args.format, names=names, titles=titles)
    print(f"wrote {len(paths)} files ({','.join(args.format)}) to {args.out}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    report = evaluate_run(args.checkpoint, n_per_class=args.n)
    write_report(report, args.checkpoint)
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    from gen_media.config import load_config
    from gen_media.video.pipeline import build_models

    cfg = load_config(VideoConfig, args.config, args.overrides)
    decoder = build_models(cfg, 1, args.classes)["decoder"]
    print(f"video decoder ({cfg.model.decoder}) for {cfg.data.frames} frames of {cfg.data.size}x{cfg.data.size}, "
          f"{args.classes} classes")
    print(inspect_decoder(decoder, args.classes))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m gen_media.recipes.video", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    add_train_parser(sub, DEFAULT_CONFIG, cmd_train)
    add_inspect_parser(sub, DEFAULT_CONFIG, cmd_inspect)

    p = sub.add_parser("generate", help="generate clips (MP4, GIF, .npy, PNG frame grid) from a trained run")
    add_generate_args(p)
    p.add_argument("--format", type=_formats, default=FORMATS, help="comma-separated: mp4,gif,npy,png")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("evaluate", help="per-frame digit-classifier scores and motion of generated clips (JSON)")
    p.add_argument("--checkpoint", type=Path, required=True, help="run directory or checkpoint file")
    p.add_argument("--n", type=int, default=None, help="generated clips per class (default: config eval.n_per_class)")
    p.set_defaults(func=cmd_evaluate)
    return parser


def main(argv: list[str] | None = None) -> int:
    return run_cli(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
