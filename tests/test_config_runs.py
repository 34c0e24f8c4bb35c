"""Configs (TOML, overrides, round trips), run directories, checkpoints, and the shared trainer."""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pytest
import torch
from torch import nn

from gen_media.config import (
    ConfigError,
    add_common_args,
    apply_overrides,
    config_from_args,
    dump_toml,
    from_dict,
    load_config,
    to_dict,
    to_toml,
)
from gen_media.runs import (
    MetricsLog,
    RunDir,
    RunExistsError,
    load_checkpoint,
    plot_metrics,
    read_metrics,
    rng_state,
    save_checkpoint,
    seed_everything,
    set_rng_state,
)
from gen_media.trainer import EpochSampler, LoopConfig, NonFiniteLossError, Trainer, TrainingInterrupted

# --------------------------------------------------------------------------------------------- a config tree


@dataclass
class DataCfg:
    root: Path = Path("data")
    n: int = 24
    clip: float | None = None
    name: str | None = None


@dataclass
class ModelCfg:
    backend: Literal["torch", "numba"] = "torch"
    channels: tuple[int, ...] = (8, 16)
    kernel: tuple[int, int] = (4, 2)
    dropout: float = 0.2
    norm: bool = True
    name: str = "toy"
    max_len: int | None = 5


@dataclass
class TrainCfg(LoopConfig):
    lr: float = 0.05
    batch_size: int = 8
    milestones: list[int] = field(default_factory=lambda: [100])
    fail_at: int = -1  # the toy task returns a NaN loss at this step


@dataclass
class ToyCfg:
    seed: int = 0
    data: DataCfg = field(default_factory=DataCfg)
    model: ModelCfg = field(default_factory=ModelCfg)
    train: TrainCfg = field(default_factory=TrainCfg)


def write(tmp_path: Path, text: str, name: str = "cfg.toml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


# --------------------------------------------------------------------------------------------- config


def test_load_toml_nested_sections(tmp_path):
    p = write(
        tmp_path,
        """
seed = 3
[data]
root = "/tmp/digits"
clip = 1          # an int where a float is expected: accepted, stored as float
[model]
backend = "numba"
channels = [32, 64, 128]
[train]
steps = 50
lr = 1e-3
""",
    )
    cfg = load_config(ToyCfg, p)
    assert cfg.seed == 3
    assert cfg.data.root == Path("/tmp/digits") and cfg.data.n == 24
    assert cfg.data.clip == 1.0 and isinstance(cfg.data.clip, float)
    assert cfg.model.backend == "numba" and cfg.model.channels == (32, 64, 128)
    assert cfg.train.steps == 50 and cfg.train.lr == 1e-3 and cfg.train.batch_size == 8
    assert load_config(ToyCfg) == ToyCfg()


def test_unknown_key_names_key_and_valid_keys(tmp_path):
    with pytest.raises(ConfigError) as e:
        load_config(ToyCfg, write(tmp_path, "[train]\nstepz = 3\n"))
    msg = str(e.value)
    assert "train.stepz" in msg and "steps" in msg and "lr" in msg and "did you mean 'train.steps'" in msg
    with pytest.raises(ConfigError, match="unknown config key 'modle'.*valid keys in the top level"):
        load_config(ToyCfg, write(tmp_path, "[modle]\nname = 'x'\n"))
    with pytest.raises(ConfigError, match="unknown config key 'train.nope'"):
        apply_overrides(ToyCfg(), ["train.nope=1"])


def test_type_errors_say_expected_and_got(tmp_path):
    with pytest.raises(ConfigError, match=r"train\.steps: expected int, got 'ten' \(str\)"):
        load_config(ToyCfg, write(tmp_path, "[train]\nsteps = 'ten'\n"))
    with pytest.raises(ConfigError, match=r"train\.steps: expected int, got 1\.5 \(float\)"):
        load_config(ToyCfg, write(tmp_path, "[train]\nsteps = 1.5\n"))
    with pytest.raises(ConfigError, match=r"model\.norm: expected bool .*got 1 \(int\)"):
        load_config(ToyCfg, write(tmp_path, "[model]\nnorm = 1\n"))
    with pytest.raises(ConfigError, match=r"model\.backend: expected one of 'torch', 'numba', got 'cuda'"):
        load_config(ToyCfg, write(tmp_path, "[model]\nbackend = 'cuda'\n"))
    with pytest.raises(ConfigError, match=r"model\.channels\[1\]: expected int, got 'a'"):
        load_config(ToyCfg, write(tmp_path, "[model]\nchannels = [1, 'a']\n"))
    with pytest.raises(ConfigError, match=r"model\.kernel: expected tuple\[int, int\].*got 3 items"):
        load_config(ToyCfg, write(tmp_path, "[model]\nkernel = [1, 2, 3]\n"))
    with pytest.raises(ConfigError, match=r"model: expected a table of ModelCfg keys"):
        load_config(ToyCfg, write(tmp_path, "model = 3\n"))
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(ToyCfg, write(tmp_path, "[train\n"))
    with pytest.raises(FileNotFoundError, match="config file not found"):
        load_config(ToyCfg, tmp_path / "missing.toml")
    # a __post_init__ check (LoopConfig: intervals >= 0) surfaces as a ConfigError naming the field
    with pytest.raises(ConfigError, match="steps: expected an int >= 0, got -1"):
        apply_overrides(ToyCfg(), ["train.steps=-1"])


def test_overrides_parse_each_type():
    base = ToyCfg()
    cfg = apply_overrides(
        base,
        [
            "seed=7",
            "train.steps=10",  # int
            "train.lr=1",  # int accepted for float
            "data.clip=0.5",  # float | None
            "model.norm=false",  # bool
            "model.backend=numba",  # Literal, bare word
            "data.root=/x/y z",  # Path from bare text
            "model.name=123",  # str field, TOML would say int: the text is kept
            "model.channels=[1, 2, 3]",  # tuple from a TOML array
            "model.kernel=3,1",  # tuple from comma-separated text
            "train.milestones=5,10",  # list
            "model.max_len=none",  # int | None
            "data.name='none'",  # quoted: the string "none", not None
        ],
    )
    assert base == ToyCfg()  # unchanged: a new config is returned
    assert cfg.seed == 7 and cfg.train.steps == 10
    assert cfg.train.lr == 1.0 and isinstance(cfg.train.lr, float)
    assert cfg.data.clip == 0.5 and cfg.model.norm is False and cfg.model.backend == "numba"
    assert cfg.data.root == Path("/x/y z") and cfg.model.name == "123"
    assert cfg.model.channels == (1, 2, 3) and cfg.model.kernel == (3, 1) and cfg.train.milestones == [5, 10]
    assert cfg.model.max_len is None and cfg.data.name == "none"
    assert apply_overrides(cfg, ["data.clip=None", "data.name=none"]).data.clip is None
    assert apply_overrides(cfg, ["data.name=none"]).data.name is None
    assert apply_overrides(cfg, ["model.norm=True"]).model.norm is True

    with pytest.raises(ConfigError, match=r"--set train.steps=abc: train.steps: expected int, got 'abc'"):
        apply_overrides(base, ["train.steps=abc"])
    with pytest.raises(ConfigError, match="expected one of 'torch', 'numba', got 'cuda'"):
        apply_overrides(base, ["model.backend=cuda"])
    with pytest.raises(ConfigError, match=r"train\.steps: expected int, got 'none' \(str\)"):
        apply_overrides(base, ["train.steps=none"])
    with pytest.raises(ConfigError, match="must look like key=value"):
        apply_overrides(base, ["train.steps"])
    with pytest.raises(ConfigError, match="not a section"):
        apply_overrides(base, ["seed.x=1"])


def test_dict_round_trip_and_checkpoint_safe(tmp_path):
    cfg = apply_overrides(ToyCfg(), ["model.channels=[3, 5]", "data.clip=2.5", "model.max_len=none"])
    d = to_dict(cfg)
    assert d["data"]["root"] == "data" and d["model"]["channels"] == (3, 5)
    assert from_dict(ToyCfg, d) == cfg
    save_checkpoint(tmp_path / "c.pt", {"config": d})
    assert from_dict(ToyCfg, load_checkpoint(tmp_path / "c.pt")["config"]) == cfg  # weights_only load
    assert from_dict(ToyCfg, {"train": {"steps": 3}}).train.steps == 3  # missing keys take defaults
    with pytest.raises(ConfigError, match="unknown config key 'extra'"):
        from_dict(ToyCfg, {**d, "extra": 1})


def test_dump_load_round_trip(tmp_path):
    cfg = apply_overrides(
        ToyCfg(),
        [
            'data.root=/tmp/a "quoted" dir',
            "data.clip=0.1",
            "model.max_len=none",  # default 5 -> written as "none"
            "train.lr=1e-05",
            "model.backend=numba",
            "train.milestones=[]",
        ],
    )
    p = dump_toml(cfg, tmp_path / "config.toml")
    text = p.read_text()
    assert text.startswith("#") and "[model]" in text and "[train]" in text
    assert load_config(ToyCfg, p) == cfg
    assert load_config(ToyCfg, write(tmp_path, to_toml(ToyCfg()), "d.toml")) == ToyCfg()


def test_cli_args_to_config(tmp_path):
    parser = add_common_args(argparse.ArgumentParser())
    p = dump_toml(apply_overrides(ToyCfg(), ["train.steps=5"]), tmp_path / "a.toml")
    args = parser.parse_args(
        [
            "--config",
            str(p),
            "--out",
            str(tmp_path / "run"),
            "--set",
            "seed=4",
            "--set",
            "model.backend=numba",
        ]
    )
    cfg = config_from_args(ToyCfg, args)
    assert (cfg.train.steps, cfg.seed, cfg.model.backend, args.resume) == (5, 4, "numba", False)
    # --resume without --config starts from the run's own config.toml
    (tmp_path / "run").mkdir()
    dump_toml(cfg, tmp_path / "run" / "config.toml")
    args = parser.parse_args(["--out", str(tmp_path / "run"), "--resume", "--set", "train.steps=9"])
    cfg2 = config_from_args(ToyCfg, args)
    assert (cfg2.train.steps, cfg2.seed, cfg2.model.backend) == (9, 4, "numba")


@dataclass
class RecipeTrainCfg(TrainCfg):
    threads: int = 2  # a recipe's train section sets the thread pools


@dataclass
class RecipeCfg(ToyCfg):
    train: RecipeTrainCfg = field(default_factory=RecipeTrainCfg)


def test_train_resolves_its_config_and_run_directory(tmp_path):
    """A new run starts from the recipe's TOML, not the class defaults; ``--resume``, with or without ``--out``,
    from the run's own config.toml (without --out: in the directory a plain ``train`` would have used)."""
    from gen_media.recipes.common import add_train_parser, run_training

    class Prepared(Exception):
        pass

    def prepare(cfg):
        raise Prepared(cfg)  # stop before any data or training: the resolved config is what is checked

    parser = argparse.ArgumentParser()
    add_train_parser(parser.add_subparsers(), write(tmp_path, "[train]\nsteps = 7\n", "recipe.toml"), func=None)

    def resolve(*argv: str) -> RecipeCfg:
        with pytest.raises(Prepared) as e:
            run_training(parser.parse_args(["train", *argv]), RecipeCfg, prepare,
                         lambda cfg: tmp_path / f"runs-{cfg.model.name}")
        return e.value.args[0]

    assert resolve().train.steps == 7 and RecipeCfg().train.steps != 7
    assert resolve("--set", "train.steps=8").train.steps == 8
    run = tmp_path / "runs-toy"
    run.mkdir()
    dump_toml(apply_overrides(RecipeCfg(), ["train.steps=11", "seed=3"]), run / "config.toml")
    for out in ([], ["--out", str(run)]):
        cfg = resolve(*out, "--resume", "--set", "train.lr=0.5")
        assert (cfg.train.steps, cfg.seed, cfg.train.lr) == (11, 3, 0.5)


@pytest.mark.parametrize("cls_path, toml", [("gen_media.speech:SpeechConfig", "recipes/speech/default.toml"),
                                            ("gen_media.vocoder:VocoderConfig", "recipes/speech/vocoder.toml"),
                                            ("gen_media.video.pipeline:VideoConfig", "recipes/video/default.toml")])
def test_recipe_tomls_hold_the_class_defaults(cls_path, toml):
    """The TOMLs document every key of the defaults; where they are not installed (recipes/ is not part of the
    package), the classes give the same runs."""
    import importlib

    module, name = cls_path.split(":")
    cls = getattr(importlib.import_module(module), name)
    assert load_config(cls, Path(__file__).parents[1] / toml) == cls()


# --------------------------------------------------------------------------------------------- runs


def test_atomic_checkpoint(tmp_path):
    obj = {"w": torch.arange(6.0).reshape(2, 3), "step": 3, "name": "x"}
    p = save_checkpoint(tmp_path / "ck" / "last.pt", obj)
    assert sorted(os.listdir(p.parent)) == ["last.pt"]  # no temp file left behind
    got = load_checkpoint(p)
    assert got["step"] == 3 and torch.equal(got["w"], obj["w"])
    assert load_checkpoint(p.parent)["name"] == "x"  # a run directory loads its last.pt

    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):  # a failed write keeps the old file, leaves no temp
        save_checkpoint(p, {"bad": Unpicklable()})
    assert sorted(os.listdir(p.parent)) == ["last.pt"] and load_checkpoint(p)["step"] == 3
    with pytest.raises(FileNotFoundError, match="no last.pt"):
        load_checkpoint(tmp_path)


def test_rundir_refuses_overwrite(tmp_path):
    cfg = ToyCfg(seed=11)
    run = RunDir.create(tmp_path / "r", cfg)
    meta = json.loads(run.meta_path.read_text())
    assert meta["seed"] == 11 and meta["torch_version"] == torch.__version__ and meta["gen_media_version"]
    assert meta["command"] and meta["start_time"]
    assert load_config(ToyCfg, run.config_path) == cfg
    RunDir.create(tmp_path / "r", cfg)  # no checkpoint yet: reusing the directory is fine
    save_checkpoint(run.last_path, {"step": 1})
    with pytest.raises(RunExistsError, match="--resume.*another --out"):
        RunDir.create(tmp_path / "r", cfg)
    again = RunDir.create(tmp_path / "r", cfg, resume=True)
    assert again.resume and len(json.loads(again.meta_path.read_text())["resumes"]) == 1
    with pytest.raises(FileNotFoundError, match="cannot resume"):
        RunDir.create(tmp_path / "fresh", cfg, resume=True)


def test_metrics_log_truncates_on_resume(tmp_path):
    p = tmp_path / "metrics.jsonl"
    with MetricsLog(p) as log:
        for s in range(1, 8):
            log.log(s, {"loss": s / 10}, lr=torch.tensor(0.5))
    with p.open("a") as f:
        f.write('{"step": 8, "lo')  # a line torn by a crash
    assert [r["step"] for r in read_metrics(p)] == list(range(1, 8))
    with MetricsLog(p, resume_step=4) as log:
        log.log(5, {"loss": 0.55})
    rows = read_metrics(p)
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5]
    assert rows[0] == {"step": 1, "loss": 0.1, "lr": 0.5} and rows[-1]["loss"] == 0.55
    MetricsLog(p).close()  # a fresh (non-resumed) run starts an empty log
    assert p.read_text() == ""


def test_rng_state_round_trip(tmp_path):
    seed_everything(5)
    s = rng_state()
    save_checkpoint(tmp_path / "rng.pt", s)
    a = (random.random(), np.random.rand(), torch.rand(3))
    set_rng_state(load_checkpoint(tmp_path / "rng.pt"))
    b = (random.random(), np.random.rand(), torch.rand(3))
    assert a[0] == b[0] and a[1] == b[1] and torch.equal(a[2], b[2])


def test_epoch_sampler_covers_each_epoch_and_restores():
    s = EpochSampler(10, 3, seed=1)
    first = torch.cat([next(s) for _ in range(3)])  # drop_last: 3 batches of 3 per epoch
    assert len(set(first.tolist())) == 9
    state = s.state_dict()
    nxt = [next(s) for _ in range(4)]
    s2 = EpochSampler(10, 3, seed=1)
    s2.load_state_dict(state)
    assert all(torch.equal(a, b) for a, b in zip(nxt, [next(s2) for _ in range(4)], strict=True))
    with pytest.raises(ValueError, match="larger than the dataset"):
        EpochSampler(2, 3)


# --------------------------------------------------------------------------------------------- trainer


class ToyTask:
    """Linear regression through a dropout MLP, SGD+momentum; python, numpy and torch RNG all matter."""

    def __init__(self, cfg: ToyCfg, interrupt_at: int = -1, sigint_at: int = -1):
        g = torch.Generator().manual_seed(123)
        self.x = torch.randn(cfg.data.n, 4, generator=g)  # (N, 4)
        self.y = self.x @ torch.randn(4, 1, generator=g)  # (N, 1)
        self.model = nn.Sequential(nn.Linear(4, 16), nn.Dropout(cfg.model.dropout), nn.Linear(16, 1))
        self.opt = torch.optim.SGD(self.model.parameters(), lr=cfg.train.lr, momentum=0.9)
        self.sched = torch.optim.lr_scheduler.MultiStepLR(self.opt, milestones=[7], gamma=0.5)
        self.cfg, self.interrupt_at, self.sigint_at = cfg, interrupt_at, sigint_at
        self.samples: list[int] = []

    def train_step(self, idx, step):
        x, y = self.x[idx], self.y[idx]  # (B, 4), (B, 1)
        x = x + 0.05 * torch.randn_like(x) + 0.01 * float(np.random.randn()) + 0.01 * random.random()
        if step == self.interrupt_at:
            raise KeyboardInterrupt  # mid-step, after drawing from the RNGs
        if step == self.sigint_at:
            os.kill(os.getpid(), signal.SIGINT)  # a real Ctrl-C: the step finishes, then the loop stops
        loss = nn.functional.mse_loss(self.model(x), y)
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        self.sched.step()
        if step == self.cfg.train.fail_at:
            return {"loss": float("nan")}
        return {"loss": loss, "lr": self.opt.param_groups[0]["lr"]}

    def validate(self):
        self.model.eval()
        noise = torch.randn_like(self.x)  # draws from the RNG: the trainer must isolate it
        m = nn.functional.mse_loss(self.model(self.x + 0.01 * noise), self.y).item()
        self.model.train()
        return m

    def sample(self, run, step):
        torch.randn(5)
        (run.samples_dir / f"step{step}.txt").write_text(str(step))

    def state_dict(self):
        return {
            "model": self.model.state_dict(),
            "opt": self.opt.state_dict(),
            "sched": self.sched.state_dict(),
        }

    def load_state_dict(self, s):
        self.model.load_state_dict(s["model"])
        self.opt.load_state_dict(s["opt"])
        self.sched.load_state_dict(s["sched"])

    def extra_state(self):
        return {"x_mean": self.x.mean(0)}


def train(out: Path, overrides=(), *, resume=False, plot=False, **task_kw):
    """What a recipe's ``train`` command does (a new "process" each call: reseed, rebuild, maybe resume)."""
    cfg = load_config(ToyCfg, None, ["train.log_every=1", "train.checkpoint_every=5", *overrides])
    run = RunDir.create(out, cfg, resume=resume)
    seed_everything(cfg.seed)
    task = ToyTask(cfg, **task_kw)
    batches = EpochSampler(cfg.data.n, cfg.train.batch_size, seed=cfg.seed)
    result = Trainer(run, task, batches, cfg.train, progress=False, plot=plot).fit()
    return result, task


def losses(out: Path) -> list[dict]:
    return read_metrics(out)


def test_resume_is_exact(tmp_path):
    a, task_a = train(tmp_path / "a", ["train.steps=20"])
    rows_a = losses(tmp_path / "a")
    assert [r["step"] for r in rows_a] == list(range(1, 21)) and a.step == 20
    assert sorted(p.name for p in (tmp_path / "a" / "samples").iterdir()) == ["step20.txt"]

    train(tmp_path / "b", ["train.steps=10"])
    b, task_b = train(tmp_path / "b", ["train.steps=20"], resume=True, plot=True)
    assert losses(tmp_path / "b") == rows_a  # every step's loss, lr and val, bit for bit
    for pa, pb in zip(task_a.model.parameters(), task_b.model.parameters(), strict=True):
        assert torch.equal(pa, pb)
    ck = load_checkpoint(tmp_path / "b")
    assert ck["step"] == 20 and ck["config"]["train"]["steps"] == 20 and "x_mean" in ck["extra"]
    assert (tmp_path / "b" / "losses.png").stat().st_size > 0


def test_ctrl_c_saves_and_resumes_exactly(tmp_path):
    common = ["train.steps=20", "train.log_every=3", "train.sample_every=4"]
    train(tmp_path / "a", common)
    rows_a = losses(tmp_path / "a")

    # KeyboardInterrupt inside train_step (step index 7): last.pt holds the state from before that step
    with pytest.raises(TrainingInterrupted, match="--resume") as e:
        train(tmp_path / "b", common, interrupt_at=7)
    assert e.value.step == 7 and load_checkpoint(tmp_path / "b")["step"] == 7
    assert "stopped inside step 8: the models keep that step's partial update" in str(e.value)
    train(tmp_path / "b", common, resume=True)  # (exact here: this toy step had not touched its model yet)
    assert losses(tmp_path / "b") == rows_a

    # a real SIGINT: the step in flight finishes, then last.pt is written at the next step boundary
    before = signal.getsignal(signal.SIGINT)  # not always Python's default: `nohup` and `cmd &` ignore SIGINT
    with pytest.raises(KeyboardInterrupt):
        train(tmp_path / "c", common, sigint_at=12)
    assert load_checkpoint(tmp_path / "c")["step"] == 13
    assert signal.getsignal(signal.SIGINT) is before  # handler restored
    train(tmp_path / "c", common, resume=True)
    assert losses(tmp_path / "c") == rows_a


def test_non_finite_loss_stops_and_keeps_last_good(tmp_path):
    with pytest.raises(
        NonFiniteLossError, match=r"non-finite loss at step 13: loss=nan.*\(step 10\) is kept"
    ):
        train(tmp_path / "r", ["train.steps=20", "train.fail_at=12"])
    assert load_checkpoint(tmp_path / "r")["step"] == 10
    assert max(r["step"] for r in losses(tmp_path / "r")) == 12


def test_best_checkpoint_follows_validation(tmp_path):
    res, _ = train(tmp_path / "r", ["train.steps=12", "train.val_every=2", "train.checkpoint_every=6"])
    vals = [r["val"] for r in losses(tmp_path / "r") if "val" in r]
    assert len(vals) == 6
    best = load_checkpoint(tmp_path / "r" / "best.pt")
    assert best["best_metric"] == min(vals) == res.best_metric and res.best_path is not None
    assert best["step"] == 2 * (vals.index(min(vals)) + 1)
    assert plot_metrics(tmp_path / "r") == tmp_path / "r" / "losses.png"
    # nothing to do when the run is already complete
    again, _ = train(
        tmp_path / "r", ["train.steps=12", "train.val_every=2", "train.checkpoint_every=6"], resume=True
    )
    assert again.step == 12


# --------------------------------------------------------------------------------------------- non-finite steps


def generative(tmp_path: Path, objective: str, nan_steps, *sets: str):
    """A tiny speech VAE/GAN whose batches hold NaN at the (0-based) steps in ``nan_steps``; ``task.before``
    collects the task's state (:func:`snapshot`) before each step."""
    from gen_media.speech import MelData, SpeechConfig, SpeechTask

    cfg = load_config(SpeechConfig, None, [
        "model.channels=[16,16,8]", "model.encoder_channels=[8,16]", "model.latent_dim=4", "model.label_dim=4",
        f"model.objective={objective}", "train.warmup_steps=2", "train.steps=6", "train.log_every=1",
        "train.checkpoint_every=2", "train.val_every=100", *sets])
    g = torch.Generator().manual_seed(0)
    data = MelData(torch.randn(16, 16, 16, generator=g), torch.arange(16) % 2, ["a", "b"], torch.zeros(16, 1),
                   torch.ones(16, 1), {})
    seed_everything(0)
    task = SpeechTask(cfg, data, data)
    task.sample = None  # audio samples need 80-band mels
    task.before = []

    def fetch(idx):
        x, y = data.batch(idx)
        task.before.append(snapshot(task))
        return (x * float("nan") if len(task.before) - 1 in nan_steps else x), y

    run = RunDir.create(tmp_path / objective, cfg)
    return Trainer(run, task, EpochSampler(16, 4, fetch=fetch), cfg.train, progress=False, plot=False), task


def snapshot(task) -> list[torch.Tensor]:
    """Every weight, buffer (BatchNorm statistics) and optimizer moment of ``task``."""
    state = [t.clone() for m in task.models.values() for t in (*m.parameters(), *m.buffers())]
    return state + [v.clone() for o in task.opts.values() for s in o.state.values() for v in s.values()]


@pytest.mark.parametrize("objective", ["vae", "gan"])
def test_nonfinite_skip_drops_the_update_and_counts_it(tmp_path, objective):
    trainer, task = generative(tmp_path, objective, {3}, "train.nonfinite=skip")
    trainer.fit()
    # step 4 (NaN data): weights, BatchNorm statistics and Adam moments as before it; a good step moves them
    assert all(torch.equal(a, b) for a, b in zip(task.before[3], task.before[4], strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(task.before[2], task.before[3], strict=True))
    assert all(torch.isfinite(t).all() for t in snapshot(task))
    rows = read_metrics(trainer.run.path)
    assert [r["skipped"] for r in rows] == [0, 0, 0, 1, 0, 0]
    assert "loss" not in rows[3] and all(np.isfinite(r["loss"]) for r in rows if r["step"] != 4)


def test_nonfinite_skip_stops_after_too_many_in_a_row(tmp_path):
    trainer, task = generative(tmp_path, "vae", set(range(2, 6)), "train.nonfinite=skip", "train.max_skipped=2")
    with pytest.raises(NonFiniteLossError, match=r"3 steps in a row skipped at step 5: .*\(step 4\) is kept"):
        trainer.fit()
    assert all(torch.isfinite(t).all() for t in snapshot(task))
    assert [r["skipped"] for r in read_metrics(trainer.run.path)] == [0, 0, 1, 1]


def test_nonfinite_stop_never_lets_nan_reach_the_weights(tmp_path):
    trainer, task = generative(tmp_path, "vae", {2})
    with pytest.raises(NonFiniteLossError, match=r'non-finite loss at step 3: loss=nan.*train.nonfinite="skip"'):
        trainer.fit()
    assert all(torch.isfinite(t).all() for t in snapshot(task))
    assert load_checkpoint(trainer.run.path)["step"] == 2


def test_nonfinite_skip_needs_a_task_that_can_skip(tmp_path):
    cfg = load_config(ToyCfg, None, ["train.nonfinite=skip"])
    with pytest.raises(TypeError, match=r'nonfinite="skip" needs a task .*ToyTask does not'):
        Trainer(RunDir.create(tmp_path / "r", cfg), ToyTask(cfg), EpochSampler(24, 8), cfg.train)
    with pytest.raises(ConfigError, match="nonfinite"):
        load_config(ToyCfg, None, ["train.nonfinite=ignore"])


def test_gan_step_whose_generator_update_is_dropped_keeps_the_discriminator_update(tmp_path, monkeypatch):
    import gen_media.tasks

    _, task = generative(tmp_path, "gan", set())
    g = torch.Generator().manual_seed(1)
    batch = lambda: (torch.randn(4, 16, 16, generator=g), torch.arange(4) % 2)  # noqa: E731
    assert task.train_step(batch(), 0)["skipped"] == 0  # a normal step first, as in a run
    monkeypatch.setattr(gen_media.tasks, "hinge_g_loss", lambda d_fake: d_fake.mean() * float("nan"))
    state = lambda m: [t.clone() for t in (*m.parameters(), *m.buffers())]  # noqa: E731
    before = {k: state(m) for k, m in task.models.items()}
    out = task.train_step(batch(), 1)
    assert out["skipped"] == 1 and np.isfinite(float(out["d_loss"]))
    changed = {k: [not torch.equal(a, b) for a, b in zip(before[k], state(m), strict=True)]
               for k, m in task.models.items()}
    assert not any(changed["decoder"])  # weights and BatchNorm statistics as before the step
    n_params = len(list(task.models["discriminator"].parameters()))
    assert any(changed["discriminator"][:n_params])  # its update was taken
    assert any(changed["discriminator"][n_params:])  # and its buffers (spectral norm) stay with it
