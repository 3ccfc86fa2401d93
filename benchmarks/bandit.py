"""A task whose answer is known in closed form, for checking the probe's measurement: a
one-step bandit where a Gaussian policy N(μ, σ²) has expected return −((μ − 1)² + σ²).
Importing this module registers it as `ProbeBandit-v0`. A fixture of the probe's checks
(probe_coverage.py, tests/test_probe_toy.py), not a task the suite trains on."""

import gymnasium as gym
import numpy as np
import torch

BANDIT = "ProbeBandit-v0"


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
    """The closed-form expected return of the actor's policy on the bandit."""
    with torch.no_grad():
        mean, log_std = actor(torch.zeros(1, 1))
    return -((mean.item() - 1.0) ** 2 + torch.exp(2 * log_std).item())


if BANDIT not in gym.registry:
    gym.register(BANDIT, entry_point=OneStepBandit)
