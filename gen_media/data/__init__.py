"""Datasets for the recipes.

Speech (:mod:`gen_media.data.speech`): ``load_speech_dataset(name, root, *, sample_rate, clip_seconds, split,
seed, **options) -> SpeechDataset`` with ``waves`` ``(N, samples)`` float32 and ``labels`` ``(N,)`` int64 or None.
``DATASETS`` maps every accepted name to its loader; the default, ``digits-synth``, is synthesized locally
with espeak-ng and cached under ``$GEN_MEDIA_DATA`` (default ``~/.cache/gen_media``).
"""

from .base import DIGIT_NAMES, SpeechDataset, data_home
from .digits_synth import DigitsSynthConfig, load_digits_synth
from .speech import (
    DATASETS,
    DEFAULT_DATASET,
    LAYOUTS,
    get_loader,
    load_folder,
    load_fsdd,
    load_ljspeech,
    load_sc09,
    load_speech_dataset,
)

__all__ = [
    "DATASETS",
    "DEFAULT_DATASET",
    "DIGIT_NAMES",
    "LAYOUTS",
    "DigitsSynthConfig",
    "SpeechDataset",
    "data_home",
    "get_loader",
    "load_digits_synth",
    "load_folder",
    "load_fsdd",
    "load_ljspeech",
    "load_sc09",
    "load_speech_dataset",
]

# video (gen_media.data.video): load_video_dataset(name, root, *, frames, size, split, seed, **options) -> VideoDataset
from .video import (  # noqa: E402
    DEFAULT_VIDEO_DATASET,
    VIDEO_DATASETS,
    VIDEO_LAYOUTS,
    get_video_loader,
    load_moving_mnist,
    load_video_dataset,
    load_video_folder,
)
from .video_base import VideoDataset  # noqa: E402
from .video_digits import load_digit_images, load_moving_digits  # noqa: E402

__all__ += [
    "DEFAULT_VIDEO_DATASET",
    "VIDEO_DATASETS",
    "VIDEO_LAYOUTS",
    "VideoDataset",
    "get_video_loader",
    "load_digit_images",
    "load_moving_digits",
    "load_moving_mnist",
    "load_video_dataset",
    "load_video_folder",
]
