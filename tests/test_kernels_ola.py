"""kernels.ola (overlap-add) and kernels.gl (banded FISTA mel inversion, fused Griffin-Lim phase step): each
against its plain-loop / dense reference, and the inverse STFT and Griffin-Lim built on them against torch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gen_media.audio import MelConfig, griffin_lim, istft, mel_filterbank, mel_spectrogram, stft
from gen_media.audio.griffinlim import _pinv_np, mel_to_linear
from kernels.gl import BandedMatrix, banded, mel_nnls, mel_nnls_reference, phase_step, phase_step_reference
from kernels.ola import overlap_add, overlap_add_reference


@pytest.mark.parametrize("dtype, tol", [(np.float32, 1e-5), (np.float64, 1e-12)])
@pytest.mark.parametrize("n_t, k, hop, offset, length", [
    (7, 16, 4, 0, None),  # K a multiple of hop
    (5, 10, 3, 2, 9),  # not a multiple, cropped
    (4, 8, 8, 0, None),  # no overlap
    (3, 4, 6, 1, 20),  # gaps between frames; longer than the signal (zero tail)
    (1, 5, 2, 0, None),  # one frame
])
def test_overlap_add_matches_reference(rng, dtype, tol, n_t, k, hop, offset, length):
    frames = rng.standard_normal((2, n_t, k)).astype(dtype)
    window = rng.uniform(0.5, 1.0, k).astype(dtype)
    total = (n_t - 1) * hop + k
    norm = rng.uniform(0.5, 2.0, total).astype(dtype)
    got = overlap_add(frames, hop, window, norm=norm, offset=offset, length=length)
    want = overlap_add_reference(frames, hop, window, norm=norm, offset=offset, length=length)
    assert got.dtype == dtype and got.shape == want.shape
    np.testing.assert_allclose(got, want, atol=tol, rtol=0)
    np.testing.assert_allclose(overlap_add(frames[0], hop, window, norm=norm, offset=offset, length=length),
                               want[0], atol=tol, rtol=0)  # unbatched


def test_overlap_add_is_conv_transpose(rng):
    """The definition it replaces: conv_transpose1d with stride = hop, kernel = frame length, diagonal weight."""
    frames = rng.standard_normal((2, 6, 8))
    w = rng.uniform(size=8)
    conv = torch.nn.functional.conv_transpose1d(torch.from_numpy(frames).transpose(1, 2),
                                                torch.from_numpy(np.diag(w)[:, None, :]), stride=3)
    np.testing.assert_allclose(overlap_add(frames, 3, w), conv[:, 0].numpy(), atol=1e-12)


@pytest.mark.parametrize("kwargs, pattern", [
    (dict(frames=np.zeros((2, 3), np.int32)), "float32/float64"),
    (dict(frames=np.zeros((3, 4), ">f4")), "native float32/float64"),  # the kernel compiles for native order
    (dict(frames=np.zeros((0, 3))), "non-empty"),
    (dict(hop=0), "hop"),
    (dict(window=np.ones(3)), r"window: expected shape \(4,\)"),
    (dict(norm=np.ones(3)), "norm"),
    (dict(offset=-1), "offset"),
    (dict(length=-2), "length"),
])
def test_overlap_add_errors(kwargs, pattern):
    args = dict(frames=np.zeros((3, 4)), hop=2)
    args.update(kwargs)
    with pytest.raises((ValueError, TypeError), match=pattern):
        overlap_add(args.pop("frames"), args.pop("hop"), **args)


@pytest.mark.parametrize("preset, win_length", [("default", None), ("hifigan", None), ("default", 800)])
def test_istft_numba_matches_torch(preset, win_length):
    cfg = MelConfig.preset(preset, win_length=win_length)
    x = torch.from_numpy(np.random.default_rng(1).standard_normal((2, 3, cfg.num_samples(20))).astype(np.float32))
    spec = stft(x, cfg)
    y_numba, y_torch = istft(spec, cfg, backend="numba"), istft(spec, cfg, backend="torch")
    torch.testing.assert_close(y_numba, y_torch, atol=1e-5, rtol=0)
    torch.testing.assert_close(y_numba, x, atol=1e-5, rtol=0)
    torch.testing.assert_close(istft(spec, cfg, length=cfg.num_samples(20) + 100, backend="numba"),
                               istft(spec, cfg, length=cfg.num_samples(20) + 100, backend="torch"), atol=1e-5, rtol=0)
    if cfg.center:  # same convention as torch.istft
        ref = torch.istft(spec.reshape(6, *spec.shape[-2:]), cfg.n_fft, cfg.hop_length, cfg.win_length,
                          torch.hann_window(cfg.win_length), center=True, length=x.shape[-1])
        torch.testing.assert_close(y_numba.reshape(6, -1), ref, atol=1e-5, rtol=0)


def test_istft_backend_choice():
    cfg = MelConfig.preset("default")
    spec = stft(torch.randn(cfg.num_samples(8), dtype=torch.float64), cfg).requires_grad_()
    y = istft(spec, cfg)  # auto: needs a gradient, so torch's fold
    assert y.requires_grad
    with pytest.raises(ValueError, match="backend='numba' needs CPU tensors without autograd"):
        istft(spec, cfg, backend="numba")
    with pytest.raises(ValueError, match="backend: expected one of"):
        istft(spec.detach(), cfg, backend="fold")


def test_mel_nnls_matches_dense_reference(rng):
    cfg = MelConfig.preset("default")
    a = mel_filterbank(cfg, dtype=torch.float64).numpy()
    packed = banded(a, np.float64)
    np.testing.assert_array_equal(packed.dense(), a)
    s_true = rng.gamma(0.5, 0.2, size=(9, cfg.n_freqs))
    m = s_true @ a.T  # (P, n_mels)
    pinv, lip = _pinv_np(cfg)
    s0 = np.maximum(m @ pinv.T, 0)
    got = mel_nnls(s0, m, packed, lip, 20)
    np.testing.assert_allclose(got, mel_nnls_reference(s0, m, a, lip, 20), atol=1e-10, rtol=1e-8)
    got32 = mel_nnls(s0.astype(np.float32), m.astype(np.float32), banded(a), lip, 20)
    np.testing.assert_allclose(got32, got, atol=1e-4 * got.max())
    assert (got >= 0).all()
    np.testing.assert_array_equal(mel_nnls(s0, m, packed, lip, 0), s0)


def test_mel_to_linear_backends_agree():
    cfg = MelConfig.preset("default")
    mel = mel_spectrogram(torch.from_numpy(np.random.default_rng(2).standard_normal((2, 8000)).astype(np.float32)),
                          cfg)
    a, b = mel_to_linear(mel, cfg, backend="torch"), mel_to_linear(mel, cfg, backend="numba")
    assert a.shape == b.shape
    torch.testing.assert_close(b, a, atol=1e-4 * a.abs().max().item(), rtol=0)


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_phase_step_matches_reference(rng, dtype):
    shape = (2, 5, 7)
    rebuilt, prev = ((rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dtype) for _ in range(2))
    real = np.float32 if dtype == np.complex64 else np.float64
    mag = rng.uniform(0, 2, shape).astype(real)
    tol = 1e-5 if dtype == np.complex64 else 1e-12
    np.testing.assert_allclose(phase_step(rebuilt, prev, mag, 0.4975), phase_step_reference(rebuilt, prev, mag, 0.4975),
                               atol=tol, rtol=0)
    out = prev.copy()
    phase_step(rebuilt, out, mag, 0.3, out=out)  # in place over prev
    np.testing.assert_allclose(out, phase_step_reference(rebuilt, prev, mag, 0.3), atol=tol, rtol=0)
    with pytest.raises(TypeError, match="expected prev"):
        phase_step(rebuilt, prev.astype(np.complex64 if dtype == np.complex128 else np.complex128), mag, 0.3)
    # strided (transposed) operands: the result is still written into what is returned
    rt, pt, mt = (a.transpose(1, 0, 2) for a in (rebuilt, prev, mag))
    np.testing.assert_allclose(phase_step(rt, pt, mt, 0.3), phase_step_reference(rt, pt, mt, 0.3), atol=tol, rtol=0)


def test_banded_matrix_refuses_runs_outside_its_shape():
    a = banded(np.array([[0, 1, 2, 0], [0, 0, 3, 4]], np.float32))
    np.testing.assert_array_equal(a.dense(), [[0, 1, 2, 0], [0, 0, 3, 4]])
    for start, ptr, values in [([1, 3], [0, 2, 4], a.values),  # row 1's run reaches column 4 of 4
                               ([1, -1], [0, 2, 4], a.values),  # a negative start
                               ([1, 2], [0, 2, 5], a.values),  # ptr past the values
                               ([1, 2], [0, 3, 2, 4], a.values)]:  # ptr of the wrong length
        with pytest.raises(ValueError, match="do not fit shape"):
            BandedMatrix(np.array(start), np.array(ptr), values, (2, 4))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_griffin_lim_backends_agree(dtype):
    """Same iterates up to rounding: float64 makes the rounding negligible over a few iterations."""
    cfg = MelConfig(n_fft=512, hop_length=128, n_mels=64)
    x = torch.from_numpy(np.random.default_rng(3).standard_normal((2, 4000))).to(dtype) * 0.1
    mel = mel_spectrogram(x, cfg)
    a = griffin_lim(mel, cfg, n_iter=4, backend="torch")
    b = griffin_lim(mel, cfg, n_iter=4, backend="numba", length=4000)
    assert b.shape == (2, 4000) and b.dtype == dtype
    torch.testing.assert_close(b[:, :a.shape[-1]], a, atol=1e-9 if dtype == torch.float64 else 2e-3, rtol=0)
