"""Speech recipe: ``python -m gen_media.recipes.speech COMMAND ...``

    train     [--config FILE] [--out DIR] [--set key=value ...] [--resume]
    generate  --checkpoint RUN_OR_FILE --out DIR [--n N] [--label WORD_OR_INDEX] [--seed S] [--interpolate]
    mel       IN.wav|DIR OUT.npy|DIR [--preset NAME]
    vocode    IN.npy|DIR OUT.wav|DIR [--vocoder griffinlim] [--iters N] [--preset NAME]
    evaluate  --checkpoint RUN [--n N]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np
import torch

from gen_media.audio import MelConfig, griffin_lim, read_audio, write_wav
from gen_media.config import add_common_args, config_from_args
from gen_media.runs import RunDir, seed_everything
from gen_media.speech import Generator, SpeechConfig, SpeechTask, evaluate_run, load_mel_data, log_mels
from gen_media.trainer import EpochSampler, Trainer, TrainingInterrupted

DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "recipes" / "speech" / "default.toml"
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")
log = logging.getLogger("gen_media.speech")


def _threads(n: int) -> None:
    import numba

    torch.set_num_threads(n)
    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))


def cmd_train(args: argparse.Namespace) -> int:
    if args.config is None and not args.resume and DEFAULT_CONFIG.is_file():
        args.config = DEFAULT_CONFIG
    cfg = config_from_args(SpeechConfig, args)
    out = args.out or Path("runs") / f"speech-{cfg.data.name}-{cfg.model.objective}"
    _threads(cfg.train.threads)
    seed_everything(cfg.seed)
    train = load_mel_data(cfg, "train")
    valid = load_mel_data(cfg, "test", stats=(train.mean, train.std))
    if train.skipped:
        log.warning("skipped files: %s", train.skipped)
    run = RunDir.create(out, cfg, resume=args.resume)
    print(f"{cfg.data.name}: {len(train.mels)} training clips, {len(valid.mels)} held out; mels "
          f"{tuple(train.mels.shape[1:])}; objective {cfg.model.objective}, backend {cfg.model.backend}; "
          f"run directory {run.path}", file=sys.stderr)
    seed_everything(cfg.seed)
    task = SpeechTask(cfg, train, valid)
    batches = EpochSampler(len(train.mels), min(cfg.train.batch_size, len(train.mels)), seed=cfg.seed,
                           fetch=train.batch)
    try:
        result = Trainer(run, task, batches, cfg.train).fit()
    except TrainingInterrupted:
        return 130
    print(f"done: step {result.step}, losses {result.losses}; samples in {run.samples_dir}", file=sys.stderr)
    return 0


def _parse_label(gen: Generator, label: str | None, n: int) -> list[int | None]:
    if not gen.n_classes:
        if label is not None:
            gen.label_index(label)  # raises: unconditional model
        return [None] * n
    if label is None:
        return [i % gen.n_classes for i in range(n)]
    return [gen.label_index(label)] * n


def cmd_generate(args: argparse.Namespace) -> int:
    gen = Generator.load(args.checkpoint)
    _threads(gen.cfg.train.threads)
    if args.interpolate:
        mels, labels, titles = _interpolation(gen, args)
    else:
        labels = _parse_label(gen, args.label, args.n)
        mels, titles = gen.generate(labels, seed=args.seed, temperature=args.temperature), None
    paths = gen.write(args.out, mels, labels, args.iters, titles=titles)
    print(f"wrote {len(paths)} WAVs, mels (.npy) and spectrograms.png to {args.out}")
    return 0


def _interpolation(gen: Generator, args: argparse.Namespace):
    """A walk between two latents (same label), or between two labels ``--label A:B`` (same latent)."""
    n = max(args.n, 2)
    t = torch.linspace(0, 1, n).unsqueeze(1)  # (n, 1)
    g = torch.Generator().manual_seed(args.seed)
    z0, z1 = torch.randn(2, gen.decoder.latent_dim, generator=g) * args.temperature
    if args.label and ":" in args.label and gen.n_classes:
        a, b = (gen.label_index(x) for x in args.label.split(":", 1))
        emb = gen.decoder.embed.weight.detach()
        cond = (1 - t) * emb[a] + t * emb[b]
        z = z0.expand(n, -1)
        titles = [f"{gen.label_names[a]}->{gen.label_names[b]} {float(x):.2f}" for x in t[:, 0]]
        return gen.generate([a] * n, z=z, cond=cond), [a] * n, titles
    labels = _parse_label(gen, args.label, 1) * n
    z = (1 - t) * z0 + t * z1
    return gen.generate(labels, z=z), labels, [f"z walk {float(x):.2f}" for x in t[:, 0]]


def _io_pairs(src: Path, dst: Path, suffixes: tuple[str, ...], new_suffix: str) -> list[tuple[Path, Path]]:
    if src.is_dir():
        files = sorted(p for p in src.rglob("*") if p.suffix.lower() in suffixes)
        if not files:
            raise FileNotFoundError(f"{src}: no {'/'.join(suffixes)} files found")
        return [(f, dst / f.relative_to(src).with_suffix(new_suffix)) for f in files]
    if not src.is_file():
        raise FileNotFoundError(f"{src}: no such file or directory")
    return [(src, dst / (src.stem + new_suffix) if dst.is_dir() or dst.suffix == "" else dst)]


def cmd_mel(args: argparse.Namespace) -> int:
    mel = MelConfig.preset(args.preset)
    pairs = _io_pairs(args.input, args.output, AUDIO_SUFFIXES, ".npy")
    for src, dst in pairs:
        wave, _ = read_audio(src, sample_rate=mel.sample_rate)
        m = log_mels(wave[None], mel)[0]  # (n_mels, frames)
        dst.parent.mkdir(parents=True, exist_ok=True)
        np.save(dst, m.numpy())
        (dst.parent / "mel_config.json").write_text(json.dumps(mel.to_dict(), indent=2))
    print(f"wrote {len(pairs)} mel file(s) ({args.preset} preset)")
    return 0


def cmd_vocode(args: argparse.Namespace) -> int:
    pairs = _io_pairs(args.input, args.output, (".npy",), ".wav")
    for src, dst in pairs:
        mel = _mel_config_for(src, args.preset)
        m = torch.from_numpy(np.load(src).astype(np.float32))
        if m.ndim != 2 or m.shape[0] != mel.n_mels:
            raise ValueError(f"{src}: expected a mel of shape (n_mels={mel.n_mels}, frames), got {tuple(m.shape)}")
        write_wav(dst, griffin_lim(m, mel, n_iter=args.iters).numpy(), mel.sample_rate)
    print(f"wrote {len(pairs)} WAV file(s)")
    return 0


def _mel_config_for(npy: Path, preset: str | None) -> MelConfig:
    """The preset named, else the mel_config.json written beside the .npy, else the default preset."""
    if preset is not None:
        return MelConfig.preset(preset)
    sidecar = npy.parent / "mel_config.json"
    if sidecar.is_file():
        return MelConfig.from_dict(json.loads(sidecar.read_text()))
    return MelConfig.preset("default")


def cmd_evaluate(args: argparse.Namespace) -> int:
    report = evaluate_run(args.checkpoint, n_per_class=args.n)
    text = json.dumps(report, indent=2)
    print(text)
    run_dir = args.checkpoint if args.checkpoint.is_dir() else args.checkpoint.parent
    (run_dir / "evaluate.json").write_text(text + "\n")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m gen_media.recipes.speech", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p = add_common_args(sub.add_parser("train", help="train a decoder (default config: recipes/speech/default.toml)"))
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("generate", help="generate WAVs, mels and a spectrogram PNG from a trained run")
    p.add_argument("--checkpoint", type=Path, required=True, help="run directory (uses last.pt) or a .pt file")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--n", type=int, default=10, help="clips (cycling over the classes unless --label)")
    p.add_argument("--label", default=None, help="class name or index; with --interpolate, A:B walks between classes")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--temperature", type=float, default=1.0, help="scale of the latent noise")
    p.add_argument("--interpolate", action="store_true", help="walk between two latents (or labels A:B)")
    p.add_argument("--iters", type=int, default=32, help="Griffin-Lim iterations")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("mel", help="log-mels of real audio (.npy, (n_mels, frames)) for copy-synthesis")
    p.add_argument("input", type=Path)
    p.add_argument("output", type=Path)
    p.add_argument("--preset", default="default", choices=["default", "hifigan"])
    p.set_defaults(func=cmd_mel)

    p = sub.add_parser("vocode", help="mels (.npy) to WAV")
    p.add_argument("input", type=Path)
    p.add_argument("output", type=Path)
    p.add_argument("--vocoder", default="griffinlim", choices=["griffinlim"])
    p.add_argument("--iters", type=int, default=32)
    p.add_argument("--preset", default=None, choices=["default", "hifigan"],
                   help="mel settings (default: mel_config.json beside the input, else 'default')")
    p.set_defaults(func=cmd_vocode)

    p = sub.add_parser("evaluate", help="digit-classifier scores of generated audio (JSON)")
    p.add_argument("--checkpoint", type=Path, required=True, help="run directory or checkpoint file")
    p.add_argument("--n", type=int, default=None, help="generated clips per class (default: config eval.n_per_class)")
    p.set_defaults(func=cmd_evaluate)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
