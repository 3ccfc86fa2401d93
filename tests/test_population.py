"""Populations: runs trained side by side in one process are, bit for bit, the runs trained
alone, and each keeps its own failure, checkpoints and resume."""

import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
import torch

from algos import pg
from algos.manual_grad import tanh_mlp_backward, tanh_mlp_forward
from algos.metrics import TIMING
from algos.policy import GaussianActor, ValueNet
from algos.train import DivergenceError, Member, TrainConfig, train_together
from experiments.sweep import pack, population_job
from tests.conftest import ROOT, poisoned_step

# Every update rule, step sizes that differ within an algo, seeds that differ within a setting
MEMBERS = [
    ("ppo", {"epsilon": 0.2}, 1),
    ("ppo", {"epsilon": 0.5}, 2),
    ("ppo", {"epsilon": 0.2, "target_kl": 0.01}, 3),
    ("ppo", {"objective": "none", "max_grad_norm": None, "target_kl": 0.1}, 1),
    ("ppo", {"lr": 3e-3, "epochs": 3}, 2),
    ("ppo", {"objective": "kl_adaptive"}, 1),
    ("ppo", {"objective": "kl_fixed", "kl_coef": 0.3, "minibatch_size": 64}, 2),
    ("trpo", {"delta": 0.01}, 1),
    ("npg", {"delta": 0.1}, 2),
    ("pg", {"lr": 0.01}, 1),
    ("pg", {"lr": 0.3, "optimizer": "sgd"}, 2),
    ("hold", {}, 1),
]


def config(algo: str, params: dict, seed: int) -> TrainConfig:
    return TrainConfig(env_id="Hopper-v5", seed=seed, total_steps=3 * 128, horizon=128,
                       hidden=(8, 8), value_minibatch_size=32, value_epochs=2, algo=algo,
                       algo_params=params)  # fmt: skip


class Recorded:
    """What one member handed out: its metrics rows (timing aside) and its checkpoints."""

    def __init__(self, cfg: TrainConfig):
        self.rows, self.checkpoints = [], []
        self.member = Member(cfg, self.on_update, checkpoints=3, on_checkpoint=self.on_checkpoint)

    def on_update(self, row: dict) -> None:
        self.rows.append({k: v for k, v in row.items() if k not in TIMING})

    def on_checkpoint(self, update: int, state: dict) -> None:
        self.checkpoints.append((update, state["actor"], state["critic"], state["value_optimizer"]))


def assert_same(got: Recorded, expected: Recorded) -> None:
    pd.testing.assert_frame_equal(
        pd.DataFrame(got.rows), pd.DataFrame(expected.rows), check_exact=True
    )
    assert len(got.checkpoints) == len(expected.checkpoints) == 3
    for (u1, actor1, critic1, adam1), (u2, actor2, critic2, adam2) in zip(
        got.checkpoints, expected.checkpoints, strict=True
    ):
        assert u1 == u2
        for a, b in ((actor1, actor2), (critic1, critic2)):
            assert all(torch.equal(a[k], b[k]) for k in a)
        for s1, s2 in zip(adam1["state"].values(), adam2["state"].values(), strict=True):
            assert all(torch.equal(s1[k], s2[k]) for k in s1)


@pytest.fixture(scope="module")
def alone() -> list[Recorded]:
    runs = [Recorded(config(*m)) for m in MEMBERS]
    for run in runs:
        assert train_together([run.member]) == [None]
    return runs


def test_a_population_trains_every_run_bit_for_bit_as_alone(alone):
    together = [Recorded(config(*m)) for m in MEMBERS]
    assert train_together([r.member for r in together]) == [None] * len(MEMBERS)
    for got, expected in zip(together, alone, strict=True):
        assert_same(got, expected)


def test_a_diverging_member_leaves_and_the_others_finish_as_without_it(alone, monkeypatch):
    monkeypatch.setattr(pg.PGUpdate, "step", poisoned_step)
    together = [Recorded(config(*m)) for m in MEMBERS]
    outcomes = train_together([r.member for r in together])
    for m, outcome, got in zip(MEMBERS, outcomes, together, strict=True):
        if m[0] == "pg":
            assert isinstance(outcome, DivergenceError) and got.rows == []
        else:
            assert outcome is None
            assert_same(got, alone[MEMBERS.index(m)])


@pytest.mark.parametrize("width", [1, 3, 16])
def test_stacked_mlps_compute_each_members_own_activations_and_gradients(width):
    """Bit for bit the stack of each member alone, including a one-unit output layer
    (where a slice would take a matrix-vector kernel)."""
    torch.manual_seed(0)
    nets = [
        (ValueNet(11, (16, 16)).net if width == 1 else GaussianActor(11, width, (16, 16), 0.0).mean_net)
        for _ in range(5)
    ]  # fmt: skip
    own = [[p.detach() for p in net.parameters()] for net in nets]
    stacked = [torch.stack(ps) for ps in zip(*own, strict=True)]
    x, grad_out = torch.randn(5, 64, 11), torch.randn(5, 64, width)
    activations = tanh_mlp_forward(stacked, x)
    grads = tanh_mlp_backward(stacked, activations, grad_out)
    for m, params in enumerate(own):
        one = [p.unsqueeze(0) for p in params]
        alone_activations = tanh_mlp_forward(one, x[m : m + 1])
        alone_grads = tanh_mlp_backward(one, alone_activations, grad_out[m : m + 1])
        assert all(
            torch.equal(a[0], b[m]) for a, b in zip(alone_activations, activations, strict=True)
        )
        assert all(torch.equal(a[0], b[m]) for a, b in zip(alone_grads, grads, strict=True))


@pytest.mark.parametrize("size", [1, 2, 3, 5, "auto"])
def test_packing_puts_every_run_in_exactly_one_population_of_its_key(size):
    keys = ["a"] * 7 + ["b"] * 3 + ["a"] * 2 + ["c"]
    populations = pack(keys, size, workers=2)
    members = sorted(i for p in populations for i in p)
    assert members == list(range(len(keys)))  # none left out, none twice
    for population in populations:
        assert len({keys[i] for i in population}) == 1
        assert population == sorted(population)
        if size != "auto":
            assert len(population) <= size
    sizes = {}
    for population in populations:
        sizes.setdefault(keys[population[0]], []).append(len(population))
    assert all(max(s) - min(s) <= 1 for s in sizes.values())  # near-equal within a key


def test_auto_packing_keeps_every_worker_busy():
    assert [len(p) for p in pack(["a"] * 57, "auto", workers=2)] == [29, 28]
    assert (
        len(pack(["a"] * 100, "auto", workers=2)) == 4
    )  # at most MAX_POPULATION = 32 a population
    assert [len(p) for p in pack(["a"] * 3, "auto", workers=8)] == [1, 1, 1]


def population_command(out_dir, members: list[str]) -> list[str]:
    job = population_job([f"out_dir={out_dir}", "env=InvertedPendulum-v5", "total_steps=2048",
                          "train.horizon=128", "train.hidden=[8,8]", "train.value_epochs=2",
                          "checkpoints=16", "flush_every=1", "progress=false"],
                         [m.split() for m in members])  # fmt: skip
    return [sys.executable, "experiments/run.py", *job]


KILLED = ["algo=ppo epsilon=0.2 seed=1", "algo=trpo delta=0.01 seed=2", "algo=pg lr=0.01 seed=1"]


def test_a_killed_population_resumes_every_member_to_the_uninterrupted_result(tmp_path):
    whole = subprocess.run(population_command(tmp_path / "whole", KILLED), cwd=ROOT,
                           capture_output=True, text=True, timeout=300)  # fmt: skip
    assert whole.returncode == 0, whole.stderr[-2000:]
    killed = subprocess.Popen(population_command(tmp_path / "killed", KILLED), cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)  # fmt: skip
    deadline = time.time() + 120
    while time.time() < deadline:
        records = list((tmp_path / "killed" / "single").glob("*/checkpoints"))
        if len(records) == len(KILLED) and all(len(list(r.glob("*.pt"))) >= 3 for r in records):
            break
        time.sleep(0.1)
    os.killpg(killed.pid, signal.SIGKILL)
    killed.wait(timeout=60)
    statuses = [json.loads(p.read_text())["status"]
                for p in (tmp_path / "killed" / "single").glob("*/status.json")]  # fmt: skip
    assert statuses == ["running"] * len(KILLED)  # killed mid-run, every member
    resumed = subprocess.run(population_command(tmp_path / "killed", KILLED), cwd=ROOT,
                             capture_output=True, text=True, timeout=300)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert resumed.stdout.count("resuming after update") == len(KILLED)
    for record in (tmp_path / "whole" / "single").iterdir():
        expected = pd.read_parquet(record / "metrics.parquet").drop(columns=TIMING)
        again = tmp_path / "killed" / "single" / record.name
        got = pd.read_parquet(again / "metrics.parquet").drop(columns=TIMING)
        pd.testing.assert_frame_equal(got, expected, check_exact=True)
        status = json.loads((again / "status.json").read_text())
        assert status["status"] == "done" and status["population"] == len(KILLED)
        attempts = list((again / "wandb").glob("offline-run-*"))
        assert len({a.name.rsplit("-", 1)[1] for a in attempts}) == 1  # one W&B run, resumed


def test_runs_that_compile_are_one_population_and_the_others_another(tmp_path, monkeypatch):
    from experiments import attempt
    from experiments.spec import RunSpec
    from experiments.validate import compose_run_config

    calls = []

    def recorded(members, stop_requested, compiled):
        calls.append(([m.config.algo for m in members], compiled))
        return [None] * len(members)

    monkeypatch.setattr(attempt, "train_together", recorded)
    shared = [f"out_dir={tmp_path}", "env=InvertedPendulum-v5", "total_steps=256",
              "train.horizon=128", "train.hidden=[8,8]", "wandb.mode=disabled"]  # fmt: skip
    specs = [RunSpec.from_cfg(compose_run_config([*shared, *member.split()]))
             for member in ("algo=ppo compile=always", "algo=trpo", "algo=ppo seed=2 compile=always",
                            "algo=pg")]  # fmt: skip
    assert attempt.train_runs(specs, show_progress=False) == ["done"] * 4
    assert calls == [(["ppo", "ppo"], True), (["trpo", "pg"], False)]
    keys = {attempt.population_key(spec) for spec in specs}
    assert len(keys) == 2


COMPILED_MEMBERS = [
    ("ppo", {"epsilon": 0.2}, 1),
    (
        "ppo",
        {"epsilon": 0.5, "lr": 3e-3, "target_kl": 1e-4},
        2,
    ),  # stops early: a stack of one after
]


def test_a_compiled_population_trains_every_run_bit_for_bit_as_alone():
    """Compiled, each member steps as a stack of one, as it does alone: bit for bit."""
    alone = [Recorded(config(*m)) for m in COMPILED_MEMBERS]
    for run in alone:
        assert train_together([run.member], compiled=True) == [None]
    together = [Recorded(config(*m)) for m in COMPILED_MEMBERS]
    assert train_together([r.member for r in together], compiled=True) == [None, None]
    assert min(row["epochs_run"] for row in together[1].rows) < 10  # the early stop was taken
    for got, expected in zip(together, alone, strict=True):
        assert_same(got, expected)
