"""The neural vocoder: shapes, stride checks, backends, training through the CLI (run, load, resume), overfit,
vocode/generate with --vocoder neural, mel-config mismatch. Tiny models; each test takes seconds."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from gen_media.audio import MelConfig
from gen_media.config import ConfigError, load_config
from gen_media.recipes.speech import main
from gen_media.vocoder import (
    HiFiGANGenerator,
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
    return HiFiGANGenerator(mel, VocoderModelConfig(backend=backend, upsample_rates=rates, **{**TINY, **kw}))


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
    sets = ["data.name=folder", f"data.root={root}", "data.clip_seconds=0.5", "model.upsample_initial_channel=16",
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
        load_config(VocoderConfig, None, ["model.upsample_rates=[8,8]"])
    with pytest.raises(ConfigError, match="upsample_rates"):
        VocoderModelConfig(upsample_rates=(256, 1))


def test_torch_and_numba_backends_agree_with_weight_norm():
    x = torch.randn(2, MEL.n_mels, 4) - 5
    outs, grads = {}, {}
    for backend in ("torch", "numba"):
        gen = tiny_model(backend=backend, silence_gate=False)
        y = gen(x)
        y.square().sum().backward()
        outs[backend] = y.detach()
        grads[backend] = {n: p.grad for n, p in gen.named_parameters()}
    torch.testing.assert_close(outs["numba"], outs["torch"], rtol=1e-4, atol=1e-6)
    for name, g in grads["torch"].items():
        torch.testing.assert_close(grads["numba"][name], g, rtol=1e-3, atol=1e-6, msg=name)


def test_silence_gate_and_fold():
    gen = tiny_model()
    mel = torch.full((1, MEL.n_mels, 6), float(np.log(MEL.floor)))
    mel[..., 3] = 0.0  # one sounding frame
    y = gen(mel)
    assert (y[0, :2 * MEL.hop_length] == 0).all() and y[0, 3 * MEL.hop_length - 10:].abs().sum() > 0
    x = torch.randn(1, MEL.n_mels, 5)
    with torch.no_grad():
        before = gen(x)
        torch.testing.assert_close(gen.fold()(x), before, rtol=1e-5, atol=1e-7)
    assert not any("parametrizations" in k for k in gen.state_dict())


def test_loss_decreases_on_a_tiny_overfit():
    torch.manual_seed(0)
    t = torch.arange(8 * MEL.hop_length) / RATE
    y = (0.3 * torch.sin(2 * np.pi * 440 * t))[None]  # (1, 2048)
    from gen_media.speech import log_mels

    m = log_mels(torch.nn.functional.pad(y, (0, MEL.hop_length)), MEL)[..., :8]  # (1, 80, 8), one hop per frame
    gen = tiny_model(silence_gate=False)
    loss_fn = ReconstructionLoss(MEL, (0.5, 1.0), 1.0, 1.0, 1e-5)
    opt = torch.optim.Adam(gen.parameters(), 3e-3)
    losses = []
    for _ in range(40):
        loss = loss_fn(gen(m), y)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.7 * losses[0], losses


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
