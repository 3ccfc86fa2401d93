"""Checkpoints and warm starts: what a checkpoint holds, that it survives the file round
trip, and that warm-started runs share one starting policy trained once."""

import dataclasses

import numpy as np
import torch

from algos.train import TrainConfig, checkpoint_updates, make_learner, train
from experiments.run import run
from experiments.validate import compose_run_config
from records.record import Record, records_under
from records.store import RunRecord, load_checkpoint

TINY = TrainConfig(env_id="InvertedPendulum-v5", total_steps=256, horizon=64, hidden=(8,),
                   value_epochs=1, algo="ppo", algo_params={"epsilon": 0.2, "epochs": 1})  # fmt: skip
TINY_ARGS = ["env=InvertedPendulum-v5", "train.horizon=64", "train.hidden=[8]", "train.value_epochs=1",
             "total_steps=128", "wandb.mode=disabled", "warm_start.algo=ppo",
             "warm_start.total_steps=256", "progress=false"]  # fmt: skip


def test_checkpoints_are_spread_evenly_and_always_include_the_last_update():
    assert checkpoint_updates(100, 10) == set(range(10, 101, 10))
    assert checkpoint_updates(7, 10) == set(range(1, 8))
    assert checkpoint_updates(50, 0) == set()


def test_checkpoint_holds_the_full_training_state_and_survives_the_file_round_trip(tmp_path):
    saved = {}
    train(TINY, lambda row: None, checkpoints=2, on_checkpoint=lambda k, s: saved.update({k: s}))
    assert sorted(saved) == [2, 4]
    state = saved[4]
    assert state["update"] == 4 and state["step"] == 256
    assert {"actor", "critic", "obs_normalizer", "reward_scaler", "policy_optimizer",
            "value_optimizer", "rng"} <= set(state)  # fmt: skip
    record = RunRecord(tmp_path / "run")
    record.dir.mkdir()
    record.save_checkpoint(4, state)
    assert record.last_checkpoint().name == "update_4.pt"
    loaded = load_checkpoint(record.last_checkpoint())
    for name, tensor in state["actor"].items():
        assert torch.equal(loaded["actor"][name], tensor)
    np.testing.assert_array_equal(loaded["obs_normalizer"]["mean"], state["obs_normalizer"]["mean"])
    assert loaded["rng"]["collector"] == state["rng"]["collector"]


def test_warm_start_loads_the_policy_critic_and_normalisers_into_another_algo():
    saved = {}
    train(TINY, lambda row: None, checkpoints=1, on_checkpoint=lambda k, s: saved.update(s=s))
    other = make_learner(dataclasses.replace(TINY, algo="trpo", algo_params={}, seed=5))
    other.warm_start(saved["s"])
    for name, tensor in saved["s"]["actor"].items():
        assert torch.equal(other.actor.state_dict()[name], tensor)
    for name, tensor in saved["s"]["critic"].items():
        assert torch.equal(other.critic.state_dict()[name], tensor)
    stats = other.collector.obs_normalizer.stats
    np.testing.assert_array_equal(stats.mean, saved["s"]["obs_normalizer"]["mean"])
    assert stats.count == saved["s"]["obs_normalizer"]["count"]


def test_warm_started_runs_share_one_starting_policy_trained_once(tmp_path):
    statuses = [
        run(compose_run_config([*args, *TINY_ARGS, f"out_dir={tmp_path}"]), False)
        for args in (["algo=pg", "lr=0.01"], ["algo=trpo", "delta=0.05"])
    ]
    assert statuses == ["done", "done"]
    (pretrain,) = (tmp_path / "pretrain").iterdir()
    assert pretrain.name.startswith("ppo-InvertedPendulum-v5-epsilon0.2-s0-")
    first_return = float(Record(pretrain).metrics()["return_mean"].iloc[0])
    for record in records_under(tmp_path / "single"):
        config = record.config
        assert config["warm_start_run"] == pretrain.name
        assert config["baseline_return"] == first_return
        assert 1 <= len(config["history_returns"]) <= 10
        assert record.checkpoint_dir.is_dir()
