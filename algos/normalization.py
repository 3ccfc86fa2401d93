"""Running mean/variance for observation normalisation and return-based reward scaling.

Statistics are updated once per batch, after it was collected, so the policy that acted
during a rollout is one fixed function of the raw observation: π_old is exactly the
distribution the actions were drawn from, which the KL measurements rely on.
"""

from collections.abc import Callable

import numpy as np


class RunningMeanStd:
    """Mean and variance over all samples seen, merged batch-wise (Chan et al.)."""

    def __init__(self, shape: tuple[int, ...] = ()):
        self.mean = np.zeros(shape, dtype=np.float64)
        self.var = np.ones(shape, dtype=np.float64)
        self.count = 1e-4

    def update(self, samples: np.ndarray) -> None:
        batch_mean = samples.mean(axis=0)
        batch_var = samples.var(axis=0)
        batch_count = samples.shape[0]
        delta = batch_mean - self.mean
        total = self.count + batch_count
        self.mean = self.mean + delta * batch_count / total
        m2 = (
            self.var * self.count
            + batch_var * batch_count
            + delta**2 * self.count * batch_count / total
        )
        self.var = m2 / total
        self.count = total

    def state_dict(self) -> dict:
        return {"mean": self.mean.copy(), "var": self.var.copy(), "count": self.count}

    def load_state_dict(self, state: dict) -> None:
        self.mean, self.var, self.count = state["mean"].copy(), state["var"].copy(), state["count"]


class ObsNormalizer:
    """(obs − mean) / std, clipped to ±clip (None: not clipped); identity when disabled."""

    def __init__(self, obs_dim: int, enabled: bool, clip: float | None = 10.0):
        self.enabled = enabled
        self.clip = clip
        self.stats = RunningMeanStd((obs_dim,))

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        return self.frozen()(obs)

    def frozen(self) -> Callable[[np.ndarray], np.ndarray]:
        """This normaliser as a fixed function of the observation, its statistics read once:
        the rollout calls it every step and the statistics change only between batches."""
        if not self.enabled:
            return as_float32
        return normalize_with(self.stats.mean, np.sqrt(self.stats.var + 1e-8), self.clip)

    def update(self, raw_obs: np.ndarray) -> None:
        if self.enabled:
            self.stats.update(raw_obs.reshape(-1, raw_obs.shape[-1]))

    def state_dict(self) -> dict:
        return self.stats.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.stats.load_state_dict(state)


def as_float32(obs: np.ndarray) -> np.ndarray:
    return obs.astype(np.float32)


def normalize_with(
    mean: np.ndarray, std: np.ndarray, clip: float | None
) -> Callable[[np.ndarray], np.ndarray]:
    if clip is None:
        return lambda obs: ((obs - mean) / std).astype(np.float32)
    low, high = -clip, clip
    # minimum/maximum: np.clip's result with less overhead per call, NaN passed on alike
    return lambda obs: np.minimum(np.maximum((obs - mean) / std, low), high).astype(np.float32)


def frozen_together(normalizers: list[ObsNormalizer]) -> Callable[[np.ndarray], np.ndarray]:
    """Members' normalisers as one function of their stacked observations (members, n,
    obs_dim): elementwise operations on stacked statistics, so each member's rows are bit
    for bit its own `frozen()`'s, in one call for the population."""
    first = normalizers[0]
    if any((n.enabled, n.clip) != (first.enabled, first.clip) for n in normalizers):
        functions = [n.frozen() for n in normalizers]
        return lambda obs: np.stack([f(o) for f, o in zip(functions, obs, strict=True)])
    if not first.enabled:
        return as_float32
    mean = np.stack([n.stats.mean for n in normalizers])[:, None]
    std = np.stack([np.sqrt(n.stats.var + 1e-8) for n in normalizers])[:, None]
    return normalize_with(mean, std, first.clip)


class RewardScaler:
    """Divides rewards by the running std of the discounted return (as gymnasium's
    NormalizeReward); `scale_together` scales a rollout's rewards, updating it first.

    The returns' scale only changes the critic's regression target and the advantages'
    scale before their per-batch normalisation; it does not change which policy is optimal.
    """

    def __init__(self, num_envs: int, gamma: float, enabled: bool):
        self.enabled = enabled
        self.gamma = gamma
        self.stats = RunningMeanStd(())
        self.discounted = np.zeros(num_envs, dtype=np.float64)

    @property
    def std(self) -> float:
        """What a reward is divided by: one scaled reward unit is this many raw ones."""
        return float(np.sqrt(self.stats.var + 1e-8)) if self.enabled else 1.0

    def state_dict(self) -> dict:
        return {"stats": self.stats.state_dict(), "discounted": self.discounted.copy()}

    def load_state_dict(self, state: dict) -> None:
        self.stats.load_state_dict(state["stats"])
        self.discounted = state["discounted"].copy()


def scale_together(
    scalers: list[RewardScaler], rewards: np.ndarray, dones: np.ndarray
) -> np.ndarray:
    """Each run's `scale` of its block of a (T, runs, num_envs) array: the discounted
    returns' recursion stepped once for all runs that scale (elementwise: each run's
    numbers its own), then each one's statistics updated with its own returns."""
    scaled = rewards.astype(np.float32)  # a run that does not scale: its rewards as they are
    on = [m for m, s in enumerate(scalers) if s.enabled]
    if not on:
        return scaled
    gamma = np.array([[scalers[m].gamma] for m in on])
    discounted = np.stack([scalers[m].discounted for m in on])
    own_rewards, own_dones = rewards[:, on], dones[:, on]
    returns = np.empty_like(own_rewards, dtype=np.float64)
    for t in range(rewards.shape[0]):
        discounted = discounted * gamma + own_rewards[t]
        returns[t] = discounted
        discounted[own_dones[t]] = 0.0
    for i, m in enumerate(on):
        scaler = scalers[m]
        scaler.discounted = discounted[i].copy()
        scaler.stats.update(returns[:, i].reshape(-1))
        scaled[:, m] = (rewards[:, m] / scaler.std).astype(np.float32)
    return scaled
