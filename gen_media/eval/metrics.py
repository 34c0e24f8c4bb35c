"""Sample-quality statistics computed from a classifier's outputs: inception score and Frechet distance.

Plain NumPy/SciPy in float64, independent of any model, so the speech and video recipes share them:

* :func:`inception_score` -- ``exp(E_x KL(p(y|x) || p(y)))`` from class probabilities ``(N, C)``; 1 when every
  sample gets the same prediction (or every prediction is uniform), ``C`` when predictions are confident
  and the classes are used equally often.
* :func:`gaussian_stats` / :func:`frechet_distance` -- the Frechet (2-Wasserstein) distance between Gaussians
  fitted to two sets of embeddings ``(N, D)``: ``|mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2))`` (FID's formula).
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.linalg

__all__ = ["frechet_distance", "frechet_distance_from_stats", "gaussian_stats", "inception_score"]


def inception_score(probs: np.ndarray, splits: int = 1, eps: float = 1e-12) -> tuple[float, float]:
    """Inception score of class probabilities.

    Args:
        probs: ``(N, C)`` rows of class probabilities (non-negative, each row summing to 1 within 1e-3).
        splits: split the N rows into this many consecutive chunks, score each and report mean and std
            (Salimans et al. use 10 over 50k samples; with a few hundred samples keep 1, since IS is biased
            low on small chunks).
        eps: added inside the logs so that zero probabilities are finite.

    Returns:
        ``(mean, std)`` over the splits (``std`` is 0 for one split). The score lies in ``[1, C]``.
    """
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] == 0 or p.shape[1] == 0:
        raise ValueError(f"probs must be (N, C) with N, C >= 1, got shape {p.shape}")
    if not np.all(np.isfinite(p)) or (p < 0).any():
        raise ValueError("probs must be finite and non-negative (pass softmax outputs, not logits)")
    sums = p.sum(axis=1)
    if np.abs(sums - 1.0).max() > 1e-3:
        raise ValueError(f"each row of probs must sum to 1 (pass softmax outputs, not logits); "
                         f"row sums range over [{sums.min():.4g}, {sums.max():.4g}]")
    if not isinstance(splits, int | np.integer) or not 1 <= splits <= p.shape[0]:
        raise ValueError(f"splits must be an int in [1, N={p.shape[0]}], got {splits!r}")
    scores = []
    for chunk in np.array_split(p, splits, axis=0):
        marginal = chunk.mean(axis=0, keepdims=True)  # (1, C): p(y)
        kl = (chunk * (np.log(chunk + eps) - np.log(marginal + eps))).sum(axis=1)  # (n,): KL(p(y|x) || p(y))
        scores.append(float(np.exp(kl.mean())))
    return float(np.mean(scores)), float(np.std(scores))


def gaussian_stats(embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``(D,)`` and unbiased covariance ``(D, D)`` (float64) of embeddings ``(N, D)``, N >= 2."""
    x = np.asarray(embeddings, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"embeddings must be (N, D) with N >= 2, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("embeddings contain NaN or inf")
    return x.mean(axis=0), np.cov(x, rowvar=False).reshape(x.shape[1], x.shape[1])


def frechet_distance_from_stats(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray,
                                eps: float = 1e-6) -> float:
    """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2): ``(D,)`` means, ``(D, D)`` covariances.

    ``(sigma1 @ sigma2)^(1/2)`` comes from :func:`scipy.linalg.sqrtm`, in float64. When the product is singular
    (fewer samples than dimensions, constant features) or the root is not finite, ``eps * I`` is added to both
    covariances and it is retried (as pytorch-fid does). The root of a product of PSD matrices has real
    eigenvalues, so an imaginary part is rounding error: it is dropped, with a warning if it is large. The result
    is clamped at 0.
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    s1, s2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    d = mu1.shape[0]
    for name, got, want in (("mu1", mu1.shape, (d,)), ("mu2", mu2.shape, (d,)),
                            ("sigma1", s1.shape, (d, d)), ("sigma2", s2.shape, (d, d))):
        if got != want:
            raise ValueError(f"{name}: expected shape {want}, got {got}")
    diff = mu1 - mu2
    with warnings.catch_warnings():
        warnings.simplefilter("error", scipy.linalg.LinAlgWarning)  # "singular": retry with the offset below
        try:
            covmean = scipy.linalg.sqrtm(s1 @ s2)
            ok = bool(np.all(np.isfinite(covmean)))
        except scipy.linalg.LinAlgWarning:
            ok = False
    if not ok:
        offset = np.eye(d) * eps
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
            covmean = scipy.linalg.sqrtm((s1 + offset) @ (s2 + offset))
    if np.iscomplexobj(covmean):
        imag = np.abs(covmean.imag).max()
        scale = max(1.0, float(np.abs(covmean.real).max()))
        if imag > 1e-3 * scale:
            warnings.warn(f"frechet_distance: sqrtm has an imaginary component of {imag:.3g} "
                          f"(covariances nearly singular?); using the real part", RuntimeWarning, stacklevel=2)
        covmean = covmean.real
    fd = float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * np.trace(covmean))
    return max(fd, 0.0)


def frechet_distance(embeddings1: np.ndarray, embeddings2: np.ndarray, eps: float = 1e-6) -> float:
    """Frechet distance between Gaussians fitted to ``(N1, D)`` and ``(N2, D)`` embeddings (see
    :func:`frechet_distance_from_stats`). Two finite samples of one distribution do not score 0: the estimate
    is biased upwards, more so for fewer samples and more dimensions, so compare scores at equal N."""
    e1, e2 = np.asarray(embeddings1), np.asarray(embeddings2)
    if e1.ndim != 2 or e2.ndim != 2 or e1.shape[1] != e2.shape[1]:
        raise ValueError(f"embeddings must be (N1, D) and (N2, D) with the same D, got {e1.shape} and {e2.shape}")
    return frechet_distance_from_stats(*gaussian_stats(e1), *gaussian_stats(e2), eps=eps)
