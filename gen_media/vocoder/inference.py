"""A trained vocoder for inference: ``NeuralVocoder.load(run)(log_mel) -> waveform``."""

from __future__ import annotations

from pathlib import Path

import torch

from gen_media.audio import MelConfig
from gen_media.config import from_dict
from gen_media.runs import load_checkpoint

from .config import VocoderConfig
from .generator import MelToWave, build_generator


def checkpoint_path(path: str | Path) -> Path:
    """A run directory's ``best.pt`` (else ``last.pt``), or the file itself."""
    path = Path(path)
    if path.is_dir():
        for name in ("best.pt", "last.pt"):
            if (path / name).is_file():
                return path / name
        raise FileNotFoundError(f"{path}: no best.pt or last.pt; train one with "
                                "`python -m gen_media.recipes.speech train-vocoder --out DIR`")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such vocoder run directory or checkpoint file")
    return path


class NeuralVocoder:
    """A trained generator (:class:`ISTFTGenerator` or :class:`HiFiGANGenerator`) with its mel config; weight
    norm folded, eval mode, no grad.

    ``voc(log_mel)``: ``(n_mels, T)`` -> ``(T * hop,)`` or ``(B, n_mels, T)`` -> ``(B, T * hop)``, float32, on
    log-mels in the units of :func:`gen_media.speech.log_mels` (not normalized).
    """

    def __init__(self, generator: MelToWave, cfg: VocoderConfig | None = None):
        self.generator = generator.eval()
        self.cfg = cfg
        self.mel: MelConfig = generator.mel

    @classmethod
    def load(cls, path: str | Path, backend: str | None = None) -> NeuralVocoder:
        """From a run directory (``best.pt``, else ``last.pt``) or a checkpoint file; ``backend`` overrides
        the trained one (``"torch"`` | ``"numba"``)."""
        file = checkpoint_path(path)
        ckpt = load_checkpoint(file)
        if "generator" not in ckpt.get("task", {}).get("models", {}):
            raise ValueError(f"{file}: not a vocoder checkpoint (no generator); train one with train-vocoder")
        model = ckpt["config"].get("model", {})
        if "generator" not in model:  # written before the iSTFT generator existed: all were HiFi-GAN
            ckpt["config"]["model"] = {**model, "generator": "hifigan"}
        cfg = from_dict(VocoderConfig, ckpt["config"])
        mel = MelConfig.from_dict(ckpt["extra"]["mel_config"])
        if backend is not None:
            cfg.model.backend = backend
        gen = build_generator(mel, cfg.model)
        gen.load_state_dict(ckpt["task"]["models"]["generator"])
        return cls(gen.fold(), cfg)

    def check_mel_config(self, mel: MelConfig, what: str = "the mel") -> None:
        """Raise unless ``mel`` is the analysis this vocoder was trained on."""
        if mel != self.mel:
            diff = {k: (v, self.mel.to_dict()[k]) for k, v in mel.to_dict().items() if self.mel.to_dict()[k] != v}
            raise ValueError(f"{what} was made with another mel config than this vocoder was trained on "
                             f"(field: (given, vocoder's)) {diff}; recompute the mels with the vocoder's config "
                             "or train a vocoder with the same [mel] preset")

    @torch.no_grad()
    def __call__(self, log_mel: torch.Tensor, mel: MelConfig | None = None) -> torch.Tensor:
        """Log-mel ``(n_mels, T)`` or ``(B, n_mels, T)`` -> ``(T * hop,)`` or ``(B, T * hop)`` float32.
        Pass ``mel`` (the config the log-mels were made with) to have it checked against the vocoder's."""
        if mel is not None:
            self.check_mel_config(mel)
        x = torch.as_tensor(log_mel, dtype=torch.float32)
        if x.dim() not in (2, 3) or x.shape[-2] != self.mel.n_mels:
            raise ValueError(f"log_mel: expected (n_mels={self.mel.n_mels}, frames) or (batch, n_mels, frames), "
                             f"got {tuple(x.shape)}; the vocoder was trained on {self.mel.n_mels}-band mels")
        wave = self.generator(x if x.dim() == 3 else x[None])  # (B, T * hop)
        return wave if x.dim() == 3 else wave[0]

    def __repr__(self) -> str:
        n = sum(p.numel() for p in self.generator.parameters())
        return (f"NeuralVocoder({n / 1e6:.2f}M parameters, {self.mel.sample_rate} Hz, hop {self.mel.hop_length}, "
                f"{self.mel.n_mels} mels, backend={self.generator.cfg.backend!r})")
