"""Learning checks (slow: minutes each; `make test-slow`). Thresholds from the issues."""

import numpy as np
import pytest
import torch

from algos.train import TrainConfig, train

pytestmark = pytest.mark.slow


def run(**kwargs) -> list[dict]:
    torch.set_num_threads(1)
    rows: list[dict] = []
    train(TrainConfig(**kwargs), rows.append)
    return rows


def test_ppo_solves_inverted_pendulum_in_30k_steps():
    rows = run(env_id="InvertedPendulum-v5", total_steps=30_000, algo="ppo")
    assert rows[-1]["return_mean"] >= 500


def test_trpo_solves_inverted_pendulum_in_50k_steps():
    rows = run(env_id="InvertedPendulum-v5", total_steps=50_000, algo="trpo")
    assert rows[-1]["return_mean"] >= 500


def test_pg_learns_inverted_pendulum_at_its_default_lr():
    rows = run(env_id="InvertedPendulum-v5", total_steps=50_000, algo="pg")
    first, last = rows[0]["return_mean"], np.mean([r["return_mean"] for r in rows[-3:]])
    assert last > 5 * first


@pytest.mark.parametrize("delta", [0.001, 0.01, 0.1])
def test_trpo_every_update_of_a_hopper_run_stays_within_delta(delta):
    rows = run(env_id="Hopper-v5", total_steps=40_960, algo="trpo", algo_params={"delta": delta})
    assert max(r["kl_mean"] for r in rows) <= delta
