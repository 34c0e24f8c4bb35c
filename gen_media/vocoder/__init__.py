"""Neural vocoder: log-mels to waveforms, trained in minutes on a CPU (an iSTFT generator, or HiFi-GAN's).

    from gen_media.vocoder import NeuralVocoder
    voc = NeuralVocoder.load("runs/vocoder-digits-synth")   # run dir (best.pt) or .pt file
    wave = voc(log_mel)                                     # (n_mels, T) -> (T * hop,)

``python -m gen_media.recipes.speech train-vocoder`` trains one (``recipes/speech/vocoder.toml``).
"""

from .config import LossConfig, VocoderConfig, VocoderModelConfig, VocoderTrainConfig
from .discriminators import VocoderDiscriminator
from .generator import HiFiGANGenerator, InverseSTFT, ISTFTGenerator, MelToWave, build_generator, silence_gain
from .inference import NeuralVocoder
from .losses import ReconstructionLoss
from .metrics import lsd_report, real_time_factor
from .task import VocoderTask, WaveData, load_wave_data, wave_data

__all__ = [
    "HiFiGANGenerator",
    "ISTFTGenerator",
    "InverseSTFT",
    "MelToWave",
    "LossConfig",
    "NeuralVocoder",
    "ReconstructionLoss",
    "VocoderConfig",
    "VocoderDiscriminator",
    "VocoderModelConfig",
    "VocoderTask",
    "VocoderTrainConfig",
    "build_generator",
    "WaveData",
    "load_wave_data",
    "lsd_report",
    "real_time_factor",
    "silence_gain",
    "wave_data",
]
