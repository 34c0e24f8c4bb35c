"""Training the vocoder: waveform clips and their log-mels, random aligned crops, the TrainTask.

Mels are computed once per clip with the speech recipe's own analysis (:func:`gen_media.speech.log_mels`
over the whole clip) and cropped together with the audio: frame ``t`` pairs with samples
``[t * hop, (t + 1) * hop)``. That is the alignment the generator produces, and unlike an STFT of the crop
alone it has no reflect-padding artefacts at the crop edges, so training mels are exactly the mels the
vocoder will be given (by ``mel``, by the decoders, at inference).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from gen_media.audio import MelConfig, griffin_lim, save_mel_png, write_wav
from gen_media.data import load_speech_dataset
from gen_media.speech import log_mels
from gen_media.tasks import CheckpointedModels, warmup_cosine

from .config import VocoderConfig
from .discriminators import VocoderDiscriminator
from .generator import build_generator
from .losses import ReconstructionLoss, feature_matching, lsgan_d_loss, lsgan_g_loss
from .metrics import lsd_report


@dataclass
class WaveData:
    """Clips of one split with their log-mels. ``waves`` keep their length; crops read ``padded``."""

    waves: torch.Tensor  # (N, samples) as loaded
    mels: torch.Tensor  # (N, n_mels, F) real-scale log-mels of the whole clips
    padded: torch.Tensor  # (N, F * hop): waves zero-padded (or cut) to one hop per frame
    hop: int

    def __len__(self) -> int:
        return len(self.waves)

    def crops(self, idx: torch.Tensor, frames: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Random aligned crops: mels ``(B, n_mels, frames)``, audio ``(B, frames * hop)``.

        Offsets come from torch's global RNG, which the trainer checkpoints: a resumed run draws the same crops.
        """
        starts = torch.randint(0, self.mels.shape[-1] - frames + 1, (len(idx),))
        pairs = list(zip(idx.tolist(), starts.tolist(), strict=True))
        mels = torch.stack([self.mels[i, :, s:s + frames] for i, s in pairs])  # (B, n_mels, frames)
        waves = torch.stack([self.padded[i, s * self.hop:(s + frames) * self.hop] for i, s in pairs])
        return mels, waves


def load_wave_data(cfg: VocoderConfig, split: str, min_frames: int = 1, pick: int = 0) -> WaveData:
    """A split of the configured dataset (``pick > 0``: that many clips spread evenly over it)."""
    mel = cfg.mel_config
    ds = load_speech_dataset(cfg.data.name, cfg.data.root, sample_rate=mel.sample_rate,
                             clip_seconds=cfg.data.clip_seconds, split=split, seed=cfg.seed)
    waves = torch.from_numpy(np.ascontiguousarray(ds.waves, dtype=np.float32))  # (N, samples)
    if split == "train" and cfg.data.max_clips and len(waves) > cfg.data.max_clips:
        keep = np.sort(np.random.default_rng(cfg.seed).permutation(len(waves))[: cfg.data.max_clips])
        waves = waves[torch.from_numpy(keep)]
    if pick:
        waves = waves[torch.from_numpy(np.unique(np.linspace(0, len(waves) - 1, pick).round().astype(np.int64)))]
    return wave_data(waves, mel, min_frames)


def wave_data(waves: torch.Tensor, mel: MelConfig, min_frames: int = 1) -> WaveData:
    """Mels of ``waves`` ``(N, samples)``; clips shorter than ``min_frames`` frames are padded with silence."""
    mels = log_mels(waves, mel)  # (N, n_mels, F)
    frames = max(mels.shape[-1], min_frames)
    if mels.shape[-1] < frames:
        floor = math.log10(mel.floor) if mel.log == "log10" else math.log(mel.floor)
        mels = torch.nn.functional.pad(mels, (0, frames - mels.shape[-1]), value=floor)
    n = frames * mel.hop_length
    padded = torch.nn.functional.pad(waves, (0, max(0, n - waves.shape[-1])))[:, :n]  # (N, F * hop)
    return WaveData(waves, mels, padded.contiguous(), mel.hop_length)


class VocoderTask(CheckpointedModels):
    """The :class:`gen_media.trainer.TrainTask` of ``train-vocoder``: MR-STFT + mel L1 (+ optional LSGAN)."""

    def __init__(self, cfg: VocoderConfig, train: WaveData, valid: WaveData):
        self.cfg, self.train_data, self.valid = cfg, train, valid
        self.mel = cfg.mel_config
        t, loss = cfg.train, cfg.loss
        self.generator = build_generator(self.mel, cfg.model)
        self.generator.set_normalization(train.mels)
        self.models: dict[str, torch.nn.Module] = {"generator": self.generator}
        self.recon = ReconstructionLoss(self.mel, loss.stft_scales, loss.stft_weight, loss.mel_weight, loss.log_eps,
                                        loss.phase_weight, loss.phase_floor)
        self.opts = {"gen": torch.optim.AdamW(self.generator.parameters(), lr=t.lr, betas=t.betas)}
        if loss.adversarial:
            self.models["discriminator"] = VocoderDiscriminator(loss.periods, loss.scales, loss.disc_channels)
            self.opts["disc"] = torch.optim.AdamW(self.models["discriminator"].parameters(), lr=t.lr_d,
                                                  betas=t.betas)
        self.scheds = {k: torch.optim.lr_scheduler.LambdaLR(o, warmup_cosine(t.steps, t.warmup_steps))
                       for k, o in self.opts.items()}
        self._gl_report: dict[str, float] | None = None

    def batch(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The ``fetch`` of the epoch sampler: aligned random crops of the clips ``idx``."""
        return self.train_data.crops(idx, self.cfg.train.segment_frames)

    # ------------------------------------------------------------------------------------ training

    def train_step(self, batch: tuple[torch.Tensor, torch.Tensor], step: int) -> dict[str, torch.Tensor]:
        mels, y = batch  # (B, n_mels, n), (B, n * hop)
        for m in self.models.values():
            m.train()
        y_hat = self.generator(mels)  # (B, n * hop)
        adv = "discriminator" in self.models and step >= self.cfg.loss.adv_start
        out: dict[str, torch.Tensor] = {}
        if adv:
            out["d_loss"] = self._disc_step(y, y_hat.detach())
        terms = self.recon(y_hat, y)
        loss = terms["loss"]
        if adv:
            loss = loss + self._adv_terms(y, y_hat, out)
        self._update("gen", loss, self.generator)
        for name in ("gen", "disc") if adv else ("gen",):  # a schedule advances with its optimizer's steps
            self.scheds[name].step()
        out.update({k: v.detach() for k, v in terms.items() if k != "loss"})
        out["loss"] = loss.detach()
        return out

    def _update(self, name: str, loss: torch.Tensor, model: torch.nn.Module) -> None:
        self.opts[name].zero_grad(set_to_none=True)
        loss.backward()
        if self.cfg.train.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), self.cfg.train.grad_clip)
        self.opts[name].step()

    def _disc_step(self, y: torch.Tensor, y_hat: torch.Tensor) -> torch.Tensor:
        disc = self.models["discriminator"]
        real, _ = disc(y)
        fake, _ = disc(y_hat)
        d_loss = lsgan_d_loss(real, fake)
        self._update("disc", d_loss, disc)
        return d_loss.detach()

    def _adv_terms(self, y: torch.Tensor, y_hat: torch.Tensor, out: dict[str, torch.Tensor]) -> torch.Tensor:
        disc = self.models["discriminator"]
        with torch.no_grad():
            _, real_feats = disc(y)
        fake, fake_feats = disc(y_hat)
        g_adv, fm = lsgan_g_loss(fake), feature_matching(real_feats, fake_feats)
        out["g_adv"], out["fm"] = g_adv.detach(), fm.detach()
        return self.cfg.loss.adv_weight * g_adv + self.cfg.loss.fm_weight * fm

    # ------------------------------------------------------------------------------------ held-out

    def vocode(self, mels: torch.Tensor) -> torch.Tensor:
        self.generator.eval()
        return self.generator(mels)

    def validate(self) -> dict[str, float]:
        """``val``: log-spectral distance (dB) of copy-synthesis of the fixed held-out clips (lower is better);
        also its value on sounding frames only, and Griffin-Lim's (32 iterations) on the same clips for scale."""
        v = self.valid
        report = lsd_report(v.waves, self.vocode(v.mels), self.mel)
        if self._gl_report is None:  # the same every time: computed once
            self._gl_report = lsd_report(v.waves, griffin_lim(v.mels, self.mel, n_iter=32), self.mel)
        return {"val": report["lsd"], "lsd_voiced": report["lsd_voiced"],
                "gl_lsd": self._gl_report["lsd"], "gl_lsd_voiced": self._gl_report["lsd_voiced"]}

    def sample(self, run, step: int) -> None:
        """The first held-out clips, real and vocoded: WAVs and one spectrogram PNG under samples/step_N/."""
        out = Path(run.samples_dir) / f"step_{step:06d}"
        out.mkdir(parents=True, exist_ok=True)
        n = min(4, len(self.valid))
        real, mels = self.valid.waves[:n], self.valid.mels[:n]
        fake = self.vocode(mels)
        rate = self.mel.sample_rate
        for i in range(n):
            write_wav(out / f"{i:03d}_real.wav", real[i].numpy(), rate)
            write_wav(out / f"{i:03d}_neural.wav", fake[i].numpy(), rate)
        again = log_mels(fake[:, : real.shape[-1]], self.mel)  # re-analysed
        pairs = [m for i in range(n) for m in (mels[i], again[i, :, : mels.shape[-1]])]
        titles = [f"{i:03d} {kind}" for i in range(n) for kind in ("real", "neural vocoder")]
        save_mel_png(out / "spectrograms.png", torch.stack(pairs).numpy(), self.mel, titles=titles)

    # ------------------------------------------------------------------------------------ state

    def extra_state(self) -> dict:
        return {"mel_config": self.mel.to_dict()}

