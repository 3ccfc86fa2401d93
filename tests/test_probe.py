"""The one-update probe end to end on a tiny run's checkpoint: its CSV, the KLs it reached,
and a checkpoint that evaluates like the policy it was saved from."""

import numpy as np
import pandas as pd
import pytest
import torch

from algos.rollout import episode_returns
from algos.train import make_learner, train
from experiments.probe import main as probe_main
from experiments.record import load_checkpoint
from experiments.run import CONF_DIR, run
from experiments.validate import compose_run_config, train_config
from tests.conftest import ROOT

TINY = ["algo=ppo", "env=InvertedPendulum-v5", "train.horizon=128", "train.hidden=[8]",
        "train.value_epochs=1", "total_steps=512", "wandb.mode=disabled", "progress=false",
        "checkpoints=2"]  # fmt: skip


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("probe")
    assert run(compose_run_config(CONF_DIR, [*TINY, f"out_dir={out}"]), False) == "done"
    (record,) = (out / "single").iterdir()
    return record


def test_probe_writes_one_row_per_checkpoint_and_arm_at_the_target_kls(tiny_run, monkeypatch):
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr("sys.argv", ["probe", f"run={tiny_run}", "checkpoints=all", "episodes=2",
                                     "targets=[0.01,1.0]", "bootstrap=100"])  # fmt: skip
    probe_main()
    table = pd.read_csv(tiny_run / "probe" / "probe.csv")
    assert len(table) == 2 * (1 + 3 * 2)  # 2 checkpoints × (control + 3 directions × 2 KLs)
    assert {"checkpoint", "arm", "target_kl", "kl_mean", "return_change", "return_change_ci_low",
            "return_change_ci_high", "predicted_change"} <= set(table.columns)  # fmt: skip
    control = table[table["arm"] == "control"]
    assert control["target_kl"].isna().all() and (control["return_change"] == 0).all()
    moved = table[table["arm"] != "control"]
    assert set(moved["arm"]) == {"vanilla", "natural", "ppo"}
    assert (abs(moved["kl_mean"] / moved["target_kl"] - 1) <= 0.1).all()
    assert (moved["return_change_ci_low"] <= moved["return_change"]).all()
    assert (moved["return_change"] <= moved["return_change_ci_high"]).all()


def test_a_checkpoint_read_back_from_disk_evaluates_like_the_state_in_memory(tmp_path):
    config = train_config(compose_run_config(CONF_DIR, TINY))
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
