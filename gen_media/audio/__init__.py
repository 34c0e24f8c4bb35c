"""Audio features for the speech recipe: log-mel spectrograms, Griffin-Lim vocoding, WAV I/O, mel pictures.

Declare the analysis once in a :class:`MelConfig` (``MelConfig.preset("default" | "hifigan")``) and carry it
in checkpoints (``to_dict`` / ``from_dict``); every shape and inverse derives from it.
"""

from .griffinlim import (
    GriffinLimVocoder,
    griffin_lim,
    griffin_lim_from_magnitude,
    log_spectral_distance,
    mel_to_linear,
    spectral_convergence,
)
from .io import MEL_CONFIG_FILE, read_audio, write_mel, write_mel_config, write_wav
from .mel import (
    MelConfig,
    MelSpectrogram,
    istft,
    mel_filterbank,
    mel_spectrogram,
    mel_spectrogram_np,
    stft,
    stft_magnitude,
    window_tensor,
)
from .plot import save_mel_png

__all__ = [
    "MEL_CONFIG_FILE",
    "GriffinLimVocoder",
    "MelConfig",
    "MelSpectrogram",
    "griffin_lim",
    "griffin_lim_from_magnitude",
    "istft",
    "log_spectral_distance",
    "mel_filterbank",
    "mel_spectrogram",
    "mel_spectrogram_np",
    "mel_to_linear",
    "read_audio",
    "save_mel_png",
    "spectral_convergence",
    "stft",
    "stft_magnitude",
    "write_mel",
    "write_mel_config",
    "window_tensor",
    "write_wav",
]
