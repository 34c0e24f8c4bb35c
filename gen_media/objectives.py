"""Training objectives shared by the speech and video recipes."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """z = mu + sigma * eps, eps ~ N(0, I)."""
    return mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)


def vae_terms(x: torch.Tensor, x_hat: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
              beta: float, recon: str = "mse") -> dict[str, torch.Tensor]:
    """Per-element losses of a VAE.

    ``recon_loss`` is the mean squared error per element (``recon="mse"``: a Gaussian likelihood on
    normalized data) or the binary cross-entropy of probabilities ``x_hat`` against ``x``, both in
    [0, 1] (``recon="bce"``: images); ``kl_loss`` is the KL divergence of the
    posterior from N(0, I) in nats per sample, divided by the elements per sample so both terms
    share a scale; ``loss = recon_loss + beta * kl_loss`` (beta = 1 is the ELBO of a unit-variance
    Gaussian likelihood up to a factor 2 on the reconstruction).
    """
    elements = x[0].numel()
    if recon == "mse":
        recon_loss = F.mse_loss(x_hat, x)
    elif recon == "bce":
        recon_loss = F.binary_cross_entropy(x_hat.clamp(1e-6, 1 - 1e-6), x)
    else:
        raise ValueError(f"recon: expected 'mse' or 'bce', got {recon!r}")
    kl = -0.5 * torch.mean(torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=1)) / elements
    return {"loss": recon_loss + beta * kl, "recon_loss": recon_loss, "kl_loss": kl}


def hinge_d_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    return F.relu(1.0 - real_scores).mean() + F.relu(1.0 + fake_scores).mean()


def hinge_g_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    return -fake_scores.mean()
