"""The video recipe end to end on tiny moving-digit clips: train, resume, backends, generate, evaluate,
bad inputs. Each test takes seconds."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from gen_media.recipes.video import main
from gen_media.video.export import read_video
from gen_media.video.pipeline import ClipData, VideoTask


@pytest.fixture(autouse=True)
def data_home(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("GEN_MEDIA_DATA", str(tmp_path_factory.getbasetemp() / "video_data"))


def tiny_args(out, *extra):
    sets = ["data.frames=4", "data.size=32", "data.max_clips=64", "model.channels=[16,8]",
            "model.sprite_channels=[8,8]", "model.motion_channels=[8,4]", "model.sprite_size=16",
            "model.encoder_channels=[8,16]", "model.latent_dim=4", "model.label_dim=4", "train.steps=4",
            "train.batch_size=8", "train.log_every=1", "train.sample_every=4", "train.checkpoint_every=2",
            "train.val_every=2", "train.warmup_steps=2", "eval.classifier_steps=10", *extra]
    return ["train", "--out", str(out), *[a for s in sets for a in ("--set", s)]]


def metrics(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_train_writes_a_complete_run(tmp_path):
    run = tmp_path / "run"
    assert main(tiny_args(run)) == 0
    for name in ("last.pt", "best.pt", "config.toml", "metrics.jsonl", "losses.png"):
        assert (run / name).is_file(), name
    assert [r["step"] for r in metrics(run)] == [1, 2, 3, 4]
    samples = run / "samples" / "step_000004"
    assert (samples / "grid.png").is_file() and len(list(samples.glob("*.gif"))) == 10
    ckpt = torch.load(run / "last.pt", weights_only=True)
    assert ckpt["extra"]["n_classes"] == 10 and ckpt["config"]["data"]["frames"] == 4


@pytest.mark.parametrize("objective", ["vae", "gan"])
def test_numba_backend_trains_like_torch(tmp_path, objective):
    for backend in ("torch", "numba"):
        assert main(tiny_args(tmp_path / backend, f"model.backend={backend}", f"model.objective={objective}",
                              "train.sample_every=0")) == 0
    for rt, rn in zip(metrics(tmp_path / "torch"), metrics(tmp_path / "numba"), strict=True):
        assert rt["loss"] == pytest.approx(rn["loss"], rel=1e-3, abs=1e-4)


def test_resume_continues_exactly(tmp_path, monkeypatch):
    """Stopped by Ctrl-C inside step 3 and resumed, a run logs what an unbroken run logs."""
    straight, broken = tmp_path / "straight", tmp_path / "broken"
    assert main(tiny_args(straight, "train.sample_every=0")) == 0
    original = VideoTask.train_step

    def interrupted(self, batch, step):
        if step == 2:
            raise KeyboardInterrupt
        return original(self, batch, step)

    monkeypatch.setattr(VideoTask, "train_step", interrupted)
    assert main(tiny_args(broken, "train.sample_every=0")) == 130
    monkeypatch.setattr(VideoTask, "train_step", original)
    assert torch.load(broken / "last.pt", weights_only=True)["step"] == 2
    assert main(["train", "--out", str(broken), "--resume"]) == 0
    for a, b in zip(metrics(straight), metrics(broken), strict=True):  # every logged value of every row
        assert a.keys() == b.keys() and all(a[k] == pytest.approx(b[k], rel=1e-6, abs=1e-7) for k in a), (a, b)


def test_generate_formats_and_mp4_round_trip(tmp_path):
    run = tmp_path / "run"
    assert main(tiny_args(run, "train.sample_every=0")) == 0
    out = tmp_path / "gen"
    assert main(["generate", "--checkpoint", str(run), "--n", "2", "--label", "7", "--out", str(out)]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["000_seven.gif", "000_seven.mp4", "000_seven.npy", "000_seven.png", "001_seven.gif",
                     "001_seven.mp4", "001_seven.npy", "001_seven.png", "grid.png"]
    clip = np.load(out / "000_seven.npy")
    assert clip.shape == (4, 32, 32, 1) and clip.dtype == np.uint8
    frames, fps = read_video(out / "000_seven.mp4")
    assert len(frames) == 4 and fps == pytest.approx(8)
    scale = frames.shape[1] // 32  # MP4s of tiny clips are scaled up (nearest neighbour)
    decoded = frames[:, ::scale, ::scale, 0].astype(float)
    assert np.abs(decoded - clip[..., 0]).mean() < 10  # codec error, in 0..255 units
    walk = tmp_path / "walk"
    assert main(["generate", "--checkpoint", str(run), "--n", "3", "--interpolate", "--label", "1:2",
                 "--format", "npy", "--out", str(walk)]) == 0
    assert len(list(walk.glob("*.npy"))) == 3


def test_evaluate_reports_accuracy_and_motion(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(tiny_args(run, "train.sample_every=0")) == 0
    capsys.readouterr()
    assert main(["evaluate", "--checkpoint", str(run), "--n", "2"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["generated"]["n"] == 20
    assert 0 <= report["generated"]["accuracy"] <= 1 and report["generated"]["frechet_distance"] >= 0
    assert report["real_test"]["n"] == 20
    assert report["temporal_change"]["real"] > 0 and report["temporal_change"]["ratio"] >= 0


def test_bad_inputs_say_what_to_do(tmp_path, capsys):
    assert main(tiny_args(tmp_path / "a", "data.name=kinetics")) == 2
    assert "data.name" in capsys.readouterr().err
    assert main(tiny_args(tmp_path / "b", "data.name=folder", f"data.root={tmp_path / 'nothing'}")) == 2
    assert "nothing" in capsys.readouterr().err
    run = tmp_path / "run"
    assert main(tiny_args(run, "train.sample_every=0")) == 0
    assert main(["generate", "--checkpoint", str(run), "--label", "eleven", "--out", str(tmp_path / "g")]) == 2
    with pytest.raises(SystemExit):
        main(["generate", "--checkpoint", str(run), "--format", "avi", "--out", str(tmp_path / "g")])


def test_spatiotemporal_decoder_trains_on_both_backends(tmp_path):
    for backend in ("torch", "numba"):
        assert main(tiny_args(tmp_path / backend, "model.decoder=spatiotemporal", f"model.backend={backend}",
                              "train.sample_every=0")) == 0
    for rt, rn in zip(metrics(tmp_path / "torch"), metrics(tmp_path / "numba"), strict=True):
        assert rt["loss"] == pytest.approx(rn["loss"], rel=1e-3, abs=1e-4)


def test_sprite_placement_is_a_transposed_convolution():
    """place_sprites (FFT) equals conv_transpose3d with the batch folded into groups, ours and torch's."""
    from gen_media.models.video import place_sprites
    from gen_media.nn.functional import conv_transpose3d

    g = torch.Generator().manual_seed(0)
    heat = torch.rand(3, 2, 5, 5, generator=g)  # (B, T, G, G)
    sprite = torch.rand(3, 2, 4, 4, generator=g)  # (B, C, S, S)
    placed = place_sprites(heat, sprite)  # (B, C, T, 8, 8)
    folded_in, folded_w = heat.reshape(1, 3, 2, 5, 5), sprite.reshape(3, 2, 1, 4, 4)
    for backend in ("torch", "numba"):
        direct = conv_transpose3d(folded_in, folded_w, groups=3, backend=backend).reshape(3, 2, 2, 8, 8)
        torch.testing.assert_close(placed, direct, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("decoder", ["content-motion", "spatiotemporal"])
def test_inspect_prints_the_decoder_table(capsys, decoder):
    assert main(["inspect", "--set", f"model.decoder={decoder}"]) == 0
    out = capsys.readouterr().out
    assert "ConvTranspose3d" in out and "1x1x16x64x64" in out and out.splitlines()[-1].startswith("total")


@pytest.mark.parametrize("decoder", ["content-motion", "spatiotemporal"])
@pytest.mark.parametrize("variant", [("upsample=resize", "kernel=0"), ("upsample=transposed", "kernel=3")])
def test_upsampling_variants_train_and_log_checkerboard(tmp_path, decoder, variant):
    run = tmp_path / "run"
    assert main(tiny_args(run, f"model.decoder={decoder}", *(f"model.{v}" for v in variant),
                          "train.sample_every=0")) == 0
    rows = [r for r in metrics(run) if "val" in r]
    assert rows and all(r["checkerboard_axis3"] >= 0 and r["checkerboard_axis4"] >= 0 for r in rows)


def test_evaluation_and_validation_clips_cover_every_class():
    """A folder dataset lists its clips class by class: the clips scored and validated on are drawn from the
    whole split, not its first N."""
    labels = torch.arange(4).repeat_interleave(25)  # 100 clips, classes 0..3 in blocks
    clips = (labels.view(-1, 1, 1, 1, 1) * 60).to(torch.uint8).expand(100, 1, 2, 4, 4).contiguous()
    data = ClipData(clips, labels, ["a", "b", "c", "d"], 8, {})
    x, y = data.spread(20, seed=0)
    assert len(y) == 20 and set(y.tolist()) == {0, 1, 2, 3}
    assert torch.equal(x[:, 0, 0, 0, 0], y.float() * 60 / 255)  # clips and labels stay paired
    assert y.tolist() == sorted(y.tolist())  # in the split's order
    assert torch.equal(data.spread(200, seed=0)[1], labels)  # all of them when there are fewer
