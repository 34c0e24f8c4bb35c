"""The neural vocoder: the inverse STFT as a transposed convolution, shapes, stride checks, backends, training
through the CLI (run, load, resume, both generators, the adversarial loss), overfit, vocode/generate with
--vocoder neural, mel-config mismatch, checkpoints from before the iSTFT generator. Tiny models; seconds each."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from gen_media.audio import MelConfig, istft
from gen_media.config import ConfigError, load_config
from gen_media.recipes.speech import main
from gen_media.vocoder import (
    HiFiGANGenerator,
    InverseSTFT,
    ISTFTGenerator,
    NeuralVocoder,
    ReconstructionLoss,
    VocoderConfig,
    VocoderModelConfig,
    VocoderTask,
)

RATE = 16000
MEL = MelConfig.preset("default")
TINY = dict(upsample_initial_channel=16, resblock_kernels=(3,), resblock_dilations=((1, 2),))


def tiny_model(mel: MelConfig = MEL, backend: str = "torch", **kw) -> HiFiGANGenerator:
    rates = kw.pop("upsample_rates", (8, 8, 4))
    torch.manual_seed(0)
    cfg = VocoderModelConfig(generator="hifigan", backend=backend, upsample_rates=rates, **{**TINY, **kw})
    return HiFiGANGenerator(mel, cfg)


def tiny_istft(mel: MelConfig = MEL, backend: str = "torch", **kw) -> ISTFTGenerator:
    torch.manual_seed(0)
    return ISTFTGenerator(mel, VocoderModelConfig(backend=backend, width=16, layers=2, **kw))


TINY_GENERATORS = {"hifigan": tiny_model, "istft": tiny_istft}


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    """Two 'words' (a low and a high tone with a glide, silence around them), 12 clips each, folder layout."""
    root = tmp_path_factory.mktemp("tiny_vocoder")
    rng = np.random.default_rng(0)
    t = np.arange(int(0.3 * RATE)) / RATE
    for label, f0 in (("low", 220.0), ("high", 880.0)):
        (root / label).mkdir()
        for i in range(12):
            f = f0 * (1 + 0.05 * rng.standard_normal()) * (1 + 0.3 * t)
            wave = 0.3 * np.sin(2 * np.pi * np.cumsum(f) / RATE) * np.hanning(len(t))
            sf.write(root / label / f"{i:02d}.wav", np.pad(wave, (1600, 1600)).astype(np.float32), RATE)
    return root


def tiny_sets(root, *extra):
    sets = ["data.name=folder", f"data.root={root}", "data.clip_seconds=0.5", "model.width=16", "model.layers=1",
            "model.upsample_initial_channel=16",
            "model.resblock_kernels=[3]", "model.resblock_dilations=[[1,2]]", "train.segment_frames=8",
            "train.batch_size=4", "train.steps=6", "train.log_every=1", "train.checkpoint_every=3",
            "train.val_every=3", "train.sample_every=6", "train.val_clips=2", "train.warmup_steps=2", *extra]
    return [a for s in sets for a in ("--set", s)]


@pytest.fixture(scope="module")
def trained(tiny_data, tmp_path_factory):
    run = tmp_path_factory.mktemp("voc") / "run"
    assert main(["train-vocoder", "--out", str(run), *tiny_sets(tiny_data)]) == 0
    return run


def metrics(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("rates,hop", [((8, 8, 4), 256), ((4, 4, 4, 4), 256), ((16, 16), 256), ((8, 6, 5), 240),
                                       ((3, 3), 9)])
@pytest.mark.parametrize("frames", [1, 5, 13])
def test_output_is_one_hop_per_frame(rates, hop, frames):
    mel = MEL.replace(hop_length=hop)
    gen = tiny_model(mel, upsample_rates=rates)
    assert gen(torch.randn(2, mel.n_mels, frames) - 5).shape == (2, frames * hop)


def test_strides_must_multiply_to_the_hop():
    with pytest.raises(ValueError, match=r"multiply to 128.*hop is 256"):
        tiny_model(upsample_rates=(8, 8, 2))
    with pytest.raises(ConfigError, match="upsample_rates"):
        load_config(VocoderConfig, None, ["model.generator=hifigan", "model.upsample_rates=[8,8]"])
    load_config(VocoderConfig, None, ["model.upsample_rates=[8,8]"])  # only the HiFi-GAN generator uses them
    with pytest.raises(ConfigError, match="upsample_rates"):
        VocoderModelConfig(upsample_rates=(256, 1))


@pytest.mark.parametrize("mel", [MEL, MEL.replace(n_fft=512, hop_length=128, win_length=400, window="hamming"),
                                 MEL.replace(center=False), MEL.replace(n_fft=255, hop_length=64, win_length=None)],
                         ids=["default", "hamming-win400", "uncentred", "odd-fft"])
@pytest.mark.parametrize("backend", ["torch", "numba"])
def test_inverse_stft_is_a_transposed_convolution_equal_to_istft(mel, backend):
    torch.manual_seed(0)
    frames = 9
    spec = torch.randn(2, mel.n_freqs, frames, dtype=torch.complex64)  # any coefficients, consistent or not
    spec[:, 0].imag = 0  # a real signal's DC (and Nyquist) bins are real; the inverse DFT ignores their sine part
    if mel.n_fft % 2 == 0:
        spec[:, -1].imag = 0
    y = InverseSTFT(mel, backend)(torch.cat([spec.real, spec.imag], dim=1))
    torch.testing.assert_close(y, istft(spec, mel, length=frames * mel.hop_length, backend="torch"),
                               rtol=1e-4, atol=1e-6)
    if mel.center:
        torch.testing.assert_close(y, torch.istft(spec, mel.n_fft, mel.hop_length, mel.win_length,
                                                  torch.hann_window(mel.win_length) if mel.window == "hann" else
                                                  torch.hamming_window(mel.win_length), center=True,
                                                  length=frames * mel.hop_length), rtol=1e-4, atol=1e-6)


def test_istft_generator_needs_overlapping_frames():
    with pytest.raises(ValueError, match=r"hop <= n_fft / 2.*hop 600, n_fft 1024"):
        tiny_istft(MEL.replace(hop_length=600))
    assert tiny_istft(MEL.replace(hop_length=512))(torch.zeros(1, MEL.n_mels, 3)).shape == (1, 3 * 512)
    with pytest.raises(ConfigError, match="model.width"):
        VocoderModelConfig(width=0)


@pytest.mark.parametrize("generator", ["hifigan", "istft"])
def test_torch_and_numba_backends_agree(generator):
    x = torch.randn(2, MEL.n_mels, 4) - 5
    outs, grads = {}, {}
    for backend in ("torch", "numba"):
        gen = TINY_GENERATORS[generator](backend=backend, silence_gate=False)
        y = gen(x)
        y.square().sum().backward()
        outs[backend] = y.detach()
        grads[backend] = {n: p.grad for n, p in gen.named_parameters() if p.requires_grad}
    assert "istft.conv.weight" not in grads["torch"]  # the inverse DFT is fixed
    torch.testing.assert_close(outs["numba"], outs["torch"], rtol=1e-4, atol=1e-6)
    for name, g in grads["torch"].items():
        torch.testing.assert_close(grads["numba"][name], g, rtol=1e-3, atol=1e-6, msg=name)


def test_silence_gate_and_fold():
    gen = tiny_model(silence_gate=True)
    mel = torch.full((1, MEL.n_mels, 6), float(np.log(MEL.floor)))
    mel[..., 3] = 0.0  # one sounding frame
    y = gen(mel)
    assert (y[0, :2 * MEL.hop_length] == 0).all() and y[0, 3 * MEL.hop_length - 10:].abs().sum() > 0
    x = torch.randn(1, MEL.n_mels, 5)
    with torch.no_grad():
        before = gen(x)
        torch.testing.assert_close(gen.fold()(x), before, rtol=1e-5, atol=1e-7)
    assert not any("parametrizations" in k for k in gen.state_dict())


@pytest.mark.parametrize("generator", ["hifigan", "istft"])
def test_loss_decreases_on_a_tiny_overfit(generator):
    torch.manual_seed(0)
    t = torch.arange(8 * MEL.hop_length) / RATE
    y = (0.3 * torch.sin(2 * np.pi * 440 * t))[None]  # (1, 2048)
    from gen_media.speech import log_mels

    m = log_mels(torch.nn.functional.pad(y, (0, MEL.hop_length)), MEL)[..., :8]  # (1, 80, 8), one hop per frame
    gen = TINY_GENERATORS[generator](silence_gate=False)
    loss_fn = ReconstructionLoss(MEL, (0.5, 1.0), 1.0, 1.0, 1e-5)
    opt = torch.optim.Adam(gen.parameters(), {"hifigan": 3e-3, "istft": 1e-2}[generator])
    losses = []
    for _ in range(40):
        loss = loss_fn(gen(m), y)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.7 * losses[0], losses


def test_phase_loss_sees_what_magnitude_losses_cannot():
    """A wave and its sign flip have the same magnitudes everywhere: the MR-STFT and mel terms are 0, the phase
    term (anti-wrapped instantaneous phase, group delay, instantaneous frequency) is not; silence adds nothing
    and the gradient stays finite there."""
    t = torch.arange(16 * MEL.hop_length) / RATE
    y = (0.3 * torch.sin(2 * np.pi * 440 * t) * (t < 0.15))[None]  # (1, 4096), tone then digital silence
    loss_fn = ReconstructionLoss(MEL, (1.0,), 1.0, 1.0, 1e-5, phase_weight=1.0)
    flipped = (-y).requires_grad_()
    terms = loss_fn(flipped, y)
    assert terms["log_mag"].item() < 1e-6 and terms["mel_l1"].item() < 1e-6
    assert terms["phase"].item() > 0.5  # a phase error of pi on every bin with sound, none in the differences
    terms["loss"].backward()
    assert flipped.grad.isfinite().all()
    assert float(loss_fn(y, y)["phase"]) == 0.0
    assert "phase" not in ReconstructionLoss(MEL, (1.0,), 1.0, 1.0, 1e-5)(y, y)


def test_train_vocoder_writes_a_run_that_loads(trained):
    for name in ("last.pt", "best.pt", "config.toml", "meta.json", "losses.png"):
        assert (trained / name).is_file(), name
    rows = metrics(trained)
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5, 6]
    assert all(np.isfinite(r["loss"]) and "log_mag" in r and "mel_l1" in r for r in rows)
    assert {"val", "lsd_voiced", "gl_lsd"} <= set(rows[2])
    samples = trained / "samples" / "step_000006"
    assert (samples / "spectrograms.png").stat().st_size > 0 and (samples / "000_neural.wav").is_file()
    voc = NeuralVocoder.load(trained)
    assert voc.mel == MEL
    m = torch.randn(MEL.n_mels, 7) - 5
    assert voc(m).shape == (7 * MEL.hop_length,) and voc(m[None]).shape == (1, 7 * MEL.hop_length)
    assert voc(m).dtype == torch.float32 and not voc(m).requires_grad
    torch.testing.assert_close(NeuralVocoder.load(trained / "last.pt", backend="numba")(m),
                               NeuralVocoder.load(trained / "last.pt")(m), rtol=1e-4, atol=1e-6)


def test_resume_gives_the_same_losses(tiny_data, trained, tmp_path, monkeypatch):
    """Stopped by Ctrl-C inside step 4 and resumed, the run logs what the unbroken run logged."""
    broken = tmp_path / "broken"
    original = VocoderTask.train_step

    def interrupted(self, batch, step):
        if step == 3:
            raise KeyboardInterrupt
        return original(self, batch, step)

    monkeypatch.setattr(VocoderTask, "train_step", interrupted)
    assert main(["train-vocoder", "--out", str(broken), *tiny_sets(tiny_data)]) == 130
    monkeypatch.setattr(VocoderTask, "train_step", original)
    assert main(["train-vocoder", "--out", str(broken), "--resume"]) == 0
    a, b = metrics(trained), metrics(broken)
    assert [r["step"] for r in b] == [1, 2, 3, 4, 5, 6]
    for ra, rb in zip(a, b, strict=True):
        assert ra["loss"] == pytest.approx(rb["loss"], rel=1e-5)


def test_vocode_cli_neural_and_mel_mismatch(trained, tmp_path):
    mel = (torch.randn(MEL.n_mels, 11) - 5).numpy()
    np.save(tmp_path / "m.npy", mel)
    out = tmp_path / "out.wav"
    assert main(["vocode", str(tmp_path / "m.npy"), str(out), "--vocoder", "neural", "--checkpoint", str(trained)]) == 0
    wav, rate = sf.read(out)
    assert rate == RATE and len(wav) == 11 * MEL.hop_length
    # same band count, other analysis (HiFi-GAN's 22.05 kHz preset): refused
    assert main(["vocode", str(tmp_path / "m.npy"), str(out), "--vocoder", "neural", "--checkpoint", str(trained),
                 "--preset", "hifigan"]) == 2
    voc = NeuralVocoder.load(trained)
    with pytest.raises(ValueError, match="another mel config"):
        voc(torch.from_numpy(mel), mel=MelConfig.preset("hifigan"))
    with pytest.raises(ValueError, match="n_mels=80"):
        voc(torch.randn(40, 5))
    assert main(["vocode", str(tmp_path / "m.npy"), str(out), "--vocoder", "neural"]) == 2  # no --checkpoint


def test_evaluate_vocoder_reports_both_vocoders(trained, capsys):
    assert main(["evaluate-vocoder", "--checkpoint", str(trained), "--clips", "2", "--iters", "2"]) == 0
    report = json.loads((trained / "evaluate_vocoder.json").read_text())
    assert report == json.loads(capsys.readouterr().out)
    assert report["clips"] == 2 and report["backend"] in ("torch", "numba")
    for part in ("neural", "griffin_lim_2"):
        assert report[part]["clips"] == 2 and report[part]["lsd"] > 0 and 0 < report[part]["voiced_frames"] <= 1
    assert report["neural_rtf"] > 0 and report["griffin_lim_rtf"] > 0


def test_generate_with_the_neural_vocoder(tiny_data, trained, tmp_path):
    speech = tmp_path / "speech"
    sets = ["data.name=folder", f"data.root={tiny_data}", "data.clip_seconds=0.5", "model.channels=[32,32,16]",
            "model.encoder_channels=[16,32]", "model.latent_dim=8", "model.label_dim=4", "train.steps=2",
            "train.batch_size=4", "train.sample_every=0", "train.warmup_steps=1"]
    assert main(["train", "--out", str(speech), *[a for s in sets for a in ("--set", s)]]) == 0
    out = tmp_path / "gen"
    assert main(["generate", "--checkpoint", str(speech), "--out", str(out), "--n", "2", "--vocoder", "neural",
                 "--vocoder-checkpoint", str(trained)]) == 0
    frames = np.load(out / "000_high.npy").shape[-1]
    assert len(sf.read(out / "000_high.wav")[0]) == frames * MEL.hop_length


def test_hifigan_generator_through_the_cli_and_checkpoints_from_before_the_istft_generator(tiny_data, tmp_path):
    run = tmp_path / "hifigan"
    sets = tiny_sets(tiny_data, "model.generator=hifigan", "train.steps=2", "train.val_every=2")
    assert main(["train-vocoder", "--out", str(run), *sets]) == 0
    voc = NeuralVocoder.load(run)
    assert isinstance(voc.generator, HiFiGANGenerator)
    m = torch.randn(MEL.n_mels, 5) - 5
    # a checkpoint written before model.generator existed (no such key) loads as the HiFi-GAN it was
    ckpt = torch.load(run / "last.pt", weights_only=False)
    del ckpt["config"]["model"]["generator"]
    torch.save(ckpt, tmp_path / "old.pt")
    old = NeuralVocoder.load(tmp_path / "old.pt")
    assert isinstance(old.generator, HiFiGANGenerator)
    torch.testing.assert_close(old(m), NeuralVocoder.load(run / "last.pt")(m))


def test_adversarial_training_steps_both_networks(tiny_data, tmp_path, monkeypatch):
    """With loss.adversarial the discriminators train from loss.adv_start on, and the generator's loss gains
    the LSGAN and feature-matching terms."""
    before: list[dict] = []
    original = VocoderTask._disc_step

    def spy(self, y, y_hat):
        before.append({k: v.clone() for k, v in self.models["discriminator"].state_dict().items()})
        return original(self, y, y_hat)

    monkeypatch.setattr(VocoderTask, "_disc_step", spy)
    run = tmp_path / "adv"
    sets = tiny_sets(tiny_data, "loss.adversarial=true", "loss.adv_start=2", "loss.periods=[2,3]", "loss.scales=2",
                     "loss.disc_channels=[4,8]", "train.steps=4", "train.val_every=4", "train.sample_every=0")
    assert main(["train-vocoder", "--out", str(run), *sets]) == 0
    rows = metrics(run)
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    assert len(before) == 2  # steps 3 and 4 (0-based 2 and 3 >= adv_start)
    assert all("d_loss" not in r for r in rows[:2])  # reconstruction only before adv_start
    for r in rows[2:]:
        assert all(np.isfinite(r[k]) and r[k] > 0 for k in ("d_loss", "g_adv", "fm")), r
        assert r["loss"] > r["log_mag"] + r["mel_l1"]  # the adversarial terms are in the generator's loss
    final = torch.load(run / "last.pt", weights_only=False)["task"]["models"]["discriminator"]
    changed = [k for k, v in before[0].items() if not torch.equal(v, final[k])]
    assert changed, "the discriminator's weights did not move"
