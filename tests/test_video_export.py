"""gen_media.video: frame conventions and the MP4 / GIF / .npy / PNG-grid writers (round trips through PyAV and
Pillow, ffprobe where installed, NaN handling, atomic writes)."""

from __future__ import annotations

import json
import shutil
import subprocess
import warnings
from fractions import Fraction

import numpy as np
import pytest
import torch
from PIL import Image

import gen_media.video.export as export_mod
from gen_media.video import (
    FORMATS,
    auto_scale,
    export_clips,
    mp4_frame_size,
    read_video,
    save_frame_grid_png,
    save_npy,
    to_uint8_frames,
    upscale,
    write_gif,
    write_mp4,
)

# ---- clips -----------------------------------------------------------------------------------------------


def moving_square(t: int = 16, h: int = 64, w: int = 64, size: int | None = None) -> np.ndarray:
    """uint8 (T, H, W): a white square (side ``min(H, W) // 4``) on black moving right 2 px, down 1 px per frame."""
    size = size or max(2, min(h, w) // 4)
    x = np.zeros((t, h, w), np.uint8)
    for i in range(t):
        y0, x0 = (h // 8 + i) % (h - size + 1), (2 * i) % (w - size + 1)
        x[i, y0 : y0 + size, x0 : x0 + size] = 255
    return x


def centroid(frame: np.ndarray) -> np.ndarray:
    """(row, col) centre of the bright pixels of an (H, W[, C]) frame."""
    g = frame.mean(axis=-1) if frame.ndim == 3 else frame
    ys, xs = np.nonzero(g > 127)
    return np.array([ys.mean(), xs.mean()])


def no_temp_files(directory) -> bool:
    return not [p for p in directory.iterdir() if p.name.startswith(".") or p.suffix == ".tmp"]


def top_level_boxes(path) -> list[str]:
    """Names of the top-level ISO-BMFF boxes of an MP4, in file order."""
    data, boxes, pos = path.read_bytes(), [], 0
    while pos + 8 <= len(data):
        size = int.from_bytes(data[pos : pos + 4], "big")
        boxes.append(data[pos + 4 : pos + 8].decode("latin-1"))
        if size == 1:
            size = int.from_bytes(data[pos + 8 : pos + 16], "big")
        if size < 8:
            break
        pos += size
    return boxes


# ---- frame conventions -----------------------------------------------------------------------------------


def test_float_and_uint8_inputs_agree():
    x = moving_square(4, 16, 16)
    np.testing.assert_array_equal(to_uint8_frames(x), x)
    np.testing.assert_array_equal(to_uint8_frames(x.astype(np.float64) / 255), x)
    np.testing.assert_array_equal(to_uint8_frames(torch.from_numpy(x).float() / 255), x)
    np.testing.assert_array_equal(to_uint8_frames((torch.from_numpy(x).float() / 255).bfloat16()), x)
    np.testing.assert_array_equal(to_uint8_frames(x.astype(np.int64)), x)
    np.testing.assert_array_equal(to_uint8_frames(x > 0), x)
    assert to_uint8_frames(x).dtype == np.uint8


def test_layouts():
    rgb = np.random.default_rng(0).integers(0, 256, (5, 6, 7, 3), dtype=np.uint8)  # (T, H, W, C)
    cthw = torch.from_numpy(rgb).permute(3, 0, 1, 2).float() / 255  # (C, T, H, W)
    tchw = torch.from_numpy(rgb).permute(0, 3, 1, 2)  # (T, C, H, W)
    np.testing.assert_array_equal(to_uint8_frames(cthw, layout="CTHW"), rgb)
    np.testing.assert_array_equal(to_uint8_frames(tchw, layout="TCHW"), rgb)
    gray = to_uint8_frames(torch.zeros(1, 5, 6, 7), layout="CTHW")
    assert gray.shape == (5, 6, 7, 1)
    assert to_uint8_frames(np.zeros((5, 6, 7))).shape == (5, 6, 7)


@pytest.mark.parametrize(
    "x, layout, match",
    [
        (np.zeros((3, 5, 6, 7)), "THWC", "layout='CTHW'"),  # (C, T, H, W) passed as THWC: hint
        (np.zeros((5, 3, 6, 7)), "THWC", "layout='TCHW'"),
        (np.zeros((5, 6, 7, 2)), "THWC", "1 or 3 channels"),
        (np.zeros((6, 7)), "THWC", r"\(T, H, W\)"),
        (np.zeros((5, 6, 7)), "CTHW", r"\(C, T, H, W\)"),
        (np.zeros((0, 6, 7)), "THWC", "empty"),
        (np.zeros((2, 6, 7)), "HWC", "layout"),
        (np.full((2, 3, 3), 300), "THWC", r"\[0, 255\]"),
    ],
)
def test_bad_clips_raise(x, layout, match):
    with pytest.raises(ValueError, match=match):
        to_uint8_frames(x, layout=layout)


def test_nan_inf_replaced_with_warning():
    x = np.full((2, 4, 4), 0.5)
    x[0, 0, 0], x[0, 0, 1], x[0, 0, 2] = np.nan, np.inf, -np.inf
    with pytest.warns(RuntimeWarning, match="3 NaN/inf"):
        out = to_uint8_frames(x)
    assert out[0, 0, :3].tolist() == [0, 255, 0]
    assert (out[1] == 128).all()


def test_out_of_range_floats_clipped_with_warning():
    with pytest.warns(UserWarning, match="outside"):
        out = to_uint8_frames(np.array([[[-0.5, 1.5]]]))
    assert out.tolist() == [[[0, 255]]]


def test_in_range_floats_do_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        to_uint8_frames(np.random.default_rng(0).random((2, 4, 4)))


@pytest.mark.parametrize(
    "h, w, scale, size",
    [
        (64, 64, None, (128, 128)),
        (8, 8, None, (128, 128)),
        (200, 300, None, (200, 300)),
        (33, 17, 1, (34, 18)),
        (15, 21, 3, (46, 64)),
        (17, 40, None, (136, 320)),
    ],
)
def test_mp4_frame_size(h, w, scale, size):
    assert mp4_frame_size(h, w, scale) == size


def test_auto_scale():
    assert auto_scale(64, 64) == 2 and auto_scale(128, 1000) == 1 and auto_scale(8, 8, 64) == 8


# ---- MP4 -------------------------------------------------------------------------------------------------


def test_mp4_round_trip(tmp_path):
    x = moving_square()  # (16, 64, 64) grayscale
    path = write_mp4(tmp_path / "square.mp4", x, fps=12)
    frames, fps = read_video(path)
    assert frames.shape == (16, *mp4_frame_size(64, 64), 3) == (16, 128, 128, 3)  # default scale x2
    assert fps == 12
    ref = upscale(x, 2).astype(np.float64)  # (T, 128, 128)
    err = np.abs(frames.astype(np.float64) - ref[..., None])
    assert err.mean() < 8, err.mean()  # codec error, in 0..255 units
    for t in range(16):
        square = ref[t] > 0
        assert err[t][square].mean() < 8  # the square is where it was, not smeared elsewhere
        np.testing.assert_allclose(centroid(frames[t]), centroid(ref[t]), atol=0.5)
    assert path.parent.joinpath("square.mp4") == path and no_temp_files(tmp_path)
    boxes = top_level_boxes(path)
    assert boxes.index("moov") < boxes.index("mdat"), boxes  # +faststart: playable while downloading
    import av  # what any player needs: H.264 in yuv420p (test_mp4_ffprobe checks it again where ffprobe exists)

    with av.open(str(path)) as f:
        stream = f.streams.video[0]
        assert (stream.codec_context.name, stream.codec_context.pix_fmt) == ("h264", "yuv420p")


def test_mp4_rgb_float_torch_cthw(tmp_path):
    rgb = np.zeros((6, 32, 48, 3), np.uint8)  # (T, H, W, 3)
    rgb[:, 8:24, 8:24] = (220, 40, 60)
    rgb[:, 8:24, 28:44] = (30, 200, 90)
    clip = torch.from_numpy(rgb).permute(3, 0, 1, 2).float() / 255  # (C, T, H, W) in [0, 1]
    frames, fps = read_video(write_mp4(tmp_path / "rgb.mp4", clip, fps=Fraction(30000, 1001), layout="CTHW"))
    assert frames.shape == (6, 128, 192, 3)  # short side 32 -> x4
    assert fps == pytest.approx(30000 / 1001)
    assert np.abs(frames.astype(float) - upscale(rgb, 4)).mean() < 8


@pytest.mark.parametrize("h, w, scale", [(33, 17, 1), (15, 21, 3), (17, 40, None)])
def test_mp4_odd_size(tmp_path, h, w, scale):
    x = moving_square(5, h, w, size=6)
    frames, _ = read_video(write_mp4(tmp_path / "odd.mp4", x, fps=5, scale=scale))
    s = scale or auto_scale(h, w)
    assert frames.shape == (5, *mp4_frame_size(h, w, scale), 3)
    ref = upscale(x, s).astype(float)  # (T, h*s, w*s): the padded rim replicates the last row/column
    ref = np.pad(ref, [(0, 0), (0, (h * s) % 2), (0, (w * s) % 2)], mode="edge")
    assert np.abs(frames.astype(float) - ref[..., None]).mean() < 8


def test_mp4_fractional_fps(tmp_path):
    _, fps = read_video(write_mp4(tmp_path / "a.mp4", moving_square(4, 16, 16), fps=7.5))
    assert fps == 7.5


def test_mp4_nan_clip_warns_and_plays(tmp_path):
    x = moving_square(4, 16, 16).astype(np.float32) / 255
    x[1, :4, :4] = np.nan
    with pytest.warns(RuntimeWarning, match="NaN"):
        path = write_mp4(tmp_path / "nan.mp4", x, fps=4)
    frames, _ = read_video(path)
    assert frames.shape[0] == 4 and frames[1, :16, :16].mean() < 8  # NaN -> black, not garbage


def test_mp4_ffprobe(tmp_path):
    ffprobe = shutil.which("ffprobe")
    if ffprobe is None:
        pytest.skip("ffprobe not on PATH (install ffmpeg to run this check)")
    path = write_mp4(tmp_path / "square.mp4", moving_square(), fps=12)
    out = subprocess.run(
        [ffprobe, "-v", "error", "-select_streams", "v:0", "-count_frames", "-show_entries",
         "stream=codec_name,profile,pix_fmt,width,height,nb_frames,nb_read_frames,r_frame_rate,color_space",
         "-of", "json", str(path)],
        check=True, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    s = json.loads(out.stdout)["streams"][0]
    assert s["codec_name"] == "h264" and s["pix_fmt"] == "yuv420p" and s["profile"] in ("Main", "Constrained Baseline")
    assert (s["width"], s["height"]) == (128, 128) and s["r_frame_rate"] == "12/1"
    assert int(s["nb_frames"]) == int(s["nb_read_frames"]) == 16
    assert s["color_space"] == "bt709"


def test_read_video_missing(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_video(tmp_path / "nope.mp4")


# ---- GIF -------------------------------------------------------------------------------------------------


def gif_frames(path) -> tuple[list[np.ndarray], list[int], Image.Image]:
    im = Image.open(path)
    frames, durations = [], []
    for i in range(im.n_frames):
        im.seek(i)
        frames.append(np.asarray(im.convert("L")))
        durations.append(im.info["duration"])
    im.seek(0)
    return frames, durations, im


def test_gif_loops_with_right_frames(tmp_path):
    x = moving_square()
    path = write_gif(tmp_path / "square.gif", x, fps=8)
    frames, durations, im = gif_frames(path)
    assert im.n_frames == 16 and im.is_animated and im.info["loop"] == 0
    assert set(durations) == {120, 130} and sum(durations) == 2000  # 12.5 cs per frame on average: total exact
    np.testing.assert_array_equal(np.stack(frames), upscale(x, 2))  # grayscale GIF is lossless
    decoded, _ = read_video(path)  # FFmpeg reads it too
    assert decoded.shape == (16, 128, 128, 3)
    assert no_temp_files(tmp_path)


def test_gif_options(tmp_path):
    x = moving_square(4, 16, 16)
    im = Image.open(write_gif(tmp_path / "once.gif", x, fps=10, loop=None, scale=1))
    assert "loop" not in im.info and im.size == (16, 16) and im.n_frames == 4
    rgb = np.random.default_rng(0).random((3, 8, 8, 3))
    im = Image.open(write_gif(tmp_path / "rgb.gif", rgb, fps=10, loop=2))
    assert im.info["loop"] == 2 and im.n_frames == 3 and im.size == (128, 128)
    with pytest.warns(UserWarning, match="50"):
        write_gif(tmp_path / "fast.gif", x, fps=60)
    with pytest.raises(ValueError, match="loop"):
        write_gif(tmp_path / "bad.gif", x, fps=10, loop=-1)


def test_gif_merges_still_frames_keeping_time(tmp_path):
    x = moving_square(3, 16, 16)
    x[1] = x[0]  # frames 0 and 1 identical: Pillow writes them as one frame of twice the delay
    _, durations, im = gif_frames(write_gif(tmp_path / "still.gif", x, fps=10))
    assert im.n_frames == 2 and durations == [200, 100]


# ---- npy, grid -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(4, 9, 7), (4, 9, 7, 1), (4, 9, 7, 3)])
def test_npy_round_trip(tmp_path, shape):
    x = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    loaded = np.load(save_npy(tmp_path / "c.npy", x))
    assert loaded.dtype == np.uint8 and loaded.shape == shape
    np.testing.assert_array_equal(loaded, x)
    np.testing.assert_array_equal(np.load(save_npy(tmp_path / "f.npy", x / 255.0)), x)


def test_grid_png_size_and_content(tmp_path):
    clips = [moving_square(16), moving_square(16)[:, ::-1], moving_square(10)]
    path = save_frame_grid_png(tmp_path / "g.png", clips, max_frames=4, frame_labels=False)
    img = np.asarray(Image.open(path).convert("RGB"))
    pad, cell = 2, 64  # 64x64 frames: default grid scale 1
    assert img.shape == (3 * (cell + pad) + pad, 4 * (cell + pad) + pad, 3)  # 3 rows x 4 columns
    for j, t in enumerate([0, 5, 10, 15]):  # evenly spaced frames of the longest clip
        y, x0 = pad, pad + j * (cell + pad)
        np.testing.assert_array_equal(img[y : y + cell, x0 : x0 + cell, 0], clips[0][t])
    row3 = img[2 * (cell + pad) + pad :][:cell]
    assert (row3[:, 3 * (cell + pad) + pad :][:, :cell] == 255).all()  # t=15 beyond the 10-frame clip: empty


def test_grid_png_titles_labels_and_scale(tmp_path):
    clips = torch.rand(2, 3, 20, 8, 8)  # (B, C, T, H, W)
    plain = Image.open(save_frame_grid_png(tmp_path / "p.png", clips, layout="CTHW", frame_labels=False))
    assert plain.size == (16 * (64 + 2) + 2, 2 * (64 + 2) + 2)  # 8x8 frames scaled x8; 16 of 20 frames
    full = Image.open(save_frame_grid_png(tmp_path / "t.png", clips, titles=["a", "longer title"], layout="CTHW"))
    assert full.size[0] > plain.size[0] and full.size[1] > plain.size[1]
    with pytest.raises(ValueError, match="titles"):
        save_frame_grid_png(tmp_path / "x.png", clips, titles=["a"], layout="CTHW")


# ---- export_clips ----------------------------------------------------------------------------------------


def test_export_clips_writes_every_format(tmp_path):
    clips = torch.rand(2, 1, 8, 32, 32)  # (B, C, T, H, W) decoder output
    paths = export_clips(tmp_path / "out", clips, fps=8, names=["a", "b"], layout="CTHW")
    expected = [f"{n}.{f}" for n in "ab" for f in FORMATS] + ["grid.png"]
    assert [p.name for p in paths] == expected
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(expected)
    assert np.load(tmp_path / "out" / "a.npy").shape == (8, 32, 32, 1)
    frames, fps = read_video(tmp_path / "out" / "b.mp4")
    assert frames.shape == (8, 128, 128, 3) and fps == 8
    only = export_clips(tmp_path / "npy", [moving_square(4)], fps=8, formats=("npy",), grid_name=None)
    assert [p.name for p in only] == ["clip_000.npy"]
    # captions other than the file names (a latent walk's "3->8 0.25"): same files, other grid pictures
    export_clips(tmp_path / "titled", clips, fps=8, names=["a", "b"], layout="CTHW", formats=("png",),
                 titles=["3->8 0.00", "3->8 1.00"])
    for grid in ("grid.png", "a.png"):  # the captions' width sets the pictures' width
        assert not np.array_equal(np.asarray(Image.open(tmp_path / "titled" / grid)),
                                  np.asarray(Image.open(tmp_path / "out" / grid)))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"formats": ("mp4", "avi")}, r"avi.*valid formats are \['mp4', 'gif', 'npy', 'png'\]"),
        ({"names": ["a"]}, "2 names"),
        ({"names": ["a", "a"]}, "unique"),
        ({"names": ["a", "../b"]}, "plain file name"),
        ({"names": ["grid", "b"]}, "grid_name"),
        ({"titles": ["only one"]}, "titles: expected 2"),
    ],
)
def test_export_clips_errors_write_nothing(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        export_clips(tmp_path / "out", [moving_square(4), moving_square(4)], fps=8, **kwargs)
    assert not (tmp_path / "out").exists()


# ---- atomic writes ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("exc", [RuntimeError, KeyboardInterrupt])
def test_mp4_failure_leaves_old_file_and_no_temp(tmp_path, monkeypatch, exc):
    dest = tmp_path / "v.mp4"
    dest.write_bytes(b"old")
    real, calls = export_mod._yuv_frame, []

    def failing(rgb, index, fps):
        calls.append(index)
        if index == 3:
            raise exc("encoder died")
        return real(rgb, index, fps)

    monkeypatch.setattr(export_mod, "_yuv_frame", failing)
    with pytest.raises(exc):
        write_mp4(dest, moving_square(), fps=8)
    assert calls == [0, 1, 2, 3]
    assert dest.read_bytes() == b"old" and no_temp_files(tmp_path)
    with pytest.raises(exc):
        write_mp4(tmp_path / "new.mp4", moving_square(), fps=8)
    assert [p.name for p in tmp_path.iterdir()] == ["v.mp4"]


def test_gif_and_png_failure_leave_nothing(tmp_path, monkeypatch):
    def failing_save(self, fp, *args, **kwargs):
        fp.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", failing_save)
    with pytest.raises(OSError, match="disk full"):
        write_gif(tmp_path / "a.gif", moving_square(4), fps=8)
    with pytest.raises(OSError, match="disk full"):
        save_frame_grid_png(tmp_path / "a.png", [moving_square(4)])
    assert list(tmp_path.iterdir()) == []
