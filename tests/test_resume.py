"""Exact resume through real processes: the speech recipe's ``train`` command is killed with SIGKILL after a
checkpoint, resumed, stopped with SIGTERM (clean exit 143, last.pt, resume command), resumed again, and every
logged value at every step equals that of a run that was never stopped."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

RATE = 16000


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    """Two tones, 10 clips each (the 10th is held out), in folder layout."""
    root = tmp_path_factory.mktemp("tiny_resume")
    rng = np.random.default_rng(1)
    t = np.arange(int(0.3 * RATE)) / RATE
    for label, f0 in (("low", 220.0), ("high", 880.0)):
        (root / label).mkdir()
        for i in range(10):
            wave = 0.3 * np.sin(2 * np.pi * f0 * (1 + 0.05 * rng.standard_normal()) * t)
            sf.write(root / label / f"{i:02d}.wav", wave.astype(np.float32), RATE)
    return root


def train_args(root: Path, out: Path) -> list[str]:
    """Far more steps than any test lets run: every run here ends by a signal, so all share one schedule."""
    sets = ["data.name=folder", f"data.root={root}", "data.clip_seconds=0.3", "model.channels=[16,16,8]",
            "model.encoder_channels=[8,16]", "model.latent_dim=4", "model.label_dim=4", "train.steps=100000",
            "train.batch_size=4", "train.log_every=1", "train.checkpoint_every=4", "train.val_every=0",
            "train.sample_every=0", "train.warmup_steps=3", "train.threads=1"]
    return ["train", "--out", str(out), *[a for s in sets for a in ("--set", s)]]


def rows(run: Path) -> list[dict]:
    path = run / "metrics.jsonl"
    if not path.is_file():
        return []
    lines = path.read_text().splitlines()
    return [json.loads(line) for line in lines if line.endswith("}")]  # a line being written may be torn


ENV = {**os.environ, "OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}


def start(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "gen_media.recipes.speech", *args], env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_step(proc: subprocess.Popen, run: Path, step: int) -> None:
    """Until metrics.jsonl reaches ``step`` (the process must still be running: it has 100000 steps to go)."""
    deadline = time.monotonic() + 300  # a hang guard, not a timing assertion
    while not rows(run) or rows(run)[-1]["step"] < step:
        if proc.poll() is not None:
            pytest.fail(f"training exited early with {proc.returncode}:\n{proc.stderr.read()}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("training made no progress")
        time.sleep(0.05)


# The speech command, stopped by a KeyboardInterrupt raised inside step argv[1] (it saves at that step, exit 130).
_STOP_AT = """
import sys
from gen_media.recipes.speech import main
from gen_media.speech import SpeechTask
stop, train_step = int(sys.argv[1]), SpeechTask.train_step
def stopping(self, batch, step):
    if step == stop:
        raise KeyboardInterrupt
    return train_step(self, batch, step)
SpeechTask.train_step = stopping
sys.exit(main(sys.argv[2:]))
"""


def run_until(args: list[str], stop_step: int) -> None:
    """The command run until ``stop_step`` in a fresh process like :func:`start`'s. Not in the test's own: a
    pytest worker's earlier tests leave thread pools and library caches behind, and in one full run a KL value
    of the in-process run differed from the subprocesses' by one unit in the last place."""
    proc = subprocess.run([sys.executable, "-c", _STOP_AT, str(stop_step), *args], env=ENV, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 130, proc.stderr


def test_sigkill_then_sigterm_then_resume_log_what_an_unbroken_run_logs(tiny_data, tmp_path):
    run = tmp_path / "run"
    # 1. SIGKILL a few steps after the first checkpoint: nothing is written on the way out
    proc = start(train_args(tiny_data, run))
    wait_for_step(proc, run, 6)
    proc.kill()
    proc.wait()
    killed_at = rows(run)[-1]["step"]
    saved = torch.load(run / "last.pt", weights_only=True)["step"]
    assert saved % 4 == 0 and 4 <= saved <= killed_at

    # 2. resume, then SIGTERM: the step in flight finishes, last.pt is written, exit status 128 + 15
    proc = start([*train_args(tiny_data, run), "--resume"])
    wait_for_step(proc, run, killed_at + 2)  # past the killed run's last line: this process is training
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 128 + signal.SIGTERM, err
    stopped = torch.load(run / "last.pt", weights_only=True)["step"]
    assert "SIGTERM: finishing this step, then writing last.pt" in err
    assert f"Interrupted (SIGTERM) at step {stopped}/100000; wrote {run / 'last.pt'}. Resume with:" in err
    assert "gen_media.recipes.speech train" in err and "--resume" in err
    assert rows(run)[-1]["step"] == stopped > killed_at

    # 3. resume once more, two steps further
    run_until([*train_args(tiny_data, run), "--resume"], stopped + 2)

    # the same command never stopped by a signal, up to the same step
    straight = tmp_path / "straight"
    run_until(train_args(tiny_data, straight), stopped + 2)
    got, want = rows(run), rows(straight)
    assert [r["step"] for r in got] == list(range(1, stopped + 3)) == [r["step"] for r in want]
    assert got == want  # every loss, KL and validation value, bit for bit (same process count and threads)
