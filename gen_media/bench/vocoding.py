"""Benchmark: mel -> waveform on real speech. Our Griffin-Lim against librosa's and torchaudio's (and a neural
vocoder), on the same log-mels, the same iterations, window and hop, in one process.

    python -m gen_media.bench.vocoding [--audio DIR] [--seconds 50] [--iters 32] [--threads 2] [--repeats 3]
                                       [--neural RUN] [--out FILE.md]

Audio: by default the held-out speakers of ``digits-synth`` (labelled, so the speech evaluate command's digit
classifier gives an accuracy); ``--audio DIR`` takes any folder of wav/flac/ogg instead (LJSpeech, SC09, ...),
resampled and cut into clips. Every method gets the same ``(clips, n_mels, frames)`` log-mels of the
``MelConfig`` default preset and returns ``(clips, samples)``.

Columns: real-time factor (compute seconds per second of audio: median of ``--repeats`` runs interleaved
across methods, after a warm-up that also absorbs JIT compilation), speed against librosa, and the quality
of the re-analysed result against the original ``|STFT|``: spectral convergence (SC, 0 is perfect),
log-spectral distance (LSD, dB) and the digit classifier's accuracy on the log-mels of the vocoded audio.
A second table times the inverse STFT alone: torch's, ours, and the transposed-convolution formulations.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np
import torch

import kernels
from gen_media.audio import (
    MelConfig,
    griffin_lim,
    istft,
    log_spectral_distance,
    mel_filterbank,
    spectral_convergence,
    stft,
    stft_magnitude,
    window_tensor,
)
from gen_media.audio.mel import _ola_norm
from gen_media.bench import machine, publish
from gen_media.speech import log_mels
from gen_media.vocoder.metrics import lsd_report

RESULTS = Path(__file__).parent / "results" / "vocoding_cpu.md"
Vocoder = Callable[[torch.Tensor], torch.Tensor]  # (N, n_mels, T) log-mel -> (N, samples)


# ------------------------------------------------------------------------------------------------ audio


@dataclass
class Clips:
    """The benchmark's real audio: ``waves`` ``(N, samples)`` float32 at the config's rate."""

    waves: torch.Tensor
    labels: torch.Tensor | None  # (N,) digit indices, when the clips are labelled digits
    description: str
    sample_rate: int

    @property
    def seconds(self) -> float:
        return self.waves.numel() / self.sample_rate


def _balanced(labels: np.ndarray, n: int) -> np.ndarray:
    """Indices of ``n`` clips taken round-robin over the classes (so every digit is represented)."""
    per_class = [np.flatnonzero(labels == c) for c in np.unique(labels)]
    order = [idx[i] for i in range(max(map(len, per_class))) for idx in per_class if i < len(idx)]
    return np.sort(np.asarray(order[:n], dtype=np.int64))


def load_digits(seconds: float, cfg: MelConfig) -> Clips:
    """Held-out speakers of digits-synth (1 s clips, one spoken digit each), balanced over the digits."""
    from gen_media.data import load_speech_dataset

    ds = load_speech_dataset("digits-synth", sample_rate=cfg.sample_rate, clip_seconds=1.0, split="test")
    pick = _balanced(ds.labels, max(1, round(seconds / ds.clip_seconds)))
    desc = (f"digits-synth held-out speakers: {len(pick)} clips of {ds.clip_seconds:g} s (espeak-ng speech, "
            f"labelled), {cfg.sample_rate} Hz")
    return Clips(torch.from_numpy(ds.waves[pick]), torch.from_numpy(ds.labels[pick]), desc, cfg.sample_rate)


def load_folder_clips(root: Path, seconds: float, clip_seconds: float, cfg: MelConfig) -> Clips:
    """Any folder of audio files, resampled and cut into consecutive ``clip_seconds`` clips."""
    from gen_media.data import DIGIT_NAMES, load_folder

    ds = load_folder(root, sample_rate=cfg.sample_rate, clip_seconds=clip_seconds, split="all", segment=True,
                     progress=False)
    n = max(1, min(len(ds.waves), round(seconds / clip_seconds)))
    digits = ds.labels is not None and list(ds.label_names) == list(DIGIT_NAMES)
    desc = f"{root}: {n} clips of {clip_seconds:g} s, resampled to {cfg.sample_rate} Hz"
    labels = torch.from_numpy(ds.labels[:n]) if digits else None
    return Clips(torch.from_numpy(ds.waves[:n]), labels, desc + (" (digit labels)" if digits else ""),
                 cfg.sample_rate)


# ------------------------------------------------------------------------------------------------ methods


def _linear_mel(mels: torch.Tensor, cfg: MelConfig) -> torch.Tensor:
    return torch.pow(10.0, mels) if cfg.log == "log10" else torch.exp(mels)


def ours(cfg: MelConfig, iters: int, backend: str = "auto") -> Vocoder:
    """Our :func:`~gen_media.audio.griffin_lim` (pinv + 50 FISTA steps, fast Griffin-Lim with momentum 0.99)."""
    return lambda mels: griffin_lim(mels, cfg, n_iter=iters, backend=backend)


def librosa_vocoder(cfg: MelConfig, iters: int) -> Vocoder:
    """``librosa.feature.inverse.mel_to_audio``: NNLS mel inversion + fast Griffin-Lim (momentum 0.99), with
    the filterbank built from our config's parameters (the same matrix as ours: checked in :func:`methods`)."""
    import librosa

    def run(mels: torch.Tensor) -> torch.Tensor:
        y = librosa.feature.inverse.mel_to_audio(
            _linear_mel(mels, cfg).numpy(), sr=cfg.sample_rate, n_fft=cfg.n_fft, hop_length=cfg.hop_length,
            win_length=cfg.win_length, window=cfg.window, center=cfg.center, pad_mode="reflect", power=cfg.power,
            n_iter=iters, length=cfg.num_samples(mels.shape[-1]), fmin=cfg.fmin, fmax=cfg.f_max,
            htk=cfg.mel_scale == "htk", norm=cfg.norm, dtype=np.float32)
        return torch.from_numpy(y)

    return run


def torchaudio_vocoder(cfg: MelConfig, iters: int) -> Vocoder:
    """``torchaudio.transforms.InverseMelScale`` (least squares + ReLU) with our filterbank swapped in, then
    ``GriffinLim`` (momentum 0.99, random initial phases)."""
    import torchaudio

    inv = torchaudio.transforms.InverseMelScale(cfg.n_freqs, cfg.n_mels, cfg.sample_rate, cfg.fmin, cfg.f_max,
                                                norm=cfg.norm, mel_scale=cfg.mel_scale)
    inv.fb.copy_(mel_filterbank(cfg).T)  # (n_freqs, n_mels): the same matrix as ours and librosa's
    window_fn = {"hann": torch.hann_window, "hamming": torch.hamming_window}[cfg.window]

    def run(mels: torch.Tensor) -> torch.Tensor:
        gl = torchaudio.transforms.GriffinLim(cfg.n_fft, iters, cfg.win_length, cfg.hop_length, window_fn,
                                              power=cfg.power, momentum=0.99,
                                              length=cfg.num_samples(mels.shape[-1]))
        return gl(inv(_linear_mel(mels, cfg)))

    return run


def neural_vocoder(path: str) -> tuple[Vocoder, MelConfig]:
    from gen_media.vocoder import NeuralVocoder  # imported lazily: only with --neural

    voc = NeuralVocoder.load(path)

    def run(mels: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return voc(mels)

    return run, voc.mel


def methods(cfg: MelConfig, iters: int, neural: str | None) -> dict[str, tuple[Vocoder, MelConfig]]:
    """The vocoders to compare, each with the mel analysis it expects."""
    import librosa

    fb = librosa.filters.mel(sr=cfg.sample_rate, n_fft=cfg.n_fft, n_mels=cfg.n_mels, fmin=cfg.fmin, fmax=cfg.f_max,
                             htk=cfg.mel_scale == "htk", norm=cfg.norm)
    if not np.allclose(fb, mel_filterbank(cfg, dtype=torch.float64).numpy(), atol=1e-6):
        raise RuntimeError("librosa's filterbank differs from ours for this config: the comparison would be unfair")
    out = {f"ours (griffin_lim, {iters} it)": (ours(cfg, iters), cfg),
           f"ours, torch ops only (backend='torch', {iters} it)": (ours(cfg, iters, "torch"), cfg),
           f"librosa mel_to_audio ({iters} it)": (librosa_vocoder(cfg, iters), cfg),
           f"torchaudio InverseMelScale+GriffinLim ({iters} it)": (torchaudio_vocoder(cfg, iters), cfg)}
    if neural:
        out[f"neural vocoder ({Path(neural).name})"] = neural_vocoder(neural)
    return out


# ------------------------------------------------------------------------------------------------ timing


def time_methods(fns: dict[str, Vocoder], inputs: dict[str, torch.Tensor], warm: dict[str, torch.Tensor],
                 repeats: int) -> tuple[dict[str, float], dict[str, torch.Tensor]]:
    """Median seconds per method over ``repeats`` rounds that visit every method in turn (so all see the same
    machine state), after one warm-up call each on a short input. Returns the times and the last outputs."""
    for name, fn in fns.items():
        fn(warm[name])
    times: dict[str, list[float]] = {name: [] for name in fns}
    outs: dict[str, torch.Tensor] = {}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            outs[name] = fn(inputs[name])
            times[name].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}, outs


# ------------------------------------------------------------------------------------------------ quality


def quality(ref: torch.Tensor, est: torch.Tensor, cfg: MelConfig) -> tuple[float, float]:
    """Mean over clips of SC and LSD between ``|STFT|`` of the reference and of the estimate (same length)."""
    n = min(ref.shape[-1], est.shape[-1])
    r, e = stft_magnitude(ref[..., :n].float(), cfg), stft_magnitude(est[..., :n].float(), cfg)
    return spectral_convergence(r, e).mean().item(), log_spectral_distance(r, e).mean().item()


def digit_classifier(cfg: MelConfig, steps: int, cache_dir: Path):
    """The speech evaluate command's classifier recipe (digits-synth training clips, ``train_classifier``,
    ``EvalConfig`` steps and seed), cached by :func:`~gen_media.eval.fit.cached_classifier` under ``cache_dir``."""
    from gen_media.data import load_speech_dataset
    from gen_media.eval.fit import cached_classifier
    from gen_media.eval.speech import load_classifier, save_classifier, train_classifier

    kw = dict(sample_rate=cfg.sample_rate, clip_seconds=1.0, seed=0)
    train = load_speech_dataset("digits-synth", split="train", **kw)
    test = load_speech_dataset("digits-synth", split="test", **kw)
    x_tr, x_te = log_mels(train.waves, cfg), log_mels(test.waves, cfg)
    meta = {"dataset": "digits-synth", "root": None, "mel_config": cfg.to_dict(), "steps": steps, "seed": 0,
            "n_train": len(x_tr)}
    return cached_classifier(
        cache_dir / f"vocoding_classifier_{steps}.pt", meta, load_classifier, save_classifier,
        lambda: train_classifier(x_tr, torch.from_numpy(train.labels), x_te, torch.from_numpy(test.labels),
                                 steps=steps, seed=0, n_classes=len(train.label_names), progress=None))


def accuracy(clf, waves: torch.Tensor, labels: torch.Tensor, cfg: MelConfig) -> float:
    from gen_media.eval.speech import classifier_scores
    from gen_media.speech import _fit_frames

    mels = _fit_frames(log_mels(waves.float(), cfg), clf.n_frames)
    return classifier_scores(clf, mels, labels)["accuracy"]


# ------------------------------------------------------------------------------------------------ iSTFT table


def istft_variants(spec: torch.Tensor, cfg: MelConfig) -> dict[str, Callable[[], torch.Tensor]]:
    """Inverse STFTs of ``spec`` ``(N, F, T)``: torch's, ours, and overlap-add written as transposed convs."""
    from kernels.ola import overlap_add

    n, n_f, n_t = spec.shape
    k, hop, p = cfg.n_fft, cfg.hop_length, cfg.pad_amount
    n_out = cfg.num_samples(n_t)
    win = window_tensor(cfg)
    norm = _ola_norm(cfg, n_t, win)
    r = math.ceil(k / hop)

    def frames() -> torch.Tensor:  # (N, T, K), each frame contiguous
        return torch.fft.irfft(spec.transpose(-1, -2), n=k, dim=-1)

    def finish(y: torch.Tensor) -> torch.Tensor:  # (N, total) -> normalised and cropped (N, n_out)
        return (y[:, :norm.shape[0]] / norm)[:, p:p + n_out]

    # (a) grouped transposed conv: output in hop-sized blocks, channel (j, r) = frame sample r * hop + j feeds
    # block t + r at offset j: groups = hop, R = K / hop channels and taps per group, one non-zero tap each
    w_pad = torch.nn.functional.pad(win, (0, r * hop - k)).numpy()
    w_grouped = np.zeros((hop * r, 1, r), np.float32)
    for rr in range(r):
        w_grouped[np.arange(hop) * r + rr, 0, rr] = w_pad[rr * hop:(rr + 1) * hop]

    def grouped() -> torch.Tensor:
        fr = torch.nn.functional.pad(frames(), (0, r * hop - k)).reshape(n, n_t, r, hop)
        x = fr.permute(0, 3, 2, 1).reshape(n, hop * r, n_t).contiguous().numpy()  # (N, hop*R, T)
        blocks = kernels.conv_transpose1d(x, w_grouped, stride=1, groups=hop)  # (N, hop, T + R - 1)
        return finish(torch.from_numpy(blocks).transpose(1, 2).reshape(n, -1))

    # (b) the inverse real DFT folded into the weight: C_in = 2F (real, imag), kernel = window * basis, stride hop
    f_idx, k_idx = np.arange(n_f), np.arange(k)
    scale = np.where((f_idx == 0) | (2 * f_idx == k), 1.0, 2.0)[:, None] / k
    angle = 2 * np.pi * np.outer(f_idx, k_idx) / k
    basis = np.concatenate([scale * np.cos(angle), -scale * np.sin(angle)]) * win.double().numpy()  # (2F, K)
    w_dft = np.ascontiguousarray(basis[:, None, :], dtype=np.float32)
    w_dft_t = torch.from_numpy(w_dft)

    def ri() -> torch.Tensor:  # (N, 2F, T)
        return torch.cat([spec.real, spec.imag], dim=1)

    def dft_ours() -> torch.Tensor:
        return finish(torch.from_numpy(kernels.conv_transpose1d(ri().numpy(), w_dft, stride=hop)[:, 0]))

    def dft_torch() -> torch.Tensor:
        return finish(torch.nn.functional.conv_transpose1d(ri(), w_dft_t, stride=hop)[:, 0])

    win_np, norm_np = win.numpy(), norm.numpy()
    return {
        "torch.istft": lambda: torch.istft(spec, k, hop, cfg.win_length, win, center=cfg.center, length=n_out),
        "ours: irfft + torch fold (F.fold)": lambda: istft(spec, cfg, window=win, ola_norm=norm, backend="torch"),
        "ours: irfft + kernels.overlap_add (default)": lambda: torch.from_numpy(
            overlap_add(frames().numpy(), hop, win_np, norm=norm_np, offset=p, length=n_out)),
        "irfft + kernels.conv_transpose1d, grouped": grouped,
        "DFT in weight: kernels.conv_transpose1d": dft_ours,
        "DFT in weight: torch conv_transpose1d": dft_torch,
    }


def time_istft(spec: torch.Tensor, cfg: MelConfig, repeats: int) -> list[dict]:
    fns = istft_variants(spec, cfg)
    ref = fns["torch.istft"]()
    for fn in fns.values():  # warm-up (JIT compile)
        fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    base = statistics.median(times["torch.istft"])
    return [dict(name=name, ms=statistics.median(t) * 1e3, ratio=statistics.median(t) / base,
                 err=(fns[name]() - ref).abs().max().item()) for name, t in times.items()]


# ------------------------------------------------------------------------------------------------ report


NOTES = [
    "- ours: pseudo-inverse of the filterbank + 50 FISTA (non-negative least squares) steps, then fast Griffin-Lim "
    "(momentum 0.99); on the CPU the work around torch's FFTs runs on our Numba kernels (kernels.gl, kernels.ola). "
    "librosa: NNLS by L-BFGS-B (mel_to_stft), then griffinlim (momentum 0.99). torchaudio: least squares + ReLU "
    "(InverseMelScale, our filterbank swapped in), then GriffinLim (momentum 0.99). All start from random phases.",
    "- LSD floors magnitudes at 1e-5: zero-padded clips (digital silence) make every method's LSD large; "
    "compare LSD across rows, not with published values. A neural vocoder can be silent there (the iSTFT "
    "generator's magnitudes are exp of its output; the HiFi-GAN generator has a silence gate), which removes "
    "most of that term; the column 'frames with sound' leaves digital silence out and compares the vocoders "
    "where there is something to reconstruct.",
]


def _fmt(x: float | None, spec: str) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def table(rows: list[dict], istft_rows: list[dict], header: dict) -> str:
    lines = [
        f"# Mel -> waveform on CPU: Griffin-Lim (ours, librosa, torchaudio) and neural ({header['threads']} threads)",
        "",
        f"Audio: {header['audio']}; {header['seconds']:.1f} s in all. Mels: MelConfig default preset "
        f"({header['mel']}); every method gets the same log-mels and the same filterbank matrix.",
        f"Machine: {machine()}; torch {torch.__version__}, numba {numba.__version__}, "
        f"librosa {header['librosa']}, torchaudio {header['torchaudio']}. RTF = compute seconds per audio second, "
        f"median of {header['repeats']} runs interleaved across methods after a warm-up.",
        "SC = spectral convergence, LSD = log-spectral distance (dB), both of the re-analysed waveform against the "
        "original |STFT|; accuracy = the speech evaluate command's digit classifier on the vocoded audio's log-mels.",
        "",
        "| method | RTF | x faster than librosa | SC | LSD dB | LSD dB, frames with sound | accuracy |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    lib = next((r["seconds"] for r in rows if r["name"].startswith("librosa")), None)
    for r in rows:
        rtf = None if r["seconds"] is None else r["seconds"] / header["seconds"]
        speed = None if (r["seconds"] is None or lib is None) else lib / r["seconds"]
        lines.append(f"| {r['name']} | {_fmt(rtf, '.4f')} | {_fmt(speed, '.1f')} | {_fmt(r['sc'], '.3f')} | "
                     f"{_fmt(r['lsd'], '.2f')} | {_fmt(r['lsd_sound'], '.2f')} | {_fmt(r['acc'], '.3f')} |")
    lines += ["", *NOTES]
    lines += [
        "",
        "## Inverse STFT alone (the overlap-add is a transposed convolution: stride = hop, kernel = n_fft)",
        "",
        f"Spectrogram of the same audio, {header['istft_shape']} complex64; median of interleaved runs.",
        "",
        "| iSTFT | ms | / torch.istft | max abs error vs torch.istft |",
        "|---|---:|---:|---:|",
    ]
    for r in istft_rows:
        lines.append(f"| {r['name']} | {r['ms']:.3f} | {r['ratio']:.2f} | {r['err']:.1e} |")
    return "\n".join(lines) + "\n"


def _pin_threads(threads: int):
    """Same thread count for torch, Numba, and the BLAS/OpenMP pools NumPy (librosa) uses."""
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(threads)
    numba.set_num_threads(threads)
    return threadpool_limits(limits=threads)


def run(clips: Clips, cfg: MelConfig, iters: int, repeats: int, neural: str | None, classifier_steps: int,
        cache_dir: Path) -> tuple[list[dict], list[dict]]:
    fns = methods(cfg, iters, neural)
    mel_cache: dict[MelConfig, torch.Tensor] = {}
    for _, m in fns.values():
        if m not in mel_cache:
            mel_cache[m] = log_mels(clips.waves, m)  # (N, n_mels, T)
    inputs = {name: mel_cache[m] for name, (_, m) in fns.items()}
    warm = {name: x[:1] for name, x in inputs.items()}
    with torch.no_grad():
        secs, outs = time_methods({k: f for k, (f, _) in fns.items()}, inputs, warm, repeats)
    clf = None if clips.labels is None else digit_classifier(cfg, classifier_steps, cache_dir)[0]

    def row(name: str, seconds: float | None, y: torch.Tensor) -> dict:
        sc, lsd = quality(clips.waves, y, cfg)
        acc = None if clf is None else accuracy(clf, y, clips.labels, cfg)
        return dict(name=name, seconds=seconds, sc=sc, lsd=lsd, lsd_sound=lsd_report(clips.waves, y, cfg)["lsd_voiced"],
                    acc=acc)

    rows = [row("original audio (re-analysed: the ceiling)", None, clips.waves)]
    rows += [row(name, secs[name], outs[name]) for name in fns]
    spec = stft(clips.waves, cfg)
    return rows, time_istft(spec, cfg, max(5, 3 * repeats))


def main(argv: list[str] | None = None) -> str:
    from gen_media.data import data_home
    from gen_media.speech import EvalConfig

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--audio", type=Path, default=None,
                        help="folder of wav/flac/ogg (searched recursively); default: held-out digits-synth clips")
    parser.add_argument("--seconds", type=float, default=50.0, help="seconds of audio to vocode")
    parser.add_argument("--clip-seconds", type=float, default=4.0, help="clip length for --audio")
    parser.add_argument("--iters", type=int, default=32, help="Griffin-Lim iterations for every method")
    parser.add_argument("--threads", type=int, default=2, help="threads for torch, numba and BLAS alike")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per method (median)")
    parser.add_argument("--neural", default=None, help="a neural vocoder run/checkpoint (gen_media.vocoder)")
    parser.add_argument("--classifier-steps", type=int, default=EvalConfig().classifier_steps,
                        help="digit-classifier training steps (as the speech evaluate command)")
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="where the digit classifier is cached (default $GEN_MEDIA_DATA/bench)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="markdown table file ('-': none)")
    args = parser.parse_args(argv)
    cfg = MelConfig.preset("default")
    with _pin_threads(args.threads):
        clips = (load_digits(args.seconds, cfg) if args.audio is None
                 else load_folder_clips(args.audio, args.seconds, args.clip_seconds, cfg))
        print(f"audio: {clips.description}", flush=True)
        rows, istft_rows = run(clips, cfg, args.iters, args.repeats, args.neural, args.classifier_steps,
                               args.cache_dir or data_home() / "bench")
    import librosa
    import torchaudio

    header = dict(threads=args.threads, audio=clips.description, seconds=clips.seconds, repeats=args.repeats,
                  mel=f"{cfg.sample_rate} Hz, n_fft {cfg.n_fft}, hop {cfg.hop_length}, {cfg.n_mels} mels, "
                      f"{cfg.mel_scale} scale, {cfg.window} window",
                  librosa=librosa.__version__, torchaudio=torchaudio.__version__,
                  istft_shape=f"({len(clips.waves)}, {cfg.n_freqs}, {cfg.num_frames(clips.waves.shape[-1])})")
    text = table(rows, istft_rows, header)
    publish(text, None if str(args.out) == "-" else args.out)
    return text


if __name__ == "__main__":
    main()
