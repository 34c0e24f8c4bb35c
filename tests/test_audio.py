"""gen_media.audio: MelConfig, log-mels (vs librosa and an independent HiFi-GAN recipe), mel inversion,
fast Griffin-Lim, metrics, WAV I/O and mel pictures.

Device-dependent tests are written once in a mixin and run by thin CPU / CUDA subclasses."""

from __future__ import annotations

import dataclasses
import os
import warnings

import librosa
import numpy as np
import pytest
import scipy.signal
import soundfile as sf
import torch

from gen_media.audio import (
    GriffinLimVocoder,
    MelConfig,
    MelSpectrogram,
    griffin_lim,
    istft,
    log_spectral_distance,
    mel_filterbank,
    mel_spectrogram,
    mel_spectrogram_np,
    mel_to_linear,
    read_audio,
    save_mel_png,
    spectral_convergence,
    stft,
    stft_magnitude,
    write_wav,
)

# ---- signals and references ------------------------------------------------------------------------------


def harmonic_chirp(sr: int = 16_000, seconds: float = 3.0) -> np.ndarray:
    """Exponential chirp 120 -> 300 Hz with decaying harmonics up to Nyquist and a slow amplitude envelope."""
    t = np.arange(int(sr * seconds)) / sr
    f0 = 120.0 * (300.0 / 120.0) ** (t / seconds)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    x = sum((0.6 / k) * np.sin(k * phase) for k in range(1, 40) if k * f0.max() < sr / 2)
    env = 0.5 + 0.5 * np.sin(2 * np.pi * 1.5 * t) ** 2
    return (0.3 * x * env / np.abs(x).max()).astype(np.float32)


def noise(n: int, seed: int = 0, scale: float = 0.1) -> np.ndarray:
    return (scale * np.random.default_rng(seed).standard_normal(n)).astype(np.float32)


def hifigan_mel_reference(
    y: np.ndarray, sr=22_050, n_fft=1024, hop=256, win=1024, n_mels=80, fmin=0.0, fmax=8000.0
) -> np.ndarray:
    """HiFi-GAN's ``mel_spectrogram`` recipe, re-derived in float64 NumPy: librosa Slaney filters,
    reflect pad (n_fft - hop) / 2 on both sides, uncentred frames, periodic Hann, sqrt(|X|^2 + 1e-9),
    ln(clamp(., 1e-5))."""
    fb = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)  # Slaney scale + norm
    p = (n_fft - hop) // 2
    yp = np.pad(y.astype(np.float64), (p, p), mode="reflect")
    n_frames = 1 + (len(yp) - n_fft) // hop
    w = scipy.signal.get_window("hann", win, fftbins=True)
    frames = np.stack([yp[i * hop : i * hop + n_fft] * w for i in range(n_frames)], axis=1)  # (n_fft, T)
    spec = np.fft.rfft(frames, axis=0)
    mag = np.sqrt(spec.real**2 + spec.imag**2 + 1e-9)
    return np.log(np.clip(fb @ mag, 1e-5, None))


# ---- MelConfig -------------------------------------------------------------------------------------------


def test_presets():
    d = MelConfig.preset("default")
    assert (d.sample_rate, d.n_fft, d.hop_length, d.win_length, d.n_mels) == (16_000, 1024, 256, 1024, 80)
    assert d.fmax is None and d.f_max == 8000.0 and d.center and d.n_freqs == 513
    h = MelConfig.preset("hifigan")
    assert (h.sample_rate, h.n_fft, h.hop_length, h.win_length, h.n_mels) == (22_050, 1024, 256, 1024, 80)
    assert (h.fmin, h.fmax, h.log, h.mel_scale, h.norm, h.center) == (
        0.0,
        8000.0,
        "ln",
        "slaney",
        "slaney",
        False,
    )
    assert (h.floor, h.power, h.window, h.pad_amount) == (1e-5, 1.0, "hann", 384)
    assert MelConfig.preset("hifigan", n_mels=64).n_mels == 64
    with pytest.raises(ValueError, match=r"unknown MelConfig preset 'nope'.*default.*hifigan"):
        MelConfig.preset("nope")


def test_config_roundtrip_frozen_hashable():
    h = MelConfig.preset("hifigan")
    assert MelConfig.from_dict(h.to_dict()) == h
    assert hash(MelConfig.from_dict(h.to_dict())) == hash(h)
    with pytest.raises(dataclasses.FrozenInstanceError):
        h.n_mels = 10  # type: ignore[misc]
    with pytest.raises(ValueError, match="unknown key.*n_mel"):
        MelConfig.from_dict({"n_mel": 80})
    assert h.replace(n_mels=40).n_mels == 40 and h.n_mels == 80


@pytest.mark.parametrize(
    "kwargs, exc, pattern",
    [
        (dict(n_fft=0), ValueError, "n_fft"),
        (dict(hop_length=256.0), TypeError, "hop_length"),
        (dict(n_mels=True), TypeError, "n_mels"),
        (dict(win_length=2048), ValueError, "win_length.*<= n_fft=1024"),
        (dict(fmax=9000.0), ValueError, "fmax.*Nyquist"),
        (dict(fmin=9000.0, fmax=8000.0), ValueError, "fmin"),
        (dict(log="log2"), ValueError, "log.*'log10', 'ln'"),
        (dict(floor=0.0), ValueError, "floor"),
        (dict(mel_scale="mel"), ValueError, "mel_scale"),
        (dict(norm="l2"), ValueError, "norm"),
        (dict(window="kaiser"), ValueError, "window"),
        (dict(pad=10), ValueError, "pad.*center=False"),
        (dict(center=False, pad=-1), ValueError, "pad"),
        (dict(power=0.0), ValueError, "power"),
        (dict(center=1), TypeError, "center"),
    ],
)
def test_config_validation(kwargs, exc, pattern):
    with pytest.raises(exc, match=pattern):
        MelConfig(**kwargs)


@pytest.mark.parametrize("preset", ["default", "hifigan"])
def test_frame_helpers(preset):
    cfg = MelConfig.preset(preset)
    for f in (4, 7, 100):  # (fewer frames make signals too short to reflect-pad)
        assert cfg.num_frames(cfg.num_samples(f)) == f
    if preset == "hifigan":
        assert cfg.num_frames(256 * 50) == 50 and cfg.num_samples(50) == 256 * 50
    else:
        assert cfg.num_frames(16_000) == 1 + 16_000 // 256 and cfg.num_samples(63) == 62 * 256
    with pytest.raises(ValueError, match="too short"):
        cfg.num_frames(cfg.min_samples - 1)


def test_filterbank_matches_librosa():
    for scale in ("slaney", "htk"):
        for norm in ("slaney", None):
            cfg = MelConfig(
                sample_rate=16_000, n_fft=512, n_mels=40, fmin=50.0, fmax=7000.0, mel_scale=scale, norm=norm
            )
            ref = librosa.filters.mel(
                sr=16_000, n_fft=512, n_mels=40, fmin=50.0, fmax=7000.0, htk=scale == "htk", norm=norm
            )
            ours = mel_filterbank(cfg, dtype=torch.float64).numpy()
            np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-6 * ref.max())


def test_empty_filters_warn():
    with pytest.warns(UserWarning, match="mel filters are empty"):
        mel_filterbank(MelConfig(n_fft=128, n_mels=128, fmin=1.0))


# ---- device-dependent tests (mixin + CPU/CUDA subclasses) ------------------------------------------------


class _AudioTests:
    device = "cpu"

    def t(self, x, dtype=torch.float32):
        return torch.as_tensor(np.asarray(x)).to(device=self.device, dtype=dtype)

    @pytest.mark.parametrize("center", [True, False])
    @pytest.mark.parametrize("n", [1024, 4000, 16_000, 16_001])
    def test_mel_shape(self, center, n):
        cfg = MelConfig(center=center)
        x = self.t(noise(2 * 3 * n).reshape(2, 3, n))
        m = mel_spectrogram(x, cfg)
        assert m.shape == (2, 3, cfg.n_mels, cfg.num_frames(n)) and m.device == x.device
        expected = 1 + n // 256 if center else n // 256
        assert m.shape[-1] == expected
        assert mel_spectrogram(x[0, 0], cfg).shape == (cfg.n_mels, expected)

    def test_hifigan_matches_reference(self):
        cfg = MelConfig.preset("hifigan")
        y = noise(22_050)
        y[:6000] *= 1e-3  # a quiet stretch exercises the floor and the 1e-9
        y += 0.2 * np.sin(2 * np.pi * 220 * np.arange(len(y)) / 22_050).astype(np.float32)
        ref = hifigan_mel_reference(y)
        m64 = mel_spectrogram(self.t(y, torch.float64), cfg).cpu().numpy()
        m32 = mel_spectrogram(self.t(y), cfg).cpu().numpy()
        assert m64.shape == ref.shape == (80, len(y) // 256)
        np.testing.assert_allclose(m64, ref, atol=1e-6)  # librosa's filters are float32
        np.testing.assert_allclose(m32, ref, atol=1e-3)  # float32 FFT rounding, seen in quiet bins

    def test_default_matches_librosa_melspectrogram(self):
        cfg = MelConfig.preset("default", log="log10")
        x = noise(20_000, seed=1)
        ref = librosa.feature.melspectrogram(
            y=x.astype(np.float64),
            sr=16_000,
            n_fft=1024,
            hop_length=256,
            n_mels=80,
            power=1.0,
            center=True,
            pad_mode="reflect",
        )
        ours = mel_spectrogram(self.t(x, torch.float64), cfg).cpu().numpy()
        np.testing.assert_allclose(ours, np.log10(np.maximum(ref, 1e-5)), atol=1e-6)

    @pytest.mark.parametrize("preset", ["default", "hifigan"])
    @pytest.mark.parametrize("win_length", [None, 800])
    def test_stft_istft_roundtrip(self, preset, win_length):
        cfg = MelConfig.preset(preset, win_length=win_length)
        x = self.t(noise(cfg.num_samples(40) * 2).reshape(2, -1), torch.float64)
        y = istft(stft(x, cfg), cfg)
        assert y.shape == x.shape
        torch.testing.assert_close(y, x, atol=1e-9, rtol=0)

    def test_mel_inversion_reproduces_mel(self):
        cfg = MelConfig.preset("default")
        a = mel_filterbank(cfg, device=self.device)
        lin = self.t(np.random.default_rng(0).gamma(0.5, 0.2, size=(2, cfg.n_freqs, 30)))  # (B, F, T) >= 0
        target = a @ lin  # (B, n_mels, T), its mel projection
        mel = target.log()
        inv0 = mel_to_linear(mel, cfg, nnls_iter=0)
        inv = mel_to_linear(mel, cfg)  # pinv start + FISTA refinement
        assert inv.shape == lin.shape and (inv >= 0).all()
        err0 = ((a @ inv0 - target).norm() / target.norm()).item()
        err = ((a @ inv - target).norm() / target.norm()).item()
        assert err < 2e-2 and err < err0

    def test_griffin_lim_copy_synthesis(self):
        cfg = MelConfig.preset("default")
        x = self.t(harmonic_chirp(seconds=3.0))
        mel = mel_spectrogram(x, cfg)
        ref = stft_magnitude(x, cfg)

        def sc(n_iter, momentum=0.99):
            y = griffin_lim(mel, cfg, n_iter=n_iter, momentum=momentum)
            assert y.shape == (cfg.num_samples(mel.shape[-1]),) and torch.isfinite(y).all()
            n = y.shape[-1]
            return spectral_convergence(stft_magnitude(x[:n], cfg), stft_magnitude(y, cfg)).item()

        s2, s32 = sc(2), sc(32)
        assert s32 < 0.35, s32
        assert s32 < s2 - 0.05
        assert s32 < sc(32, momentum=0.0)  # the momentum is what makes it fast
        assert ref.shape[-1] == mel.shape[-1]

    def test_griffin_lim_hifigan_framing(self):
        cfg = MelConfig.preset("hifigan")
        x = self.t(harmonic_chirp(sr=22_050, seconds=2.0)[: 256 * 160])
        mel = mel_spectrogram(x, cfg)
        y = GriffinLimVocoder(cfg).to(self.device)(mel)
        assert y.shape == x.shape  # one hop per frame
        s = spectral_convergence(stft_magnitude(x, cfg), stft_magnitude(y, cfg)).item()
        assert s < 0.35, s
        assert (mel_spectrogram(y, cfg) - mel).abs().mean() < 0.3  # ln-mel of the resynthesis is close

    def test_batch_consistency(self):
        cfg = MelConfig(n_fft=512, hop_length=128, n_mels=64)
        x = self.t(noise(2 * 3 * 4000).reshape(2, 3, 4000))
        mel = mel_spectrogram(x, cfg)
        module = MelSpectrogram(cfg).to(self.device)
        torch.testing.assert_close(module(x), mel)
        assert module.state_dict() == {}
        voc = GriffinLimVocoder(cfg, n_iter=8).to(self.device)
        y = griffin_lim(mel, cfg, n_iter=8)
        torch.testing.assert_close(voc(mel), y)
        mel64 = mel.double()
        y64 = griffin_lim(mel64, cfg, n_iter=8)
        for i in range(2):
            for j in range(3):
                torch.testing.assert_close(mel_spectrogram(x[i, j], cfg), mel[i, j], atol=1e-5, rtol=1e-5)
                # float32 rounding grows over the iterations; float64 shows the batch itself changes nothing
                torch.testing.assert_close(griffin_lim(mel[i, j], cfg, n_iter=8), y[i, j], atol=2e-4, rtol=0)
                torch.testing.assert_close(griffin_lim(mel64[i, j], cfg, n_iter=8), y64[i, j], atol=1e-10, rtol=0)

    def test_float64_and_length(self):
        cfg = MelConfig.preset("default")
        mel = mel_spectrogram(self.t(noise(8000), torch.float64), cfg)
        assert mel.dtype == torch.float64
        y = griffin_lim(mel, cfg, n_iter=2, length=8000)
        assert y.dtype == torch.float64 and y.shape == (8000,)

    def test_metrics(self):
        cfg = MelConfig.preset("default")
        x = self.t(noise(2 * 8000).reshape(2, 8000))
        mag = stft_magnitude(x, cfg)
        assert spectral_convergence(mag, mag).shape == (2,)
        assert spectral_convergence(mag, mag).abs().max() == 0
        assert log_spectral_distance(mag, mag).abs().max() == 0
        torch.testing.assert_close(spectral_convergence(mag, 0.5 * mag), torch.full_like(mag[:, 0, 0], 0.5))
        torch.testing.assert_close(log_spectral_distance(mag, 10 * mag, eps=0.0), torch.full_like(mag[:, 0, 0], 20.0))
        with pytest.raises(ValueError, match="same"):
            spectral_convergence(mag, mag[..., :-1])


class TestAudioCPU(_AudioTests):
    device = "cpu"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
class TestAudioCUDA(_AudioTests):
    device = "cuda"


# ---- CPU-only behaviour ----------------------------------------------------------------------------------


def test_input_errors():
    cfg = MelConfig.preset("default")
    with pytest.raises(TypeError, match="floating"):
        mel_spectrogram(torch.zeros(4000, dtype=torch.int16), cfg)
    with pytest.raises(ValueError, match="too short.*at least 513"):
        mel_spectrogram(torch.zeros(100), cfg)
    with pytest.raises(ValueError, match="n_mels=80"):
        griffin_lim(torch.zeros(64, 10), cfg)
    with pytest.raises(ValueError, match="momentum"):
        griffin_lim(torch.zeros(80, 10), cfg, momentum=-1.0)


def test_mel_is_differentiable():
    cfg = MelConfig(sample_rate=8000, n_fft=64, hop_length=16, n_mels=8, center=False)
    x = torch.randn(2, 160, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda w: mel_spectrogram(w, cfg), (x,))


def test_numpy_convenience():
    cfg = MelConfig.preset("default")
    x = noise(4000)
    m = mel_spectrogram_np(x, cfg)
    assert isinstance(m, np.ndarray) and m.dtype == np.float32 and m.shape == (80, cfg.num_frames(4000))


# ---- WAV I/O ---------------------------------------------------------------------------------------------


def test_wav_roundtrip_16bit(tmp_path):
    x = 0.9 * np.sin(2 * np.pi * 440 * np.arange(16_000) / 16_000).astype(np.float32)
    path = write_wav(tmp_path / "sub" / "a.wav", torch.from_numpy(x), 16_000)
    info = sf.info(str(path))
    assert (info.subtype, info.samplerate, info.channels, info.frames) == ("PCM_16", 16_000, 1, 16_000)
    y, sr = read_audio(path)
    assert sr == 16_000 and y.dtype == np.float32 and y.shape == x.shape
    assert np.abs(y - x).max() <= 1.0 / 32_768 + 1e-7
    assert [p.name for p in path.parent.iterdir()] == ["a.wav"]  # no temp file left behind


def test_read_resamples_and_downmixes(tmp_path):
    t = np.arange(16_000) / 16_000
    st = np.stack([0.5 * np.sin(2 * np.pi * 440 * t), 0.3 * np.sin(2 * np.pi * 440 * t)])  # (channels, samples)
    path = write_wav(tmp_path / "st.wav", st, 16_000)
    assert sf.info(str(path)).channels == 2
    y, sr = read_audio(path, sample_rate=8000)
    assert sr == 8000 and y.shape == (8000,)
    spectrum = np.abs(np.fft.rfft(y))
    assert abs(np.argmax(spectrum) * 8000 / len(y) - 440) <= 1
    assert abs(np.abs(y[1000:7000]).max() - 0.4) < 0.01  # mean of the two channels


def test_wav_nonfinite_and_clipping_warn(tmp_path):
    x = np.array([0.1, np.nan, np.inf, -np.inf, 2.0, -0.5], dtype=np.float32)
    with pytest.warns(RuntimeWarning, match="3 NaN/inf"), pytest.warns(UserWarning, match="clipped"):
        path = write_wav(tmp_path / "bad.wav", x, 8000)
    y, _ = read_audio(path)
    np.testing.assert_allclose(y, [0.1, 0, 0, 0, 1.0, -0.5], atol=1 / 32_768)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        write_wav(tmp_path / "ok.wav", np.zeros(10), 8000)
    with pytest.raises(TypeError, match="floating"):
        write_wav(tmp_path / "int.wav", np.zeros(10, dtype=np.int16), 8000)


def test_wav_write_is_atomic(tmp_path, monkeypatch):
    path = write_wav(tmp_path / "keep.wav", np.full(100, 0.25), 8000)
    before = path.read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(sf, "write", boom)
    with pytest.raises(OSError, match="disk full"):
        write_wav(path, np.zeros(100), 8000)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["keep.wav"]


def test_wav_errors(tmp_path):
    with pytest.raises(ValueError, match="sample_rate"):
        write_wav(tmp_path / "x.wav", np.zeros(10), 0)
    with pytest.raises(ValueError, match="shape"):
        write_wav(tmp_path / "x.wav", np.zeros((1, 2, 3)), 8000)
    with pytest.raises(FileNotFoundError, match="nothere"):
        read_audio(tmp_path / "nothere.wav")


# ---- pictures --------------------------------------------------------------------------------------------


def test_save_mel_png(tmp_path):
    cfg = MelConfig.preset("default")
    mels = mel_spectrogram(torch.from_numpy(noise(3 * 8000).reshape(3, 8000)), cfg)
    path = save_mel_png(tmp_path / "png" / "mels.png", mels, cfg, titles=["a", "b", "c"])
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    ragged = [mels[0], mels[1, :, :10].numpy(), mels[2], mels[0], mels[1]]  # 5 items -> 2 columns
    assert save_mel_png(tmp_path / "r.png", ragged, cfg).stat().st_size > 5000
    with pytest.raises(ValueError, match="80 mel bins"):
        save_mel_png(tmp_path / "x.png", mels[:, :40], cfg)
    with pytest.raises(ValueError, match="titles"):
        save_mel_png(tmp_path / "x.png", mels, cfg, titles=["a"])
