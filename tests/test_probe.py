"""The one-update probe end to end on a tiny run's checkpoint: its CSV, the KLs it reached,
and a checkpoint that evaluates like the policy it was saved from."""

import numpy as np
import pandas as pd
import pytest
import torch

from algos.rollout import episode_returns
from algos.train import make_learner, train
from experiments.probe import main as probe_main
from experiments.run import run
from experiments.spec import RunSpec
from experiments.validate import compose_run_config
from records.store import load_checkpoint
from tests.conftest import run_cli

TINY = ["algo=ppo", "env=InvertedPendulum-v5", "train.horizon=128", "train.hidden=[8]",
        "train.value_epochs=1", "total_steps=512", "wandb.mode=disabled", "progress=false",
        "checkpoints=2"]  # fmt: skip


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("probe")
    assert run(compose_run_config([*TINY, f"out_dir={out}"]), False) == "done"
    (record,) = (out / "single").iterdir()
    return record


SMALL = ["episodes=2", "targets=[0.01,1.0]", "bootstrap=100", "jobs=1",
         "knobs.pg_lr=[]", "knobs.pg_sgd_lr=[]", "knobs.trpo_delta=[0.01]",
         "knobs.ppo_epsilon=[none]", "knobs.npg_delta=[0.01]", "knobs.ppo_target_kl=[0.001]"]  # fmt: skip


def probe_with(monkeypatch, *overrides: str) -> None:
    run_cli(probe_main, monkeypatch, *overrides)


def test_probe_writes_one_row_per_checkpoint_and_arm_at_the_target_kls(tiny_run, monkeypatch):
    probe_with(monkeypatch, f"run={tiny_run}", "checkpoints=all", *SMALL)
    table = pd.read_csv(tiny_run / "probe" / "probe.csv", dtype={"knob_value": str})
    assert len(table) == 2 * (1 + 3 * 2 + 4)  # 2 checkpoints × (control + 3 × 2 KLs + 4 knobs)
    assert {"checkpoint", "arm", "target_kl", "kl_mean", "return_change", "return_change_ci_low",
            "return_change_ci_high", "predicted_change"} <= set(table.columns)  # fmt: skip
    control = table[table["arm"] == "control"]
    assert control["target_kl"].isna().all() and (control["kl_mean"] == 0).all()
    knobs = table[table["knob_value"].notna()]
    assert list(knobs["arm"] + " " + knobs["knob_value"]) == 2 * [
        "trpo_delta 0.01",
        "npg_delta 0.01",
        "ppo_epsilon none",
        "ppo_target_kl 0.001",
    ]
    assert (knobs.loc[knobs["arm"] == "trpo_delta", "kl_mean"] <= 0.01).all()  # TRPO's own bound
    moved = table[table["target_kl"].notna()]
    assert set(moved["arm"]) == {"vanilla", "natural", "ppo"}
    assert (abs(moved["kl_mean"] / moved["target_kl"] - 1) <= 0.1).all()
    assert (table["return_change_ci_low"] <= table["return_change"]).all()
    assert (table["return_change"] <= table["return_change_ci_high"]).all()


def test_a_checkpoint_read_back_from_disk_evaluates_like_the_state_in_memory(tmp_path):
    config = RunSpec.from_cfg(compose_run_config(TINY)).config
    saved = {}
    train(config, lambda row: None, checkpoints=1, on_checkpoint=lambda k, s: saved.update(s=s))
    torch.save(saved["s"], tmp_path / "update_4.pt")
    in_memory, from_disk = make_learner(config), make_learner(config)
    in_memory.warm_start(saved["s"])
    from_disk.warm_start(load_checkpoint(tmp_path / "update_4.pt"))
    args = (config.env_id, 3, 0, True)
    expected, _ = episode_returns(in_memory.actor, in_memory.collector.obs_normalizer, *args)
    actual, _ = episode_returns(from_disk.actor, from_disk.collector.obs_normalizer, *args)
    np.testing.assert_array_equal(actual, expected)


def test_a_sweep_probe_takes_its_done_runs_and_a_rerun_with_the_same_settings_skips_them(
    tiny_run, monkeypatch, capsys
):
    out_dir, sweep = tiny_run.parent.parent, tiny_run.parent.name
    args = [f"sweep={sweep}", f"out_dir={out_dir}", "select=done", "checkpoints=1", *SMALL]
    probe_with(monkeypatch, *args)
    written = tiny_run / "probe" / "probe.csv"
    first = written.read_bytes()
    assert set(pd.read_csv(written)["checkpoint"]) == {"update_4"}  # the last 1
    capsys.readouterr()
    probe_with(monkeypatch, *args)
    assert "1 of 1 runs already probed" in capsys.readouterr().out
    assert written.read_bytes() == first


@pytest.mark.parametrize(
    "bad, message",
    [
        (["run=/nonexistent"], "is not a run record"),
        (["sweep=nosuch", "out_dir=/tmp"], "no sweep nosuch"),
        ([], "give run=<run dir> or sweep=<name>"),
        (["run=RUN", "directions=[sideways]"], "unknown direction sideways; allowed: vanilla"),
        (["run=RUN", "+knobs.pg_momentum=[0.9]"], "unknown knob pg_momentum; allowed: pg_lr"),
        (["run=RUN", "knobs.trpo_delta=[none]"], "knobs.trpo_delta"),
        (["run=RUN", "checkpoints=first"], "checkpoints=first; allowed: last, all, or a count"),
    ],
)
def test_bad_probe_settings_are_one_line_errors(tiny_run, monkeypatch, capsys, bad, message):
    bad = [b.replace("RUN", str(tiny_run)) for b in bad]
    capsys.readouterr()
    with pytest.raises(SystemExit) as error:
        probe_with(monkeypatch, *bad)
    stderr = capsys.readouterr().err
    assert error.value.code == 2  # as a run's and the report's bad settings
    assert message in stderr and stderr.count("\n") == 1
