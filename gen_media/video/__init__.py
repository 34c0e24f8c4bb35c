"""Video output for the video recipe: frame conventions and MP4 (H.264) / GIF / ``.npy`` / PNG-grid writers.

A clip is ``(T, H, W)`` or ``(T, H, W, C)`` (``C`` in {1, 3}), ``uint8`` or float in [0, 1], NumPy or torch;
``layout="CTHW"`` (decoder output) and ``"TCHW"`` are accepted wherever a clip is. Every writer is atomic and
replaces NaN/inf (with a warning) instead of writing them. PyAV and Pillow are imported on first use.
"""

from .export import FORMATS, export_clips, read_video, save_frame_grid_png, save_npy, write_gif, write_mp4
from .frames import LAYOUTS, auto_scale, mp4_frame_size, pad_even, to_rgb, to_uint8_frames, upscale

__all__ = [
    "FORMATS",
    "LAYOUTS",
    "auto_scale",
    "export_clips",
    "mp4_frame_size",
    "pad_even",
    "read_video",
    "save_frame_grid_png",
    "save_npy",
    "to_rgb",
    "to_uint8_frames",
    "upscale",
    "write_gif",
    "write_mp4",
]
