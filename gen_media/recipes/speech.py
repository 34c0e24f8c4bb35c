"""Speech recipe: ``python -m gen_media.recipes.speech COMMAND ...``

    train             [--config FILE] [--out DIR] [--set key=value ...] [--resume]
    train-vocoder     [--config FILE] [--out DIR] [--set key=value ...] [--resume]   (recipes/speech/vocoder.toml)
    generate          --checkpoint RUN_OR_FILE --out DIR [--n N] [--label WORD_OR_INDEX] [--seed S] [--interpolate]
                      [--vocoder griffinlim|neural --vocoder-checkpoint VOCODER_RUN]
    mel               IN.wav|DIR OUT.npy|DIR [--preset NAME]
    vocode            IN.npy|DIR OUT.wav|DIR [--vocoder griffinlim|neural] [--checkpoint VOCODER_RUN] [--iters N]
                      [--preset NAME] [--backend torch|numba]
    evaluate          --checkpoint RUN [--n N]
    evaluate-vocoder  --checkpoint VOCODER_RUN [--clips N] [--iters N] [--backend B]  (held-out LSD, RTF)
    inspect           [--config FILE] [--set key=value ...] [--classes N]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np
import torch

from gen_media.audio import MEL_CONFIG_FILE, MelConfig, griffin_lim, read_audio, write_mel, write_mel_config, write_wav
from gen_media.data.speech import AUDIO_EXTENSIONS
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
from gen_media.speech import Generator, SpeechConfig, SpeechTask, evaluate_run, load_mel_data, log_mels

DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "recipes" / "speech" / "default.toml"
VOCODER_CONFIG = DEFAULT_CONFIG.with_name("vocoder.toml")
log = logging.getLogger("gen_media.speech")


def _prepare(cfg: SpeechConfig):
    train = load_mel_data(cfg, "train")
    valid = load_mel_data(cfg, "test", stats=(train.mean, train.std))
    if train.skipped:
        log.warning("skipped files: %s", train.skipped)
    summary = (f"{cfg.data.name}: {len(train.mels)} training clips, {len(valid.mels)} held out; mels "
               f"{tuple(train.mels.shape[1:])}; objective {cfg.model.objective}, backend {cfg.model.backend}")
    seed_everything(cfg.seed)  # the models' initialisation does not depend on how the data was made
    return SpeechTask(cfg, train, valid), len(train.mels), train.batch, summary


def cmd_train(args: argparse.Namespace) -> int:
    return run_training(args, SpeechConfig, _prepare,
                        lambda cfg: Path("runs") / f"speech-{cfg.data.name}-{cfg.model.objective}")


def _prepare_vocoder(cfg):
    from gen_media.vocoder import VocoderTask, load_wave_data

    train = load_wave_data(cfg, "train", min_frames=cfg.train.segment_frames)
    valid = load_wave_data(cfg, "test", pick=cfg.train.val_clips)
    seed_everything(cfg.seed)  # the initialisation does not depend on how the data was made
    task = VocoderTask(cfg, train, valid)
    n_params = sum(p.numel() for p in task.generator.parameters() if p.requires_grad)
    m = cfg.model
    design = (f"iSTFT ({m.layers} ConvNeXt blocks of {m.width})" if m.generator == "istft"
              else f"HiFi-GAN (strides {list(m.upsample_rates)})")
    summary = (f"{cfg.data.name}: {len(train)} training clips, {len(valid)} held out for validation; "
               f"generator {design}, {n_params / 1e6:.2f}M trained parameters, "
               f"crops of {cfg.train.segment_frames} frames, backend {cfg.model.backend}, "
               f"adversarial {cfg.loss.adversarial}")
    return task, len(train), task.batch, summary


def cmd_train_vocoder(args: argparse.Namespace) -> int:
    from gen_media.vocoder import VocoderConfig

    return run_training(args, VocoderConfig, _prepare_vocoder, lambda cfg: Path("runs") / f"vocoder-{cfg.data.name}")


def _load_vocoder(checkpoint: Path | None, flag: str, backend: str | None = None):
    from gen_media.vocoder import NeuralVocoder

    if checkpoint is None:
        raise ValueError(f"--vocoder neural needs {flag} RUN (a train-vocoder run directory or .pt file)")
    voc = NeuralVocoder.load(checkpoint, backend=backend)
    set_threads(voc.cfg.train.threads)
    return voc


def cmd_generate(args: argparse.Namespace) -> int:
    gen = Generator.load(args.checkpoint)
    set_threads(gen.cfg.train.threads)
    vocoder = None
    if args.vocoder == "neural":
        vocoder = _load_vocoder(args.vocoder_checkpoint, "--vocoder-checkpoint")
        vocoder.check_mel_config(gen.mel, f"the decoder {args.checkpoint}")
    mels, labels, titles = generate_outputs(gen, args)  # real-scale log-mels (de-normalized by the decoder)
    paths = gen.write(args.out, mels, labels, args.iters, titles=titles, vocoder=vocoder)
    print(f"wrote {len(paths)} WAVs, mels (.npy) and spectrograms.png to {args.out}")
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    from gen_media.config import load_config
    from gen_media.speech import build_models

    cfg = load_config(SpeechConfig, args.config, args.overrides)
    mel = cfg.mel_config
    frames = mel.num_frames(round(cfg.data.clip_seconds * mel.sample_rate))
    decoder = build_models(cfg, mel.n_mels, frames, args.classes)["decoder"]
    print(f"speech decoder for {cfg.data.clip_seconds} s clips: {mel.n_mels} mels x {frames} frames "
          f"(preset {cfg.mel.preset}), {args.classes} classes")
    print(inspect_decoder(decoder, args.classes))
    return 0


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
    pairs = _io_pairs(args.input, args.output, AUDIO_EXTENSIONS, ".npy")  # what the datasets read
    sidecars: set[Path] = set()
    for src, dst in pairs:
        wave, _ = read_audio(src, sample_rate=mel.sample_rate)
        m = log_mels(wave[None], mel)[0]  # (n_mels, frames)
        write_mel(dst, m, mel.floor)
        if dst.parent not in sidecars:  # one per directory, with its first mel (not rewritten for every file)
            write_mel_config(dst.parent, mel)
            sidecars.add(dst.parent)
    print(f"wrote {len(pairs)} mel file(s) ({args.preset} preset)")
    return 0


def cmd_vocode(args: argparse.Namespace) -> int:
    pairs = _io_pairs(args.input, args.output, (".npy",), ".wav")
    voc = _load_vocoder(args.checkpoint, "--checkpoint", args.backend) if args.vocoder == "neural" else None
    for src, dst in pairs:
        mel = _mel_config_for(src, args.preset)
        m = torch.from_numpy(np.load(src).astype(np.float32))
        if m.ndim != 2 or m.shape[0] != mel.n_mels:
            raise ValueError(f"{src}: expected a mel of shape (n_mels={mel.n_mels}, frames), got {tuple(m.shape)}")
        if voc is not None:
            voc.check_mel_config(mel, f"{src}")
            wave = voc(m)  # (frames * hop,)
        else:
            wave = griffin_lim(m, mel, n_iter=args.iters)
        write_wav(dst, wave.numpy(), mel.sample_rate)
    print(f"wrote {len(pairs)} WAV file(s) ({args.vocoder})")
    return 0


def _mel_config_for(npy: Path, preset: str | None) -> MelConfig:
    """The preset named, else the mel_config.json written beside the .npy, else the default preset."""
    if preset is not None:
        return MelConfig.preset(preset)
    sidecar = npy.parent / MEL_CONFIG_FILE
    if sidecar.is_file():
        return MelConfig.from_dict(json.loads(sidecar.read_text()))
    return MelConfig.preset("default")


def cmd_evaluate_vocoder(args: argparse.Namespace) -> int:
    from gen_media.vocoder import NeuralVocoder, load_wave_data, lsd_report, real_time_factor

    voc = NeuralVocoder.load(args.checkpoint, backend=args.backend)
    set_threads(voc.cfg.train.threads)
    data = load_wave_data(voc.cfg, "test", pick=args.clips)
    voc.check_mel_config(voc.cfg.mel_config, "the run's [mel] preset")
    neural = torch.cat([voc(data.mels[i:i + 16]) for i in range(0, len(data), 16)])
    gl = griffin_lim(data.mels, voc.mel, n_iter=args.iters)
    report = {"run": str(args.checkpoint), "clips": len(data), "dataset": voc.cfg.data.name,
              "neural": lsd_report(data.waves, neural, voc.mel),
              f"griffin_lim_{args.iters}": lsd_report(data.waves, gl, voc.mel),
              "neural_rtf": real_time_factor(voc, data.mels[:8], voc.mel),
              "griffin_lim_rtf": real_time_factor(lambda m: griffin_lim(m, voc.mel, n_iter=args.iters),
                                                  data.mels[:8], voc.mel, repeats=1),
              "threads": torch.get_num_threads(), "backend": voc.generator.cfg.backend}
    write_report(report, args.checkpoint, "evaluate_vocoder.json")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    report = evaluate_run(args.checkpoint, n_per_class=args.n)
    write_report(report, args.checkpoint)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m gen_media.recipes.speech", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    add_train_parser(sub, DEFAULT_CONFIG, cmd_train)
    add_train_parser(sub, VOCODER_CONFIG, cmd_train_vocoder, "train-vocoder", "a neural vocoder (mel -> waveform)")
    add_inspect_parser(sub, DEFAULT_CONFIG, cmd_inspect)

    p = sub.add_parser("generate", help="generate WAVs, mels and a spectrogram PNG from a trained run")
    add_generate_args(p)
    p.add_argument("--iters", type=int, default=32, help="Griffin-Lim iterations")
    p.add_argument("--vocoder", default="griffinlim", choices=["griffinlim", "neural"])
    p.add_argument("--vocoder-checkpoint", type=Path, default=None, metavar="RUN",
                   help="train-vocoder run directory (best.pt) or .pt file, for --vocoder neural")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("mel", help="log-mels of real audio (.npy, (n_mels, frames)) for copy-synthesis")
    p.add_argument("input", type=Path)
    p.add_argument("output", type=Path)
    p.add_argument("--preset", default="default", choices=["default", "hifigan"])
    p.set_defaults(func=cmd_mel)

    p = sub.add_parser("vocode", help="mels (.npy) to WAV")
    p.add_argument("input", type=Path)
    p.add_argument("output", type=Path)
    p.add_argument("--vocoder", default="griffinlim", choices=["griffinlim", "neural"])
    p.add_argument("--checkpoint", type=Path, default=None, metavar="RUN",
                   help="train-vocoder run directory (best.pt) or .pt file, for --vocoder neural")
    p.add_argument("--backend", default=None, choices=["torch", "numba"], help="neural vocoder kernels")
    p.add_argument("--iters", type=int, default=32, help="Griffin-Lim iterations")
    p.add_argument("--preset", default=None, choices=["default", "hifigan"],
                   help="mel settings (default: mel_config.json beside the input, else 'default')")
    p.set_defaults(func=cmd_vocode)

    p = sub.add_parser("evaluate", help="digit-classifier scores of generated audio (JSON)")
    p.add_argument("--checkpoint", type=Path, required=True, help="run directory or checkpoint file")
    p.add_argument("--n", type=int, default=None, help="generated clips per class (default: config eval.n_per_class)")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("evaluate-vocoder", help="held-out copy-synthesis LSD of a neural vocoder vs Griffin-Lim, "
                                                "and real-time factors (JSON)")
    p.add_argument("--checkpoint", type=Path, required=True, help="train-vocoder run directory or .pt file")
    p.add_argument("--clips", type=int, default=128, help="held-out clips, spread over the test split")
    p.add_argument("--iters", type=int, default=32, help="Griffin-Lim iterations")
    p.add_argument("--backend", default=None, choices=["torch", "numba"])
    p.set_defaults(func=cmd_evaluate_vocoder)
    return parser


def main(argv: list[str] | None = None) -> int:
    return run_cli(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
