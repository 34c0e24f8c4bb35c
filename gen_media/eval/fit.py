"""The training loop both evaluation classifiers (speech mels, video frames) share."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm


def fit_classifier(build: Callable[[], nn.Module], x_all: torch.Tensor, y_all: torch.Tensor, *, steps: int,
                   batch_size: int, lr: float, weight_decay: float, seed: int,
                   augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None,
                   progress: bool | None, device: torch.device, desc: str) -> tuple[nn.Module, float]:
    """Train ``build()`` with cross-entropy on random batches of ``(x_all, y_all)``: AdamW with a one-cycle
    schedule peaking at ``lr``. Everything (initialisation, batches, augmentation, dropout) is seeded by ``seed``
    and the global RNG is left as it was.

    Returns ``(model in eval mode on device, exponential moving average of the final losses)``.
    """
    cuda_devices = []
    if device.type == "cuda":
        cuda_devices = [torch.cuda.current_device() if device.index is None else device.index]
    n = len(x_all)
    with torch.random.fork_rng(devices=cuda_devices):
        torch.manual_seed(seed)
        model = build().to(device)
        x_all, y_all = x_all.to(device), y_all.to(device)
        gen = torch.Generator().manual_seed(seed)
        opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.15)
        model.train()
        bar = tqdm(range(steps), desc=desc, disable=(not progress) if progress is not None else None, leave=False)
        ema = math.nan
        for _ in bar:
            idx = torch.randint(0, n, (min(batch_size, n),), generator=gen).to(device)
            x, y = x_all[idx], y_all[idx]
            if len(idx) < 2:  # batch norm needs two examples
                x, y = x.repeat(2, *([1] * (x.ndim - 1))), y.repeat(2)
            if augment is not None:
                x = augment(x, gen)
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            ema = loss.item() if math.isnan(ema) else 0.95 * ema + 0.05 * loss.item()
            bar.set_postfix(loss=f"{ema:.3f}", refresh=False)
        bar.close()
    model.eval()
    return model, ema


def cached_classifier(path, meta: dict, load: Callable, save: Callable,
                      train: Callable[[], tuple[nn.Module, float]]) -> tuple[nn.Module, float]:
    """The classifier saved at ``path`` when its ``meta`` matches (same data, settings and seed), else
    ``train()``'s, saved there with ``meta`` and its held-out accuracy. Returns ``(model, val_accuracy)``."""
    if path.is_file():
        model = load(path)
        if all(model.meta.get(k) == v for k, v in meta.items()):
            return model, model.meta.get("val_accuracy")
    model, val_acc = train()
    save(path, model, val_accuracy=val_acc, **meta)
    return model, val_acc
