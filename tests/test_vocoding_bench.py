"""The vocoding benchmark runs end to end on a couple of seconds of audio and prints every method's row.
No timing assertions: timings belong to the benchmark, not to tests on a shared machine."""

from __future__ import annotations

import numpy as np
import torch

from gen_media.audio import write_wav
from gen_media.bench import vocoding

METHODS = ("original audio", "ours (griffin_lim", "ours, torch ops only", "librosa mel_to_audio",
           "torchaudio InverseMelScale+GriffinLim")
ISTFTS = ("torch.istft", "kernels.overlap_add", "kernels.conv_transpose1d, grouped", "DFT in weight")


def _speech_like(seconds: float, f0: float, sr: int = 16_000) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    x = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 12))
    return (0.2 * x * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t) ** 2)).astype(np.float32)


def test_bench_on_a_folder(tmp_path, capsys):
    for i, f0 in enumerate((110.0, 170.0)):
        write_wav(tmp_path / "audio" / f"{i}.wav", _speech_like(1.2, f0, 22_050), 22_050)  # resampled to 16 kHz
    out = tmp_path / "vocoding.md"
    text = vocoding.main(["--audio", str(tmp_path / "audio"), "--seconds", "2", "--clip-seconds", "1",
                          "--iters", "2", "--repeats", "1", "--out", str(out)])
    assert out.read_text() == text and text in capsys.readouterr().out
    for name in METHODS + ISTFTS:
        assert name in text, name
    rows = [line for line in text.splitlines() if line.startswith("| ours (griffin_lim")]
    assert len(rows) == 1 and rows[0].rstrip().endswith("| - |")  # unlabelled audio: no accuracy


def test_bench_accuracy_column(monkeypatch, capsys):
    """Labelled digits get the classifier's accuracy; stand-ins for the dataset and its classifier keep it fast."""
    from gen_media.eval.speech import train_classifier
    from gen_media.speech import log_mels

    waves = torch.from_numpy(np.stack([_speech_like(1.0, 100.0 + 40 * i) for i in range(4)]))
    labels = torch.tensor([0, 1, 0, 1])
    clips = vocoding.Clips(waves, labels, "stand-in digits", 16_000)
    monkeypatch.setattr(vocoding, "load_digits", lambda seconds, cfg: clips)
    monkeypatch.setattr(vocoding, "digit_classifier", lambda cfg, steps, cache_dir: train_classifier(
        log_mels(waves, cfg), labels, steps=2, batch_size=4, seed=0))
    text = vocoding.main(["--seconds", "4", "--iters", "2", "--repeats", "1", "--out", "-"])
    assert "stand-in digits" in text
    for name in METHODS:
        row = next(line for line in text.splitlines() if line.startswith(f"| {name}"))
        acc = row.rstrip(" |").rsplit("|", 1)[-1].strip()
        assert 0.0 <= float(acc) <= 1.0, row
