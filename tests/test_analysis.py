"""Decoder analysis: the layer table (shapes, FLOPs, receptive spans, unevenness) and the checkerboard measure."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

import kernels
from gen_media.analysis import checkerboard_ratio, checkerboard_ratios, energy_share, format_table, layer_table
from gen_media.models.speech import MelDecoder
from gen_media.models.video import VideoDecoder
from gen_media.nn import ConvTranspose1d


def _ones(*layers: nn.Module) -> nn.Sequential:
    """A stack with every weight 1 and no bias: no cancellation, so a non-zero Jacobian entry is a dependence."""
    model = nn.Sequential(*layers)
    for p in model.parameters():
        nn.init.constant_(p, 1.0)
    return model


def _jacobian_spans(model: nn.Module, length: int) -> tuple[int, int]:
    """(min, max) over output positions of the span of input positions with a non-zero derivative."""
    jac = torch.autograd.functional.jacobian(lambda x: model(x), torch.rand(1, 1, length) + 0.5)
    jac = jac[0, 0, :, 0, 0].abs() > 0  # (L_out, L_in)
    spans = [int(row.nonzero().max() - row.nonzero().min() + 1) if row.any() else 0 for row in jac]
    return min(spans), max(spans)


def test_hand_built_stack_shapes_spans_flops_unevenness():
    model = _ones(ConvTranspose1d(2, 3, 4, stride=2, padding=1, bias=False), nn.ReLU(),
                  ConvTranspose1d(3, 2, 4, stride=2, padding=1, bias=False),
                  ConvTranspose1d(2, 2, 3, stride=2, padding=1, output_padding=1, bias=False))
    rows = layer_table(model, (1, 2, 5))
    assert [r.name for r in rows] == ["0", "1", "2", "3"]
    # (L - 1)*2 - 2 + 3 + 1 = 2L: 5 -> 10 -> 20 -> 40
    assert [r.out_shape for r in rows] == [(1, 3, 10), (1, 3, 10), (1, 2, 20), (1, 2, 40)]
    # k4 s2 p1: an output sample reads 2 inputs (1 at the edges); two of them: 3 (output 5 reads inputs 3 and 2 of
    # the middle layer, which read latent {1, 2} and {0, 1})
    assert [r.span for r in rows[:3]] == [((1, 2),), ((1, 2),), ((1, 3),)]
    # 2 * N * C_in * C_out/groups * L_in * K
    assert [r.flops for r in rows] == [2 * 2 * 3 * 5 * 4, 0, 2 * 3 * 2 * 10 * 4, 2 * 2 * 2 * 20 * 3]
    assert rows[0].flops == kernels.geometry(1, (1, 2, 5), (2, 3, 4), stride=2, padding=1).flops
    # kernel 4 stride 2: 2 taps per phase; kernel 3 stride 2: phases get 1 and 2 taps
    assert rows[0].unevenness == (1.0,) and rows[3].unevenness == (2.0,)
    assert [r.params for r in rows] == [24, 0, 24, 12]
    text = format_table(rows)
    assert text.splitlines()[-1].split() == ["total", "60", "1200"]
    assert len({len(line) for line in text.splitlines()[:2]}) == 1  # header and rule aligned


@pytest.mark.parametrize("layers", [
    lambda: [ConvTranspose1d(1, 1, 4, 2, 1, bias=False), ConvTranspose1d(1, 1, 4, 2, 1, bias=False)],
    lambda: [ConvTranspose1d(1, 1, 3, 2, 1, 1, bias=False), nn.Conv1d(1, 1, 3, padding=1, bias=False),
             ConvTranspose1d(1, 1, 5, 3, 2, 2, bias=False)],
    lambda: [nn.Upsample(scale_factor=2, mode="linear"), nn.Conv1d(1, 1, 3, stride=2, padding=2, bias=False),
             nn.Upsample(scale_factor=3, mode="nearest"), ConvTranspose1d(1, 1, 2, 2, 0, 1, dilation=2, bias=False)],
    lambda: [nn.ConvTranspose1d(1, 1, 3, 2, 4, dilation=3, bias=False), nn.LeakyReLU(0.2),
             nn.Conv1d(1, 1, 2, dilation=2, padding="same", bias=False)],
])
def test_spans_match_the_jacobian(layers):
    model = _ones(*layers())
    rows = layer_table(model, (1, 1, 6))
    assert rows[-1].span == (_jacobian_spans(model, 6),)


def test_dilation_that_skips_a_phase_is_infinitely_uneven():
    rows = layer_table(nn.ConvTranspose1d(1, 1, 2, stride=2, dilation=2), (1, 1, 4))
    assert rows[0].name == "ConvTranspose1d" and rows[0].unevenness == (math.inf,)
    assert rows[0].span == ((0, 2),)  # odd outputs read no input, even ones inputs o/2 - 1 and o/2
    assert "inf" in format_table(rows)


def test_conv_and_linear_flops():
    model = nn.Sequential(nn.Conv1d(4, 6, 3, padding=1, groups=2), nn.Flatten(), nn.Linear(6 * 7, 5))
    rows = layer_table(model, (2, 4, 7))
    assert rows[0].flops == 2 * 2 * 6 * 7 * 2 * 3  # N * C_out * L_out * C_in/groups * K
    assert rows[2].flops == 2 * 2 * 42 * 5
    assert rows[0].unevenness == (1.0,) and rows[2].span is None


def _run_decoder(model):
    return model(torch.randn(2, model.latent_dim), torch.tensor([0, 1]))


def test_mel_decoder_table():
    model = MelDecoder(n_mels=8, frames=18, n_classes=3, latent_dim=4, channels=(8, 4, 4))  # 5 -> 10 -> 20 -> crop 18
    model.train()
    stats = model.norm0.running_mean.clone()
    rows = layer_table(model, run=_run_decoder)
    assert model.training and torch.equal(model.norm0.running_mean, stats)  # eval pass, training flag restored
    assert rows[-1].out_shape == tuple(_run_decoder(model.eval()).shape) == (2, 8, 18)
    assert rows[-1].name == "(output)" and rows[-2].out_shape == (2, 8, 20)
    ups = [r for r in rows if r.kind == "ConvTranspose1d"]
    assert [r.unevenness for r in ups] == [(1.0,), (1.0,)]  # kernel = 2 x stride
    assert sum(r.params for r in rows if r.first_call) == sum(p.numel() for p in model.parameters())
    assert rows[-2].span[0][1] >= ups[-1].span[0][1]
    format_table(rows)


def test_video_decoder_table():
    model = VideoDecoder(frames=3, size=6, image_channels=1, n_classes=2, latent_dim=4, channels=(4, 4, 4))
    rows = layer_table(model, run=_run_decoder)
    assert rows[-1].out_shape == tuple(_run_decoder(model).shape) == (2, 1, 3, 6, 6)
    ups = [r for r in rows if r.kind == "ConvTranspose3d"]
    assert len(ups) == 3 and all(len(r.span) == 3 and r.unevenness == (1.0, 1.0, 1.0) for r in ups)
    assert sum(r.flops for r in rows) > 0
    format_table(rows)


def test_layer_table_needs_one_way_to_run():
    with pytest.raises(ValueError, match="exactly one"):
        layer_table(nn.ReLU())


# --- checkerboard ------------------------------------------------------------------------------------------------

def _smooth(rng, shape, width=8):
    """Low-pass noise: a moving average of white noise along the last axis."""
    noise = rng.standard_normal((*shape[:-1], shape[-1] + width - 1))
    kernel = np.ones(width) / width
    return np.apply_along_axis(lambda r: np.convolve(r, kernel, mode="valid"), -1, noise)


def test_period_two_alternation_scores_high():
    rng = np.random.default_rng(0)
    smooth = _smooth(rng, (8, 4, 64))
    checkered = smooth + 0.5 * smooth.std() * (-1.0) ** np.arange(64)
    assert energy_share(checkered, 2) > 0.1 > 100 * energy_share(smooth, 2)
    assert checkerboard_ratio(checkered, smooth, 2) > 100
    assert energy_share(np.tile([1.0, -1.0, 3.0, 0.0], 8), 4) == pytest.approx(1.0)  # exactly periodic
    assert energy_share(np.ones((2, 8)), 2) == 0.0


def test_smooth_signal_scores_like_its_reference():
    rng = np.random.default_rng(1)
    real, generated = _smooth(rng, (16, 8, 128)), _smooth(rng, (16, 8, 128))
    assert 0.7 < checkerboard_ratio(generated, real, 4) < 1.4
    # video layout: every spatial axis at once
    clip = rng.standard_normal((4, 1, 8, 8, 8))
    ratios = checkerboard_ratios(clip, rng.standard_normal((4, 1, 8, 8, 8)), periods=(2, 4, 4), axes=(2, 3, 4))
    assert set(ratios) == {2, 3, 4} and all(0.5 < r < 2 for r in ratios.values())


def test_uneven_overlap_is_the_classic_artefact():
    """Constant input and weights: kernel 3 stride 2 gives 1, 2, 1, 2, ... (phases get 1 and 2 taps);
    kernel 4 stride 2 gives a constant 2 away from the edges."""
    x = torch.ones(2, 1, 32)
    outs = {}
    for k, p, op in [(3, 1, 1), (4, 1, 0)]:
        conv = _ones(ConvTranspose1d(1, 1, k, 2, p, op, bias=False))
        with torch.no_grad():
            outs[k] = conv(x)
        assert outs[k].shape == (2, 1, 64)
    assert energy_share(outs[3], 2) > 0.5 > energy_share(outs[4], 2) + 0.4


def test_checkerboard_arguments():
    with pytest.raises(ValueError, match="period"):
        energy_share(np.zeros(8), 1)
    with pytest.raises(ValueError, match="fewer than one period"):
        energy_share(np.zeros((2, 3)), 4)
    with pytest.raises(ValueError, match="real"):
        checkerboard_ratio(np.arange(8.0), np.ones(8), 2)


@pytest.mark.parametrize("upsample", ["transposed", "resize"])
def test_decoder_periods_are_the_product_of_its_upsampling_strides(upsample):
    """The period the checkerboard measure looks at, per output axis, is where the stack's upsampling repeats."""
    mel = MelDecoder(n_mels=16, frames=32, n_classes=2, latent_dim=4, channels=(16, 8, 8, 8), upsample=upsample)
    video = VideoDecoder(frames=8, size=32, image_channels=1, n_classes=2, latent_dim=4, channels=(16, 8, 8, 8),
                         upsample=upsample)
    for decoder, axes in ((mel, (2,)), (video, (2, 3, 4))):
        if upsample == "transposed":
            layers = [m for m in decoder.modules() if isinstance(m, nn.ConvTranspose1d | nn.ConvTranspose3d)]
            strides = [m.stride[-len(axes):] for m in layers]
        else:
            layers = [m for m in decoder.modules() if isinstance(m, nn.Upsample)]
            strides = [tuple(int(f) for f in np.broadcast_to(m.scale_factor, len(axes))) for m in layers]
        assert layers
        products = {axis: math.prod(s[i] for s in strides) for i, axis in enumerate(axes)}
        assert decoder.upsampling_periods == products


def test_checkerboard_report_skips_short_and_silent_axes():
    from gen_media.tasks import checkerboard_report

    class Stack(nn.Module):
        upsampling_periods = {2: 4, 3: 8, 4: 1}

    rng = np.random.default_rng(0)
    real = torch.from_numpy(rng.standard_normal((6, 1, 16, 4, 16)))
    generated = real.clone()
    generated[:, :, ::4] += 3.0  # a period-4 pattern along axis 2 only
    report = checkerboard_report(Stack(), generated, real)
    assert set(report) == {"checkerboard_axis2", "checkerboard_axis3"}  # axis 3: period cut to its 4 rows
    assert report["checkerboard_axis2"] > 2 and 0.5 < report["checkerboard_axis3"] < 2
    assert checkerboard_report(Stack(), generated, torch.zeros_like(real)) == {}  # no energy in the real data
