"""Video clips to files other tools read: MP4 (H.264, PyAV), looping GIF (Pillow), ``.npy`` and PNG frame grids.

Every writer is atomic: it writes a temporary file beside the destination and ``os.replace``-s it, so a reader
never sees a half-written file and a failed or interrupted write leaves any previous file intact.
Clips follow :mod:`gen_media.video.frames` (``(T, H, W[, C])`` uint8 or float in [0, 1]; ``layout="CTHW"`` or
``"TCHW"`` for other axis orders); NaN/inf are replaced with a warning, never written.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np

from gen_media.files import atomic_write, atomic_write_path

from .frames import (
    GRID_MIN_SIDE,
    MP4_MIN_SIDE,
    _check_layout,
    _check_scale,
    pad_even,
    to_rgb,
    to_uint8_frames,
    upscale,
)

__all__ = [
    "FORMATS",
    "export_clips",
    "read_video",
    "save_frame_grid_png",
    "save_npy",
    "write_gif",
    "write_mp4",
]

FORMATS = ("mp4", "gif", "npy", "png")
_H264_ENCODERS = ("libx264", "libopenh264")
_GRID_PAD = 2  # pixels between grid cells and around the edge
_GRID_BACKGROUND = (255, 255, 255)
_GRID_TEXT = (0, 0, 0)


def _check_fps(fps) -> Fraction:
    """Positive finite frame rate -> exact :class:`Fraction` (29.97 -> 2997/100, 30000/1001 stays)."""
    if isinstance(fps, bool) or not isinstance(fps, int | float | Fraction | np.integer | np.floating):
        raise ValueError(f"fps: expected a positive number, got {fps!r}")
    if not (math.isfinite(float(fps)) and float(fps) > 0):
        raise ValueError(f"fps: expected a positive finite number, got {fps!r}")
    if isinstance(fps, int | np.integer | Fraction):
        return Fraction(fps)
    return Fraction(float(fps)).limit_denominator(1001)


def _h264_encoder() -> str:
    import av

    for name in _H264_ENCODERS:
        try:
            av.codec.Codec(name, "w")
            return name
        except Exception:  # not built into this PyAV
            continue
    raise RuntimeError(
        f"no H.264 encoder in this PyAV build (tried {_H264_ENCODERS}); install the PyPI wheel (`pip install av`), "
        "which bundles libx264"
    )


def _yuv_frame(rgb: np.ndarray, index: int, fps: Fraction):
    """One ``(H, W, 3)`` uint8 RGB frame -> a BT.709 limited-range yuv420p ``av.VideoFrame`` at ``pts=index``."""
    import av

    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(
        format="yuv420p", dst_colorspace="ITU709", dst_color_range="MPEG", dst_color_trc=1, dst_color_primaries=1
    )
    frame.pts = index
    frame.time_base = 1 / fps
    return frame


def write_mp4(
    path: str | os.PathLike,
    clip,
    fps: float,
    *,
    scale: int | None = None,
    layout: str = "THWC",
    crf: int = 18,
    preset: str = "medium",
) -> Path:
    """Write an H.264 MP4 that browsers and ``ffprobe`` play: yuv420p, Main profile, ``movflags=+faststart``.

    Args:
        path: destination (written atomically; parent directories are created).
        clip: ``(T, H, W)`` / ``(T, H, W, C)`` (``C`` in {1, 3}) uint8 or float in [0, 1], NumPy or torch;
            other axis orders via ``layout``. Grayscale is encoded as RGB gray.
        fps: frames per second (int, float or Fraction; 29.97 is stored as 2997/100).
        scale: nearest-neighbour integer upscaling; ``None`` picks the smallest factor giving a short side of at
            least 128 px (64x64 -> 128x128). Odd sizes are then padded to even ones by edge replication, so
            the encoded size is :func:`~gen_media.video.frames.mp4_frame_size`.
        layout: ``"THWC"``, ``"CTHW"`` or ``"TCHW"``.
        crf: x264 constant rate factor (0 = lossless luma, 18 = visually lossless, 23 = x264 default).
        preset: x264 speed/size preset (``"ultrafast"`` ... ``"veryslow"``).

    Returns:
        The path written. BT.709 limited range is tagged on the stream so players convert colours correctly.
    """
    import av

    rate = _check_fps(fps)
    frames = to_uint8_frames(clip, layout, name=f"write_mp4({path})")
    s = _check_scale(scale, frames.shape[1], frames.shape[2], MP4_MIN_SIDE)
    rgb = pad_even(upscale(to_rgb(frames), s))  # (T, H', W', 3), H' and W' even
    height, width = rgb.shape[1:3]
    encoder = _h264_encoder()
    options = {"crf": str(int(crf)), "preset": preset, "profile": "main"} if encoder == "libx264" else {}

    def write(tmp: str) -> None:
        with av.open(tmp, "w", format="mp4", container_options={"movflags": "+faststart"}) as container:
            stream = container.add_stream(encoder, rate=rate, options=options)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            cc = stream.codec_context
            cc.colorspace, cc.color_primaries, cc.color_trc, cc.color_range = 1, 1, 1, 1  # BT.709, tv range
            for i in range(rgb.shape[0]):
                for packet in stream.encode(_yuv_frame(rgb[i], i, rate)):
                    container.mux(packet)
            for packet in stream.encode():  # flush delayed frames
                container.mux(packet)

    return atomic_write_path(path, write)


def _gif_durations_ms(n: int, fps: Fraction) -> list[int]:
    """Per-frame GIF delays in ms, multiples of 10 (GIF stores 1/100 s) whose running sum tracks ``i / fps``.

    Browsers play delays under 20 ms as 100 ms, so each delay is at least 20 ms.
    """
    edges = [round(Fraction(100 * i) / fps) for i in range(n + 1)]  # centiseconds
    return [10 * max(2, b - a) for a, b in zip(edges[:-1], edges[1:], strict=True)]


def write_gif(
    path: str | os.PathLike,
    clip,
    fps: float,
    loop: int | None = 0,
    *,
    scale: int | None = None,
    layout: str = "THWC",
) -> Path:
    """Write an animated GIF with Pillow.

    Args:
        path: destination (written atomically; parent directories are created).
        clip: as for :func:`write_mp4`. Grayscale stays grayscale (exact); RGB gets an adaptive
            256-colour palette per frame.
        fps: frames per second. GIF delays are in 1/100 s and browsers slow delays under 2/100 s down, so
            ``fps > 50`` warns and plays at 50 fps; other rates keep the right total duration.
        loop: ``0`` loops forever, ``n`` repeats ``n`` times, ``None`` plays once.
        scale: as for :func:`write_mp4` (``None``: short side at least 128 px); no even-size padding.
        layout: ``"THWC"``, ``"CTHW"`` or ``"TCHW"``.

    Returns:
        The path written. Pillow merges consecutive identical frames into one longer frame (the playing time
        is unchanged), so ``n_frames`` can be below ``T`` for clips that stand still.
    """
    from PIL import Image

    rate = _check_fps(fps)
    if loop is not None and (isinstance(loop, bool) or not isinstance(loop, int | np.integer) or loop < 0):
        raise ValueError(f"loop: expected an int >= 0 (0 = forever) or None (play once), got {loop!r}")
    if rate > 50:
        warnings.warn(
            f"write_gif({path}): fps={float(rate):g} is above what GIF players show (50); it will play at 50 fps. "
            "Use MP4 for high frame rates.",
            UserWarning,
            stacklevel=2,
        )
    frames = to_uint8_frames(clip, layout, name=f"write_gif({path})")
    frames = upscale(frames, _check_scale(scale, frames.shape[1], frames.shape[2], MP4_MIN_SIDE))
    if frames.ndim == 4 and frames.shape[-1] == 1:
        frames = frames[..., 0]  # (T, H, W): mode "L"
    images = [Image.fromarray(f) for f in frames]
    params: dict = {"save_all": True, "append_images": images[1:], "duration": _gif_durations_ms(len(images), rate)}
    if loop is not None:
        params["loop"] = int(loop)
    return atomic_write(path, lambda f: images[0].save(f, format="GIF", **params))


def save_npy(path: str | os.PathLike, clip, *, layout: str = "THWC") -> Path:
    """Save a clip as ``uint8`` ``(T, H, W)`` or ``(T, H, W, C)`` ``.npy`` (no scaling), atomically.

    ``clip`` is converted by :func:`~gen_media.video.frames.to_uint8_frames` (floats in [0, 1] -> 0..255).
    """
    frames = to_uint8_frames(clip, layout, name=f"save_npy({path})")
    return atomic_write(path, lambda f: np.save(f, frames, allow_pickle=False))


def read_video(path: str | os.PathLike) -> tuple[np.ndarray, float]:
    """Decode the first video stream of any file FFmpeg reads (MP4, GIF, ...) with PyAV.

    Returns:
        ``(frames, fps)``: ``frames`` ``uint8`` ``(T, H, W, 3)`` RGB, ``fps`` the stream's average frame rate.
    """
    import av

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"video file not found: {path}")
    with av.open(str(path)) as container:
        if not container.streams.video:
            raise ValueError(f"{path}: no video stream")
        stream = container.streams.video[0]
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    if not frames:
        raise ValueError(f"{path}: the video stream has no frames")
    return np.stack(frames), float(rate) if rate else float("nan")


def _split_clips(clips, layout: str, what: str) -> list:
    """A list/tuple of clips stays as is; one array or tensor is a batch along its first axis."""
    if isinstance(clips, list | tuple):
        return list(clips)
    if hasattr(clips, "detach") or isinstance(clips, np.ndarray):
        want = {"THWC": "(B, T, H, W) or (B, T, H, W, C)", "CTHW": "(B, C, T, H, W)", "TCHW": "(B, T, C, H, W)"}
        ok = {"THWC": (4, 5), "CTHW": (5,), "TCHW": (5,)}[layout]
        if clips.ndim not in ok:
            raise ValueError(
                f"{what}: an array of clips is a batch {want[layout]} for layout {layout!r}, got shape "
                f"{tuple(clips.shape)} (pass a single clip as [clip])"
            )
        return list(clips)
    raise TypeError(f"{what}: expected a list of clips or a batched array/tensor, got {type(clips).__name__}")


def _font(size: int = 11):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # no FreeType: the bitmap font has a fixed size
        return ImageFont.load_default()


def save_frame_grid_png(
    path: str | os.PathLike,
    clips,
    titles: Sequence[str] | None = None,
    max_frames: int = 16,
    *,
    layout: str = "THWC",
    scale: int | None = None,
    frame_labels: bool = True,
) -> Path:
    """Save a PNG grid: one row per clip, one column per frame (Pillow, pixel-exact nearest-neighbour frames).

    Args:
        path: ``.png`` destination (written atomically; parent directories are created).
        clips: a list of clips (sizes and lengths may differ), or one batched array/tensor
            ``(B, T, H, W[, C])`` (``layout="THWC"``), ``(B, C, T, H, W)`` (``"CTHW"``), ``(B, T, C, H, W)``
            (``"TCHW"``). A single clip goes in as ``[clip]``.
        titles: one per clip, written left of its row.
        max_frames: at most this many columns; longer clips show ``max_frames`` evenly spaced frames, the same
            frame indices in every row (taken from the longest clip; shorter rows leave those cells empty).
        layout: axis order of each clip.
        scale: integer upscaling of every frame; ``None`` gives the smallest clip's short side at least 64 px.
        frame_labels: a header row with the frame index (``t=k``) of every column.

    Returns:
        The path written. With ``cell = (max H * scale, max W * scale)``, ``pad = 2`` and no titles/labels the
        image is ``(n_cols * (cell_w + pad) + pad)`` by ``(n_rows * (cell_h + pad) + pad)`` pixels; titles add a
        column and labels a header row of text height.
    """
    from PIL import Image, ImageDraw

    _check_layout(layout)
    if isinstance(max_frames, bool) or not isinstance(max_frames, int | np.integer) or max_frames < 1:
        raise ValueError(f"max_frames: expected a positive int, got {max_frames!r}")
    items = [
        to_uint8_frames(c, layout, name=f"save_frame_grid_png({path}) clips[{i}]")
        for i, c in enumerate(_split_clips(clips, layout, "clips"))
    ]
    if not items:
        raise ValueError("clips: nothing to draw")
    if titles is not None:
        titles = [str(t) for t in titles]
        if len(titles) != len(items):
            raise ValueError(f"titles: expected {len(items)} titles (one per clip), got {len(titles)}")
    s = _check_scale(scale, min(x.shape[1] for x in items), min(x.shape[2] for x in items), GRID_MIN_SIDE)
    cell_h = max(x.shape[1] for x in items) * s
    cell_w = max(x.shape[2] for x in items) * s
    t_max = max(x.shape[0] for x in items)
    n_cols = min(max_frames, t_max)
    columns = np.unique(np.rint(np.linspace(0, t_max - 1, n_cols)).astype(int))  # frame index per column
    n_cols, n_rows, pad = len(columns), len(items), _GRID_PAD

    font = _font()
    draw_probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    text_h = draw_probe.textbbox((0, 0), "t=0123456789Tgy", font=font)[3]
    label_w = 0 if titles is None else max(int(draw_probe.textlength(t, font=font)) for t in titles) + 2 * pad
    header_h = text_h + 2 * pad if frame_labels else 0
    width = label_w + n_cols * (cell_w + pad) + pad
    height = header_h + n_rows * (cell_h + pad) + pad

    img = Image.new("RGB", (width, height), _GRID_BACKGROUND)
    draw = ImageDraw.Draw(img)
    x0, y0 = label_w + pad, header_h + pad
    if frame_labels:
        for j, t in enumerate(columns):
            text = f"t={t}"
            tw = draw.textlength(text, font=font)
            if tw <= cell_w + pad:  # skip labels that would overlap their neighbours
                draw.text((x0 + j * (cell_w + pad) + (cell_w - tw) / 2, pad), text, fill=_GRID_TEXT, font=font)
    for r, frames in enumerate(items):
        rgb = upscale(to_rgb(frames), s)  # (T, h*s, w*s, 3)
        y = y0 + r * (cell_h + pad)
        if titles is not None:
            draw.text((pad, y + (cell_h - text_h) / 2), titles[r], fill=_GRID_TEXT, font=font)
        for j, t in enumerate(columns):
            if t < rgb.shape[0]:
                img.paste(Image.fromarray(rgb[t]), (x0 + j * (cell_w + pad), y))
    return atomic_write(path, lambda f: img.save(f, format="PNG"))


def _check_names(names: Sequence[str] | None, n: int) -> list[str]:
    if names is None:
        return [f"clip_{i:03d}" for i in range(n)]
    names = [str(x) for x in names]
    if len(names) != n:
        raise ValueError(f"names: expected {n} names (one per clip), got {len(names)}")
    for x in names:
        if not x or x in (".", "..") or "/" in x or "\\" in x or "\0" in x:
            raise ValueError(f"names: {x!r} is not a plain file name (no separators, not empty, '.' or '..')")
    dup = sorted({x for x in names if names.count(x) > 1})
    if dup:
        raise ValueError(f"names: must be unique, repeated: {dup}")
    return names


def export_clips(
    out_dir: str | os.PathLike,
    clips,
    fps: float,
    names: Sequence[str] | None = None,
    formats: Sequence[str] = FORMATS,
    *,
    layout: str = "THWC",
    scale: int | None = None,
    max_frames: int = 16,
    grid_name: str | None = "grid.png",
    titles: Sequence[str] | None = None,
) -> list[Path]:
    """Write every clip in every format, plus one PNG grid of all clips.

    Args:
        out_dir: directory (created). Clip ``name`` goes to ``out_dir/name.{mp4,gif,npy,png}``; ``png`` is that
            clip's own one-row frame grid.
        clips: a list of clips or one batched array/tensor (see :func:`save_frame_grid_png`).
        fps: frames per second for MP4 and GIF.
        names: one plain file name (no extension) per clip; ``None`` gives ``clip_000``, ``clip_001``, ...
        formats: any of ``"mp4"``, ``"gif"``, ``"npy"``, ``"png"``.
        layout: axis order of each clip (``"THWC"``, ``"CTHW"``, ``"TCHW"``).
        scale: MP4/GIF/grid upscaling (``None``: automatic per format; ``.npy`` is never scaled).
        max_frames: columns of the PNG grids.
        grid_name: file name of the all-clips grid in ``out_dir``; ``None`` skips it.
        titles: one caption per clip in the grids (default: the names).

    Returns:
        Every path written: per clip in ``formats`` order, then the grid.
    """
    formats = [formats] if isinstance(formats, str) else list(formats)
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ValueError(f"formats: unknown {unknown}; valid formats are {list(FORMATS)}")
    _check_fps(fps)
    _check_layout(layout)
    # convert once (one warning per clip), then hand uint8 THWC frames to every writer
    items = [to_uint8_frames(c, layout, name=f"clips[{i}]") for i, c in enumerate(_split_clips(clips, layout, "clips"))]
    if not items:
        raise ValueError("clips: nothing to export")
    names = _check_names(names, len(items))
    titles = names if titles is None else list(titles)
    if len(titles) != len(items):
        raise ValueError(f"titles: expected {len(items)} (one per clip), got {len(titles)}")
    if grid_name is not None and "png" in formats and grid_name in {f"{n}.png" for n in names}:
        raise ValueError(f"grid_name: {grid_name!r} would overwrite a clip's PNG; rename the clip or the grid")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name, title, frames in zip(names, titles, items, strict=True):
        for fmt in dict.fromkeys(formats):
            dest = out / f"{name}.{fmt}"
            if fmt == "mp4":
                written.append(write_mp4(dest, frames, fps, scale=scale))
            elif fmt == "gif":
                written.append(write_gif(dest, frames, fps, scale=scale))
            elif fmt == "npy":
                written.append(save_npy(dest, frames))
            else:
                written.append(save_frame_grid_png(dest, [frames], titles=[title], max_frames=max_frames, scale=scale))
    if grid_name is not None:
        written.append(save_frame_grid_png(out / grid_name, items, titles=titles, max_frames=max_frames, scale=scale))
    return written
