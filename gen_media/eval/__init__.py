"""Evaluation of generated media: classifier-based scores (accuracy, inception score, Frechet distance).

* :mod:`gen_media.eval.metrics` -- model-free statistics (NumPy/SciPy): :func:`inception_score`,
  :func:`gaussian_stats`, :func:`frechet_distance`.
* :mod:`gen_media.eval.speech` -- a spoken-digit classifier on log-mels (:class:`DigitClassifier`,
  :func:`train_classifier`, :func:`save_classifier` / :func:`load_classifier`) and :func:`classifier_scores`.
* :mod:`gen_media.eval.video` -- a per-frame digit classifier for moving-digit clips
  (:class:`FrameDigitClassifier`, :func:`paste_digits`, :func:`train_frame_classifier`,
  :func:`save_frame_classifier` / :func:`load_frame_classifier`), :func:`clip_scores` and :func:`temporal_change`.
"""

from .metrics import frechet_distance, frechet_distance_from_stats, gaussian_stats, inception_score
from .speech import (
    ClassifierConfig,
    DigitClassifier,
    augment,
    classifier_scores,
    embed,
    load_classifier,
    predict,
    save_classifier,
    train_classifier,
)
from .video import (
    FrameClassifierConfig,
    FrameDigitClassifier,
    augment_frames,
    clip_scores,
    embed_clips,
    embed_frames,
    load_frame_classifier,
    paste_digits,
    predict_frames,
    save_frame_classifier,
    temporal_change,
    train_frame_classifier,
)

__all__ = [
    "ClassifierConfig",
    "DigitClassifier",
    "augment",
    "classifier_scores",
    "embed",
    "frechet_distance",
    "frechet_distance_from_stats",
    "gaussian_stats",
    "inception_score",
    "load_classifier",
    "predict",
    "save_classifier",
    "train_classifier",
    # video
    "FrameClassifierConfig",
    "FrameDigitClassifier",
    "augment_frames",
    "clip_scores",
    "embed_clips",
    "embed_frames",
    "load_frame_classifier",
    "paste_digits",
    "predict_frames",
    "save_frame_classifier",
    "temporal_change",
    "train_frame_classifier",
]
