"""The speech recipe end to end on a tiny labelled folder dataset: train, resume, backends, generate,
mel/vocode round trip, bad inputs. Each test takes seconds."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from gen_media.recipes.speech import main
from gen_media.speech import SpeechTask

RATE = 16000


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    """Two 'words' (a low and a high tone with a pitch glide), 12 clips each, in folder layout."""
    root = tmp_path_factory.mktemp("tiny_speech")
    rng = np.random.default_rng(0)
    t = np.arange(int(0.4 * RATE)) / RATE
    for label, f0 in (("low", 220.0), ("high", 880.0)):
        (root / label).mkdir()
        for i in range(12):
            f = f0 * (1 + 0.05 * rng.standard_normal()) * (1 + 0.3 * t)
            wave = 0.3 * np.sin(2 * np.pi * np.cumsum(f) / RATE) + 0.01 * rng.standard_normal(len(t))
            sf.write(root / label / f"{i:02d}.wav", wave.astype(np.float32), RATE)
    return root


def tiny_args(root, out, *extra):
    sets = ["data.name=folder", f"data.root={root}", "data.clip_seconds=0.5", "model.channels=[32,32,16]",
            "model.encoder_channels=[16,32]", "model.latent_dim=8", "model.label_dim=4", "train.steps=6",
            "train.batch_size=8", "train.log_every=1", "train.sample_every=6", "train.checkpoint_every=3",
            "train.val_every=3", "train.warmup_steps=2", *extra]
    return ["train", "--out", str(out), *[a for s in sets for a in ("--set", s)]]


def metrics(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_train_writes_a_complete_run(tiny_data, tmp_path):
    run = tmp_path / "run"
    assert main(tiny_args(tiny_data, run)) == 0
    for name in ("last.pt", "best.pt", "config.toml", "meta.json", "losses.png"):
        assert (run / name).is_file(), name
    rows = metrics(run)
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5, 6]
    assert all(np.isfinite(r["loss"]) and "recon_loss" in r and "kl_loss" in r for r in rows)
    samples = run / "samples" / "step_000006"
    assert (samples / "spectrograms.png").stat().st_size > 0
    wav, rate = sf.read(samples / "000_high.wav", dtype="int16")
    assert rate == RATE and len(wav) > 0
    assert np.load(samples / "001_low.npy").shape == (80, 32)  # 0.5 s at hop 256, centred frames
    ckpt = torch.load(run / "last.pt", weights_only=True)
    assert ckpt["step"] == 6 and ckpt["extra"]["label_names"] == ["high", "low"]
    assert ckpt["extra"]["mel_config"]["n_mels"] == 80 and ckpt["config"]["seed"] == 0


def test_resume_gives_the_same_losses(tiny_data, tmp_path, monkeypatch):
    """A run stopped by Ctrl-C inside step 4 and resumed logs what an unbroken run logs."""
    straight, broken = tmp_path / "straight", tmp_path / "broken"
    assert main(tiny_args(tiny_data, straight)) == 0
    original = SpeechTask.train_step

    def interrupted(self, batch, step):
        if step == 3:
            raise KeyboardInterrupt
        return original(self, batch, step)

    monkeypatch.setattr(SpeechTask, "train_step", interrupted)
    assert main(tiny_args(tiny_data, broken)) == 130
    monkeypatch.setattr(SpeechTask, "train_step", original)
    assert torch.load(broken / "last.pt", weights_only=True)["step"] == 3
    assert main(["train", "--out", str(broken), "--resume"]) == 0
    a, b = metrics(straight), metrics(broken)
    assert [r["step"] for r in b] == [1, 2, 3, 4, 5, 6]
    for ra, rb in zip(a, b, strict=True):
        assert ra["loss"] == pytest.approx(rb["loss"], rel=1e-6, abs=1e-7)


@pytest.mark.parametrize("objective", ["vae", "gan"])
def test_numba_backend_trains_like_torch(tiny_data, tmp_path, objective):
    for backend in ("torch", "numba"):
        assert main(tiny_args(tiny_data, tmp_path / backend, f"model.backend={backend}",
                              f"model.objective={objective}", "train.sample_every=0")) == 0
    for rt, rn in zip(metrics(tmp_path / "torch"), metrics(tmp_path / "numba"), strict=True):
        assert rt["loss"] == pytest.approx(rn["loss"], rel=1e-3, abs=1e-4)


def test_generate_interpolate_and_label_errors(tiny_data, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(tiny_args(tiny_data, run, "train.sample_every=0")) == 0
    out = tmp_path / "gen"
    assert main(["generate", "--checkpoint", str(run), "--n", "3", "--label", "low", "--out", str(out),
                 "--iters", "4"]) == 0
    assert sorted(p.name for p in out.glob("*.wav")) == ["000_low.wav", "001_low.wav", "002_low.wav"]
    assert (out / "spectrograms.png").is_file() and (out / "mel_config.json").is_file()
    walk = tmp_path / "walk"
    assert main(["generate", "--checkpoint", str(run / "best.pt"), "--n", "4", "--label", "low:high",
                 "--interpolate", "--out", str(walk), "--iters", "2"]) == 0
    mels = [np.load(p) for p in sorted(walk.glob("*.npy"))]
    assert len(mels) == 4 and not np.allclose(mels[0], mels[-1])
    assert main(["generate", "--checkpoint", str(run), "--label", "seven", "--out", str(out)]) == 2
    assert "expected a class name ['high', 'low']" in capsys.readouterr().err


def test_mel_then_vocode_round_trip(tiny_data, tmp_path):
    wav = tiny_data / "low" / "00.wav"
    assert main(["mel", str(wav), str(tmp_path / "m.npy")]) == 0
    mel = np.load(tmp_path / "m.npy")
    assert mel.shape == (80, 26)  # 0.4 s
    assert main(["vocode", str(tmp_path / "m.npy"), str(tmp_path / "back.wav"), "--iters", "16"]) == 0
    back, rate = sf.read(tmp_path / "back.wav")
    orig, _ = sf.read(wav)
    assert rate == RATE and abs(len(back) - len(orig)) < 256
    # the same low tone: most energy below 600 Hz
    spec = np.abs(np.fft.rfft(back))
    freqs = np.fft.rfftfreq(len(back), 1 / RATE)
    assert spec[freqs < 600].sum() > spec[freqs >= 600].sum()
    # directories map file by file
    assert main(["mel", str(tiny_data / "high"), str(tmp_path / "mels")]) == 0
    assert len(list((tmp_path / "mels").glob("*.npy"))) == 12
    # vocode reads the analysis from the mel_config.json written beside the mels: no --preset needed
    assert main(["mel", str(wav), str(tmp_path / "hifi" / "m.npy"), "--preset", "hifigan"]) == 0
    assert main(["vocode", str(tmp_path / "hifi" / "m.npy"), str(tmp_path / "hifi.wav"), "--iters", "2"]) == 0
    assert sf.info(str(tmp_path / "hifi.wav")).samplerate == 22050


def test_bad_inputs_say_what_to_do(tiny_data, tmp_path, capsys):
    assert main(tiny_args(tiny_data, tmp_path / "a", "train.stepz=3")) == 2
    assert "unknown config key 'train.stepz'" in capsys.readouterr().err
    assert main(tiny_args(tiny_data, tmp_path / "b", "model.objective=diffusion")) == 2
    assert "model.objective" in capsys.readouterr().err
    assert main(tiny_args(tmp_path / "missing", tmp_path / "c")) == 2
    assert "missing" in capsys.readouterr().err
    assert main(tiny_args(tiny_data, tmp_path / "d", "data.name=timit")) == 2
    assert "data.name" in capsys.readouterr().err


def test_evaluate_reports_scores_for_generated_and_real(tiny_data, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(tiny_args(tiny_data, run, "train.sample_every=0", "eval.classifier_steps=20",
                          "eval.griffin_lim_iters=2")) == 0
    capsys.readouterr()
    assert main(["evaluate", "--checkpoint", str(run), "--n", "3"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert json.loads((run / "evaluate.json").read_text()) == report
    assert report["generated"]["n"] == 6 and report["real_test"]["n"] == 2
    for part in ("generated", "generated_mel", "real_test", "real_vocoded"):
        s = report[part]
        assert 0 <= s["accuracy"] <= 1 and 1 <= s["inception_score"] <= 2 + 1e-6 and s["frechet_distance"] >= 0
    assert (run / "eval_classifier.pt").is_file()


def test_unlabelled_folder_trains_an_unconditional_decoder(tiny_data, tmp_path, capsys):
    flat = tmp_path / "flat"
    flat.mkdir()
    for i, wav in enumerate(sorted(tiny_data.rglob("*.wav"))):
        (flat / f"{i:02d}.wav").write_bytes(wav.read_bytes())
    run = tmp_path / "run"
    assert main(tiny_args(flat, run, "train.sample_every=0")) == 0
    ckpt = torch.load(run / "last.pt", weights_only=True)
    assert ckpt["extra"]["n_classes"] == 0 and ckpt["extra"]["label_names"] == []
    out = tmp_path / "gen"
    assert main(["generate", "--checkpoint", str(run), "--n", "2", "--out", str(out), "--iters", "2"]) == 0
    assert len(list(out.glob("*.wav"))) == 2
    assert main(["generate", "--checkpoint", str(run), "--label", "1", "--out", str(out)]) == 2
    assert "unconditional" in capsys.readouterr().err
    assert main(["evaluate", "--checkpoint", str(run)]) == 2


def test_inspect_prints_the_decoder_table(capsys):
    assert main(["inspect", "--set", "model.channels=[64,32,16]"]) == 0
    out = capsys.readouterr().out
    assert "80 mels x 63 frames" in out and "ConvTranspose1d" in out
    assert "1x80x63" in out.splitlines()[-3] and out.splitlines()[-1].startswith("total")


@pytest.mark.parametrize("variant", [("upsample=resize", "kernel=0"), ("upsample=transposed", "kernel=3")])
def test_upsampling_variants_train_and_log_checkerboard(tiny_data, tmp_path, variant):
    run = tmp_path / "run"
    assert main(tiny_args(tiny_data, run, *(f"model.{v}" for v in variant), "train.sample_every=0")) == 0
    rows = [r for r in metrics(run) if "val" in r]
    assert rows and all(r["checkerboard_axis2"] >= 0 for r in rows)
    decoder = torch.load(run / "last.pt", weights_only=True)["task"]["models"]["decoder"]
    if variant[0] == "upsample=resize":  # Upsample then Conv1d(k=3): the conv is the Sequential's item 1
        assert decoder["blocks.0.up.1.weight"].shape[-1] == 3 and "blocks.0.up.weight" not in decoder
    else:  # ConvTranspose1d with kernel 3 at stride 2
        assert decoder["blocks.0.up.weight"].shape[-1] == 3


def test_upsampling_study_writes_its_table(tiny_data, tmp_path):
    from gen_media.bench.upsampling import main as study

    sets = tiny_args(tiny_data, tmp_path / "unused", "train.sample_every=6", "eval.classifier_steps=5",
                     "eval.griffin_lim_iters=2", "eval.n_per_class=2")[3:]
    assert study(["--media", "speech", "--out", str(tmp_path / "study"), *sets]) == 0
    table = (tmp_path / "study" / "upsampling_speech.md").read_text()
    rows = [ln for ln in table.splitlines() if ln.startswith("| transposed") or ln.startswith("| resize")]
    assert len(rows) == 3 and len(list((tmp_path / "study").glob("*.png"))) == 3
