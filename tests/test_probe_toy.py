"""The probe's measurement against a task whose answer is known in closed form: a one-step
bandit where the expected return of a Gaussian policy N(μ, σ²) is −((μ − 1)² + σ²)."""

import pytest
import torch
from omegaconf import OmegaConf

from algos.policy import set_flat_params
from algos.train import TrainConfig, make_learner
from benchmarks.bandit import BANDIT, expected_return
from experiments.probe import candidate_updates, probe_checkpoint


@pytest.fixture(scope="module")
def toy_config() -> TrainConfig:
    return TrainConfig(env_id=BANDIT, seed=3, horizon=512, hidden=(8,), normalize_obs=False,
                       normalize_reward=True, algo="pg")  # fmt: skip


def probe_settings(**overrides):
    settings = {"episodes": 4000, "directions": ["vanilla", "natural", "ppo"],
                "targets": [0.01, 0.1, 0.5], "tolerance": 0.1, "ppo_epsilon": 0.2,
                "knobs": {"trpo_delta": [0.05]}, "seed": 0, "bootstrap": 500, "interval": "t"}  # fmt: skip
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
    for repeat in range(200):  # M = 10 episodes per arm: the bandit's returns are not skewed
        cfg = probe_settings(episodes=10, directions=[], knobs={}, seed=20 * repeat)
        (control,) = probe_checkpoint(toy_config, state, cfg)
        assert control["arm"] == "control"
        covered += control["return_change_ci_low"] <= 0.0 <= control["return_change_ci_high"]
    # 95% nominal: P(covered ≤ 180 of 200) ≈ 0.3% if the interval is right; the percentile
    # bootstrap (88% at M = 10, benchmarks/probe_coverage.py) would pass this only ~1 time in 9
    assert 181 <= covered <= 199
