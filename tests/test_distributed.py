"""Distributed data parallel training: 2 CPU processes (gloo) started by torchrun run the speech recipe's
training path on a tiny synthetic mel dataset; weights stay identical on both ranks after every step, each
rank gets its own half of every global batch, a SIGTERM on one rank stops both after the same step, and
rank 0's checkpoint resumes in a single process (2 -> 1).

This file is also the worker: ``torchrun ... tests/test_distributed.py OUT CHECK STOP_AT [KEY=VALUE ...]``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from gen_media import distributed
from gen_media.recipes.common import run_training
from gen_media.speech import MelData, SpeechConfig, SpeechTask
from gen_media.trainer import EpochSampler

N_TRAIN, BATCH = 24, 8
TINY = ["model.channels=[16,16,8]", "model.encoder_channels=[8,16]", "model.latent_dim=4", "model.label_dim=4",
        "model.norm=group", f"train.batch_size={BATCH}", "train.steps=6", "train.warmup_steps=2",
        "train.log_every=1", "train.checkpoint_every=3", "train.val_every=3", "train.sample_every=0",
        "train.threads=1"]


def _mels(n: int, seed: int) -> MelData:
    g = torch.Generator().manual_seed(seed)
    return MelData(torch.randn(n, 16, 16, generator=g), torch.arange(n) % 2, ["a", "b"], torch.zeros(16, 1),
                   torch.ones(16, 1), {})


class _Recorded(SpeechTask):
    """SpeechTask that keeps every batch's indices, its loss and the weights after every step, and may send its
    own process SIGTERM inside one step (as torchrun's agent or a cluster scheduler would)."""

    stop_at = -1

    def __init__(self, cfg, train, valid):
        super().__init__(cfg, train, valid)
        self.params: list[torch.Tensor] = []
        self.indices: list[torch.Tensor] = []
        self.losses: list[float] = []

    def train_step(self, batch, step):
        if step == self.stop_at:
            os.kill(os.getpid(), signal.SIGTERM)
        out = super().train_step(batch, step)
        self.losses.append(float(out["loss"]))
        self.params.append(torch.cat([p.detach().flatten() for m in self.models.values() for p in m.parameters()]))
        return out

    def sample(self, run, step):
        pass  # audio samples need real 80-band mels; the recipe tests cover them


def _prepare(recorded: list[_Recorded], stop_at: int = -1):
    def prepare(cfg):
        train = _mels(N_TRAIN, 0)
        task = _Recorded(cfg, train, _mels(8, 1))
        task.stop_at = stop_at
        recorded.append(task)

        def fetch(idx):
            task.indices.append(idx)
            return train.batch(idx)

        return task, N_TRAIN, fetch, "tiny mels"

    return prepare


def _no_default_out(cfg):
    raise AssertionError("these runs all name their --out")


def _args(out: Path, sets=(), resume: bool = False) -> argparse.Namespace:
    return argparse.Namespace(config=None, overrides=[*TINY, *sets], out=out, resume=resume,
                              default_config=Path("/nonexistent.toml"))


def worker(argv: list[str]) -> int:
    """One torchrun process: train, then save what it saw under CHECK/rank<R>.pt."""
    torch.set_num_threads(1)
    out, check, stop_at, *sets = argv
    rank = int(os.environ["RANK"])
    recorded: list[_Recorded] = []
    code = run_training(_args(Path(out), sets), SpeechConfig, _prepare(recorded, int(stop_at) if rank == 1 else -1),
                        _no_default_out)
    task = recorded[0]
    torch.save({"code": code, "params": torch.stack(task.params), "indices": torch.stack(task.indices),
                "losses": task.losses,
                "ddp": type(task.nets["decoder"]).__name__}, Path(check) / f"rank{rank}.pt")
    return 0


def _torchrun(tmp_path: Path, out: Path, stop_at: int, *sets: str) -> tuple[subprocess.CompletedProcess, list]:
    check = tmp_path / "check"
    check.mkdir()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", __file__,
           str(out), str(check), str(stop_at), *sets]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    ranks = [torch.load(check / f"rank{r}.pt", weights_only=True) for r in (0, 1) if (check / f"rank{r}.pt").is_file()]
    assert len(ranks) == 2, proc.stdout + proc.stderr
    return proc, ranks


def _metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("objective", ["vae", "gan"])
def test_two_processes_train_in_lockstep_stop_together_and_resume_alone(tmp_path, objective):
    out = tmp_path / "run"
    # rank 1 alone gets SIGTERM inside step index 3: both ranks finish that step and stop after it
    proc, (r0, r1) = _torchrun(tmp_path, out, 3, f"model.objective={objective}")
    log = proc.stderr
    assert "world size 2: batch 4 per process, 8 in all" in log
    assert "Interrupted (another process got a stop signal) at step 4/6" in log
    assert "torchrun --nproc_per_node=2" in log and "--resume" in log
    assert (r0["code"], r1["code"]) == (130, 128 + signal.SIGTERM)
    assert r0["ddp"] == r1["ddp"] == "DistributedDataParallel"

    # identical weights on both ranks after every step, and they moved at every step
    assert len(r0["params"]) == len(r1["params"]) == 4
    assert torch.equal(r0["params"], r1["params"])
    assert all(not torch.equal(a, b) for a, b in zip(r0["params"], r0["params"][1:], strict=False))

    # each rank drew its own half of the global batch a single process would draw
    single = EpochSampler(N_TRAIN, BATCH, seed=0)
    for i0, i1 in zip(r0["indices"], r1["indices"], strict=True):
        assert len(i0) == len(i1) == BATCH // 2
        assert sorted((*i0.tolist(), *i1.tolist())) == sorted(next(single).tolist())

    # rank 0 alone wrote the run: one line per step, last.pt at the step both ranks stopped after, and each
    # step's logged loss is the mean of the two processes' losses (each on its half of the batch)
    assert [r["step"] for r in _metrics(out)] == [1, 2, 3, 4]
    assert [r["loss"] for r in _metrics(out)] == pytest.approx(
        [(a + b) / 2 for a, b in zip(r0["losses"], r1["losses"], strict=True)], rel=1e-6)
    assert r0["losses"] != r1["losses"]  # different halves: a mean, not one rank's value
    assert torch.load(out / "last.pt", weights_only=True)["step"] == 4

    # the checkpoint of 2 processes resumes in 1 (same global batch, same data order)
    recorded: list[_Recorded] = []
    assert run_training(_args(out, [f"model.objective={objective}"], resume=True), SpeechConfig,
                        _prepare(recorded), _no_default_out) == 0
    assert [r["step"] for r in _metrics(out)] == [1, 2, 3, 4, 5, 6]
    assert torch.load(out / "last.pt", weights_only=True)["step"] == 6
    assert [sorted(i.tolist()) for i in recorded[0].indices] == [sorted(next(single).tolist()) for _ in range(2)]


def test_a_single_process_is_not_distributed(tmp_path, monkeypatch):
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE"):
        monkeypatch.delenv(var, raising=False)
    w = distributed.init()
    assert w == distributed.World(0, 1, 0, 1) and not torch.distributed.is_initialized()
    assert distributed.is_main() and distributed.all_true(True) and not distributed.agree(False)
    t = torch.arange(3.0)
    assert distributed.sum_tensor(t) is t
    module = torch.nn.Linear(2, 2)
    assert distributed.wrap(module) is module
    state = torch.get_rng_state()
    distributed.fork_rng()  # rank 0 keeps its stream
    assert torch.equal(torch.get_rng_state(), state)

    recorded: list[_Recorded] = []
    assert run_training(_args(tmp_path / "r", ["train.steps=2"]), SpeechConfig, _prepare(recorded),
                        _no_default_out) == 0
    task = recorded[0]
    assert all(task.nets[k] is task.models[k] for k in task.models)  # no wrapper around the models
    assert [len(i) for i in task.indices] == [BATCH, BATCH]


def test_global_batch_must_split_over_the_processes():
    with pytest.raises(ValueError, match=r"batch_size=10 .* over 4 processes.*train.batch_size=8"):
        EpochSampler(40, 10, rank=1, world_size=4)
    a, b = (EpochSampler(40, 8, seed=3, rank=r, world_size=2) for r in (0, 1))
    whole = EpochSampler(40, 8, seed=3)
    for _ in range(7):  # across an epoch boundary
        ia, ib, iw = next(a), next(b), next(whole)
        assert np.array_equal(np.sort(np.concatenate([ia, ib])), np.sort(iw.numpy()))
    assert a.state_dict() == whole.state_dict()


if __name__ == "__main__":
    sys.exit(worker(sys.argv[1:]))
