"""Distributed data parallel training under ``torchrun``; a no-op in a plain single process.

``torchrun --nproc_per_node=N -m gen_media.recipes.speech train ...`` starts N copies of the recipe with
``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` (and a rendezvous address) in their environment. :func:`init`
reads them and joins the process group: gloo when the models live on the CPU, NCCL when they live on CUDA
(one GPU per process, chosen by ``LOCAL_RANK``). Without those variables (or with ``WORLD_SIZE=1``) every
function here answers for a single process and starts nothing, so the recipes run unchanged.

The contract the trainer builds on: every rank runs every step on its own shard of the global batch, the
models are wrapped in :class:`torch.nn.parallel.DistributedDataParallel` (gradients are averaged before each
optimizer step, so the weights stay identical on all ranks), and rank 0 alone writes files.

BatchNorm layers normalize with the statistics of each process's own shard (torch's SyncBatchNorm runs on
GPUs only): with ``model.norm = "batch"`` N processes normalize over ``batch_size / N`` samples where one
process normalizes over ``batch_size``; ``model.norm = "group"`` (or ``"none"``) has no such dependence.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.distributed as dist

__all__ = [
    "World",
    "agree",
    "all_true",
    "barrier",
    "cleanup",
    "fork_rng",
    "init",
    "is_main",
    "main_first",
    "sum_tensor",
    "world",
    "wrap",
]


@dataclass(frozen=True)
class World:
    """Where this process stands: ``rank`` of ``size`` processes, ``local_rank`` on its node."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    local_size: int = 1

    @property
    def distributed(self) -> bool:
        return self.size > 1


def _env_world() -> World:
    def get(name: str, default: int) -> int:
        value = os.environ.get(name)
        try:
            return default if value is None else int(value)
        except ValueError:
            raise ValueError(f"${name}={value!r}: expected an integer (set by torchrun)") from None

    size = get("WORLD_SIZE", 1)
    return World(get("RANK", 0), size, get("LOCAL_RANK", 0), get("LOCAL_WORLD_SIZE", size))


def world() -> World:
    """This process's place: from the joined process group, else from torchrun's variables, else 1 of 1."""
    if dist.is_available() and dist.is_initialized():
        env = _env_world()
        return World(dist.get_rank(), dist.get_world_size(), env.local_rank, env.local_size)
    return World()


def init(device: str | torch.device = "cpu") -> World:
    """Join the process group torchrun describes (gloo for ``device`` CPU, NCCL for CUDA); a no-op alone.

    Raises ``RuntimeError`` naming what to do when torchrun asks for more processes than this build or
    machine can serve.
    """
    env = _env_world()
    if not env.distributed or dist.is_initialized():
        return world()
    if not dist.is_available():
        raise RuntimeError(f"WORLD_SIZE={env.size}, but this torch build has no torch.distributed; "
                           "run a single process (plain python, no torchrun)")
    device = torch.device(device)
    backend = "gloo"
    if device.type == "cuda":
        if torch.cuda.device_count() <= env.local_rank:
            raise RuntimeError(f"LOCAL_RANK={env.local_rank} needs GPU {env.local_rank}, but only "
                               f"{torch.cuda.device_count()} are visible: lower --nproc_per_node")
        torch.cuda.set_device(env.local_rank)
        backend = "nccl"
    dist.init_process_group(backend=backend)
    return world()


def is_main() -> bool:
    """True on rank 0 (and in a single process): the one process that writes files and prints progress."""
    return world().rank == 0


def barrier() -> None:
    """Wait for every rank (a no-op alone)."""
    if world().distributed:
        dist.barrier()


@contextlib.contextmanager
def main_first() -> Iterator[None]:
    """Rank 0 runs the block first (e.g. builds a dataset cache), then the other ranks (which find it built)."""
    if not is_main():
        barrier()
    yield
    if is_main():
        barrier()


def cleanup() -> None:
    """Leave the process group (a no-op when none was joined)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def wrap(module: torch.nn.Module) -> torch.nn.Module:
    """``module`` in :class:`DistributedDataParallel` when distributed (its weights are then broadcast from
    rank 0, and gradients averaged across ranks in ``backward``); ``module`` itself alone.

    The wrapper shares its parameters with ``module``: save, load, validate and sample through ``module``.
    """
    if not world().distributed:
        return module
    device_ids = None
    p = next(module.parameters(), None)
    if p is not None and p.device.type == "cuda":
        device_ids = [p.device.index]
    return torch.nn.parallel.DistributedDataParallel(module, device_ids=device_ids)


def sum_tensor(t: torch.Tensor) -> torch.Tensor:
    """The element-wise sum of ``t`` over all ranks (``t`` itself alone)."""
    if not world().distributed:
        return t
    out = t.to(_collective_device(), copy=True)
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out.to(t.device)


def all_true(flag: bool) -> bool:
    """True when ``flag`` is true on every rank: one decision all ranks share (e.g. "apply this update")."""
    if not world().distributed:
        return bool(flag)
    t = torch.tensor([1.0 if flag else 0.0], device=_collective_device())
    dist.all_reduce(t, op=dist.ReduceOp.MIN)
    return bool(t.item() > 0)


def agree(flag: bool) -> bool:
    """True when ``flag`` is true on any rank (e.g. "someone got SIGTERM: everybody stops after this step")."""
    return not all_true(not flag)


def _collective_device() -> torch.device:
    """NCCL reduces CUDA tensors only; gloo, CPU ones."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def fork_rng() -> None:
    """Give ranks > 0 their own random streams (latents, dropout, VAE noise), derived from the current shared
    state and the rank, so they do not all draw the same noise for different data. Rank 0 keeps its stream
    (it is the one checkpointed), so a single process is unaffected."""
    w = world()
    if w.rank == 0:
        return
    from gen_media.runs import seed_everything

    digest = hashlib.sha256(torch.get_rng_state().numpy().tobytes() + w.rank.to_bytes(4, "little")).digest()
    seed_everything(int.from_bytes(digest[:8], "little") % 2**63)
