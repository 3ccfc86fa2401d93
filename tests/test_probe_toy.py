"""The probe's measurement against a task whose answer is known in closed form: a one-step
bandit where the expected return of a Gaussian policy N(μ, σ²) is −((μ − 1)² + σ²)."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from algos.policy import set_flat_params
from algos.train import TrainConfig, make_learner
from experiments.probe import candidate_updates, probe_checkpoint

TOY = "ProbeBandit-v0"


class OneStepBandit(gym.Env):
    """Observe 0, act a, receive −(a − 1)², done: E[R] = −((μ − 1)² + σ²) under N(μ, σ²)."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
    action_space = gym.spaces.Box(-20.0, 20.0, (1,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(1, np.float32), {}

    def step(self, action):
        return np.zeros(1, np.float32), -float((action[0] - 1.0) ** 2), True, False, {}


def expected_return(actor) -> float:
    with torch.no_grad():
        mean, log_std = actor(torch.zeros(1, 1))
    return -((mean.item() - 1.0) ** 2 + torch.exp(2 * log_std).item())


@pytest.fixture(scope="module")
def toy_config() -> TrainConfig:
    if TOY not in gym.registry:
        gym.register(TOY, entry_point=OneStepBandit)
    return TrainConfig(env_id=TOY, seed=3, horizon=512, hidden=(8,), normalize_obs=False,
                       normalize_reward=True, algo="pg")  # fmt: skip


def probe_settings(**overrides):
    settings = {"episodes": 4000, "directions": ["vanilla", "natural", "ppo"],
                "targets": [0.01, 0.1, 0.5], "tolerance": 0.1, "ppo_epsilon": 0.2,
                "knobs": {"trpo_delta": [0.05]}, "seed": 0, "bootstrap": 500}  # fmt: skip
    return OmegaConf.create(settings | overrides)


def test_measured_and_predicted_return_changes_match_the_analytic_change(toy_config):
    cfg = probe_settings()
    state = make_learner(toy_config).state_dict(0, 0)
    rows = probe_checkpoint(toy_config, state, cfg)
    # the same checkpoint and seed give the same batch, so the same updated parameters
    learner = make_learner(toy_config)
    learner.warm_start(state)
    batch = learner.collector.collect(learner.actor, learner.critic)
    before = expected_return(learner.actor)
    theta = torch.nn.utils.parameters_to_vector(learner.actor.parameters()).detach()
    checked = 0
    for (label, theta_new), row in zip(candidate_updates(learner.actor, batch, cfg, 3), rows[1:],
                                       strict=True):  # fmt: skip
        assert row["arm"] == label["arm"]
        set_flat_params(learner.actor, theta_new)
        analytic = expected_return(learner.actor) - before
        set_flat_params(learner.actor, theta)
        assert row["return_change_ci_low"] <= analytic <= row["return_change_ci_high"], (
            row,
            analytic,
        )
        if row["target_kl"] == cfg.targets[0]:  # where the local approximation holds
            # one step: the surrogate's prediction, un-normalised and un-scaled to reward units,
            # is an importance-sampling estimate of the same change
            assert row["predicted_change"] == pytest.approx(analytic, rel=0.15)
        checked += 1
    assert checked == 3 * 3 + 1
    # the updates moved the policy enough that the check has teeth: the largest KL's change
    # is far outside the interval of the smallest's
    natural = [r for r in rows if r["arm"] == "natural"]
    assert abs(natural[-1]["return_change"] - natural[0]["return_change"]) > 5 * (
        natural[0]["return_change_ci_high"] - natural[0]["return_change_ci_low"]
    )


def test_the_controls_interval_covers_zero_as_often_as_a_95_percent_interval_should(toy_config):
    state = make_learner(toy_config).state_dict(0, 0)
    covered = 0
    for seed in range(20):
        cfg = probe_settings(episodes=100, directions=[], knobs={}, seed=1000 * seed)
        (control,) = probe_checkpoint(toy_config, state, cfg)
        assert control["arm"] == "control"
        covered += control["return_change_ci_low"] <= 0.0 <= control["return_change_ci_high"]
    assert covered >= 16  # 95% nominal: P(covered ≤ 15 of 20) < 0.3% if the interval is right
