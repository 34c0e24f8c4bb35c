"""The training task both recipes share: a conditional decoder trained as a VAE or a GAN.

A recipe builds the models (``decoder`` plus ``encoder`` for a VAE or ``discriminator`` for a
GAN; each takes ``(x, labels)``) and subclasses :class:`GenerativeTask` to add ``sample`` and
``extra_state``. The class implements :class:`gen_media.trainer.TrainTask`.

Data parallel training (torchrun) goes through one hook, :meth:`GenerativeTask.distribute`: training steps
then run the models through their ``DistributedDataParallel`` wrappers, while saving, loading, validation and
sampling keep using the plain modules (the wrappers share their parameters).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from gen_media import distributed
from gen_media.objectives import hinge_d_loss, hinge_g_loss, reparameterize, vae_terms


def warmup_cosine(steps: int, warmup_steps: int, floor: float = 0.05) -> Callable[[int], float]:
    """Learning-rate factor: linear warm-up, then cosine decay to ``floor`` at ``steps``."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = min(1.0, (step - warmup_steps) / max(1, steps - warmup_steps))
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))

    return factor


class CheckpointedModels:
    """``state_dict`` / ``load_state_dict`` of a task that holds ``models``, ``opts`` and ``scheds`` dicts."""

    models: dict[str, torch.nn.Module]
    opts: dict[str, torch.optim.Optimizer]
    scheds: dict[str, torch.optim.lr_scheduler.LRScheduler]

    def state_dict(self) -> dict:
        return {"models": {k: m.state_dict() for k, m in self.models.items()},
                "opts": {k: o.state_dict() for k, o in self.opts.items()},
                "scheds": {k: s.state_dict() for k, s in self.scheds.items()}}

    def load_state_dict(self, state) -> None:
        for k, m in self.models.items():
            m.load_state_dict(state["models"][k])
        for k, o in self.opts.items():
            o.load_state_dict(state["opts"][k])
        for k, s in self.scheds.items():
            s.load_state_dict(state["scheds"][k])


class GenerativeTask(CheckpointedModels):
    """One optimizer step of a VAE (``model.objective = "vae"``) or hinge GAN (``"gan"``).

    ``cfg`` is a recipe config with ``model.{objective, latent_dim, beta}`` and
    ``train.{lr, lr_d, warmup_steps, steps}``; ``valid`` is ``(x, labels)`` of held-out data;
    ``recon`` is the VAE's reconstruction loss (``"mse"`` on normalized data, ``"bce"`` on [0, 1] data, with a
    decoder that outputs probabilities).

    A NaN or infinite loss or gradient never reaches the weights: each optimizer step is taken only when the
    loss and every gradient are finite (on every rank), otherwise the step's update is dropped, the buffers
    (BatchNorm statistics, spectral-norm vectors) of the models it would have updated are put back, and
    ``"skipped": 1`` is reported for the trainer to stop or count (``train.nonfinite``). A GAN step updates
    the discriminator first: when only the generator's update is dropped, the discriminator's stays.
    """

    skips_nonfinite = True  # see the class docstring: the trainer may rely on it for nonfinite="skip"

    def __init__(self, cfg, models: dict[str, torch.nn.Module], valid: tuple[torch.Tensor, torch.Tensor | None],
                 recon: str = "mse"):
        self.cfg, self.models, self.valid, self.recon = cfg, models, valid, recon
        t, objective = cfg.train, cfg.model.objective
        gen_params = [p for k, m in models.items() if k != "discriminator" for p in m.parameters()]
        betas = (0.5, 0.999) if objective == "gan" else (0.9, 0.999)
        self.opts = {"gen": torch.optim.Adam(gen_params, lr=t.lr, betas=betas)}
        if "discriminator" in models:
            self.opts["disc"] = torch.optim.Adam(models["discriminator"].parameters(), lr=t.lr_d, betas=betas)
        self.scheds = {k: torch.optim.lr_scheduler.LambdaLR(o, warmup_cosine(t.steps, t.warmup_steps))
                       for k, o in self.opts.items()}
        self.nets = dict(models)  # what training steps call: the models, or their DDP wrappers
        self._stepped: set[str] = set()  # the optimizers whose update the current step took (see _update)

    def distribute(self, wrap: Callable[[torch.nn.Module], torch.nn.Module] = distributed.wrap) -> None:
        """Train through ``wrap(model)`` for every model (default: DistributedDataParallel under torchrun)."""
        self.nets = {k: wrap(m) for k, m in self.models.items()}

    @property
    def decoder(self) -> torch.nn.Module:
        return self.models["decoder"]

    def _z(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.cfg.model.latent_dim)

    def train_step(self, batch, step: int) -> dict[str, torch.Tensor | float]:
        for m in self.models.values():
            m.train()
        buffers = {k: [b.detach().clone() for b in m.buffers()] for k, m in self.models.items()}
        self._stepped.clear()
        x, labels = batch
        out = self._vae_step(x, labels) if self.cfg.model.objective == "vae" else self._gan_step(x, labels)
        if out["skipped"]:  # the forward passes moved running statistics on bad values: undo that too
            with torch.no_grad():
                for k, m in self.models.items():
                    if self._optimizer_of(k) not in self._stepped:
                        for b, saved in zip(m.buffers(), buffers[k], strict=True):
                            b.copy_(saved)
        for s in self.scheds.values():
            s.step()
        return out

    @staticmethod
    def _optimizer_of(model: str) -> str:
        return "disc" if model == "discriminator" else "gen"

    def _update(self, name: str, loss: torch.Tensor) -> bool:
        """Backpropagate ``loss`` and step optimizer ``name`` if the loss and all gradients are finite on every
        rank; otherwise drop the gradients. Returns whether the step was taken."""
        opt = self.opts[name]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        grads = [p.grad for g in opt.param_groups for p in g["params"] if p.grad is not None]
        finite = bool(torch.isfinite(loss)) and bool(torch.isfinite(torch.nn.utils.get_total_norm(grads)))
        if distributed.all_true(finite):
            opt.step()
            self._stepped.add(name)
            return True
        opt.zero_grad(set_to_none=True)
        return False

    def _vae_terms(self, x, labels, nets: dict[str, torch.nn.Module], sample: bool = True) -> dict[str, torch.Tensor]:
        mu, logvar = nets["encoder"](x, labels)
        x_hat = nets["decoder"](reparameterize(mu, logvar) if sample else mu, labels)
        return vae_terms(x, x_hat, mu, logvar, self.cfg.model.beta, recon=self.recon)

    def _vae_step(self, x, labels):
        terms = self._vae_terms(x, labels, self.nets)
        taken = self._update("gen", terms["loss"])
        return {**{k: v.detach() for k, v in terms.items()}, "skipped": float(not taken)}

    def decode(self, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """Decoder output in the data's units (the decoders already end in them; a subclass whose decoder does
        not would map its output here)."""
        return self.decoder(z, labels)

    def _gan_step(self, x, labels):
        disc = self.nets["discriminator"]
        fake = self.nets["decoder"](self._z(len(x)), labels)
        d_loss = hinge_d_loss(disc(x, labels), disc(fake.detach(), labels))
        if not self._update("disc", d_loss):  # no generator step against a discriminator that was not updated
            nan = torch.tensor(float("nan"))
            return {"loss": d_loss.detach() + nan, "g_loss": nan, "d_loss": d_loss.detach(), "skipped": 1.0}
        g_loss = hinge_g_loss(disc(fake, labels))
        taken = self._update("gen", g_loss)
        return {"loss": g_loss.detach() + d_loss.detach(), "g_loss": g_loss.detach(), "d_loss": d_loss.detach(),
                "skipped": float(not taken)}

    def validate(self) -> dict[str, float]:
        """Held-out scores. ``val`` (lower is better, decides best.pt): the VAE's loss (posterior mean), or
        (GAN) the mean absolute distance between class-mean generated and real data. ``checkerboard_axisN``:
        the share of generated energy at the decoder's upsampling period along axis N, relative to real data
        (:func:`gen_media.analysis.checkerboard.checkerboard_ratio`; 1 = like real data)."""
        for m in self.models.values():
            m.eval()
        x, labels = self.valid
        fake = self.decode(self._z(len(x)), labels)
        if self.cfg.model.objective == "vae":
            val = float(self._vae_terms(x, labels, self.models, sample=False)["loss"])
        elif labels is None:
            val = float((fake.mean(0) - x.mean(0)).abs().mean())
        else:
            val = float(torch.stack([(fake[labels == c].mean(0) - x[labels == c].mean(0)).abs().mean()
                                     for c in labels.unique()]).mean())
        return {"val": val, **checkerboard_report(self.decoder, fake, x)}



def checkerboard_report(decoder: torch.nn.Module, generated: torch.Tensor, real: torch.Tensor) -> dict[str, float]:
    """``{"checkerboard_axisN": ratio}`` at the decoder's upsampling period per output axis (skipping axes too
    short for the period, or where the real data have no energy at it)."""
    from gen_media.analysis.checkerboard import checkerboard_ratio

    out = {}
    for axis, period in decoder.upsampling_periods.items():
        period = min(period, real.shape[axis])
        if period < 2:
            continue
        try:
            out[f"checkerboard_axis{axis}"] = checkerboard_ratio(generated, real, period, axis)
        except ValueError:  # no energy in the real data there: no ratio to report
            pass
    return out


class ClassLabels:
    """What generators of both media share: a ``decoder``, ``label_names`` and ``n_classes`` (0: unconditional)."""

    decoder: torch.nn.Module
    label_names: list[str]
    n_classes: int

    @torch.no_grad()
    def decode(self, labels: list[int | None], seed: int = 0, temperature: float = 1.0,
               z: torch.Tensor | None = None, cond: torch.Tensor | None = None) -> torch.Tensor:
        """The decoder's output for ``labels``, from seeded latents (or ``z``; ``cond`` replaces label embeddings)."""
        if z is None:
            g = torch.Generator().manual_seed(seed)
            z = torch.randn(len(labels), self.decoder.latent_dim, generator=g) * temperature
        y = None if (cond is not None or not self.n_classes) else torch.tensor(labels, dtype=torch.long)
        return self.decoder(z, y, cond=cond)

    def label_index(self, label: str | int) -> int:
        """A class index from its name or number."""
        if not self.n_classes:
            raise ValueError("--label: this model is unconditional (trained on unlabelled data)")
        if isinstance(label, str) and label in self.label_names:
            return self.label_names.index(label)
        try:
            idx = int(label)
        except ValueError:
            idx = -1
        if not 0 <= idx < self.n_classes:
            raise ValueError(f"--label: expected a class name {self.label_names} or an index "
                             f"0..{self.n_classes - 1}, got {label!r}")
        return idx
