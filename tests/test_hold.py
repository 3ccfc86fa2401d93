"""The zero-dose control: the actor never moves, its KL is exactly 0, the critic learns."""

import numpy as np
import torch

from algos.train import TrainConfig, make_learner, train


def test_zero_dose_rule_keeps_the_actor_bit_unchanged_while_the_critic_learns():
    config = TrainConfig(env_id="InvertedPendulum-v5", total_steps=4096, horizon=256, hidden=(16,),
                         value_epochs=5, algo="hold", algo_params={"lr": 0.0})  # fmt: skip
    rows, saved = [], {}
    train(config, rows.append, checkpoints=1, on_checkpoint=lambda k, s: saved.update(s))
    assert len(rows) == 16
    assert all(row["kl_mean"] == 0.0 and row["step_norm"] == 0.0 for row in rows)
    initial = make_learner(config)
    assert all(torch.equal(saved["actor"][k], v) for k, v in initial.actor.state_dict().items())
    assert any(
        not torch.equal(saved["critic"][k], v) for k, v in initial.critic.state_dict().items()
    )
    value_loss = [row["value_loss"] for row in rows]
    assert np.mean(value_loss[-4:]) < 0.8 * np.mean(value_loss[:2])  # the critic fits the returns
    assert all(np.isfinite(row["grad_norm"]) and row["grad_norm"] > 0 for row in rows)
