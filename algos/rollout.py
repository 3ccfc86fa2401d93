"""Collecting a batch of experience and turning it into advantages: shared by PG, TRPO and PPO.

The collector steps its gymnasium envs with the current actor, computing the action
mean in numpy (`NumpyActors`, tested equal to the torch actor) so per-step inference costs
microseconds. After the rollout, one batched torch pass gives the old policy's
distribution, the log-probabilities of the actions taken and the critic's values.
"""

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch

from algos.envs import make_envs
from algos.kl import gaussian_kl
from algos.normalization import ObsNormalizer, RewardScaler, frozen_together, scale_together
from algos.policy import GaussianActor, ValueNet, gaussian_log_prob


@dataclass
class Batch:
    """One batch of on-policy data, flattened over (time, env). Tensors are float32."""

    obs: torch.Tensor  # (N, obs_dim) normalised observations, as the policy saw them
    actions: torch.Tensor  # (N, act_dim) sampled actions, before clipping to the action bounds
    logp_old: torch.Tensor  # (N,) log π_old(a|s)
    mean_old: torch.Tensor  # (N, act_dim) μ_old(s)
    log_std_old: torch.Tensor  # (N, act_dim) log σ_old(s)
    advantages: torch.Tensor  # (N,) GAE advantages, normalised to zero mean and unit std (a switch)
    returns: torch.Tensor  # (N,) value targets: raw GAE advantages + V(s)
    values: torch.Tensor  # (N,) V(s) before the critic's update
    episode_returns: np.ndarray  # undiscounted, unscaled returns of episodes that ended here
    episode_lengths: np.ndarray
    steps: int  # env steps in this batch
    # The whole batch's states as the policy that collects the next batch sees them: the
    # observation statistics updated with this batch (the same as `obs` when they are off).
    # With the actor's next parameters it gives the behavioural KL (algos.surrogate).
    obs_next: torch.Tensor | None = None
    # KL(π_old‖π_old under the updated statistics): the part of the behavioural KL the
    # normaliser alone makes, over this batch's states
    kl_normaliser: float = float("nan")

    def minibatches(self, size: int, generator: torch.Generator) -> list["Batch"]:
        """One shuffled pass over the batch in minibatches of `size`.

        The tensors are permuted once and sliced, rather than gathered per minibatch;
        the minibatches are those of `randperm(N).split(size)` all the same.
        """
        perm = torch.randperm(self.steps, generator=generator)
        parts = {name: getattr(self, name)[perm].split(size) for name in PER_SAMPLE_FIELDS}
        return [
            dataclasses.replace(self, steps=len(obs), **{k: v[i] for k, v in parts.items()})
            for i, obs in enumerate(parts["obs"])
        ]


PER_SAMPLE_FIELDS = (
    "obs", "actions", "logp_old", "mean_old", "log_std_old", "advantages", "returns", "values",
)  # fmt: skip


def gae(
    rewards: np.ndarray,
    values: np.ndarray,
    next_values: np.ndarray,
    terminated: np.ndarray,
    episode_ends: np.ndarray,
    gamma: float | np.ndarray,
    lam: float | np.ndarray,
) -> np.ndarray:
    """Generalised advantage estimation over (T, ...) arrays: (T, num_envs), or (T, runs,
    num_envs) with each run's γ and λ as (runs, 1) arrays.

    δ_t = r_t + γ (1 − terminated_t) V(s_{t+1}) − V(s_t)
    A_t = δ_t + γλ (1 − end_t) A_{t+1},   A_T = 0

    `next_values[t]` is V of the state actually reached after step t (the final observation
    when the episode ended there), so a time-limit truncation bootstraps from it while a
    true termination does not. `episode_ends` = terminated or truncated cuts the recursion.
    """
    not_terminal = 1.0 - terminated.astype(np.float64)
    deltas = rewards + gamma * not_terminal * next_values - values
    carry = gamma * lam * (1.0 - episode_ends.astype(np.float64))
    advantages = np.zeros_like(deltas, dtype=np.float64)
    running = np.zeros(deltas.shape[1:], dtype=np.float64)
    for t in range(deltas.shape[0] - 1, -1, -1):
        running = deltas[t] + carry[t] * running
        advantages[t] = running
    return advantages


class NumpyActors:
    """The means of actors of one shape (a population's, or a run's alone as a stack of
    one) in one stacked numpy forward with frozen float64 copies of their weights, so
    per-step inference costs microseconds (tested equal to the torch actor). np.matmul of
    stacks is the matmul of each slice, so every actor's mean is bit for bit its own."""

    def __init__(self, actors: list[GaussianActor]):
        layers = [[m for m in actor.mean_net if isinstance(m, torch.nn.Linear)] for actor in actors]
        self.weights = [np.stack([m.weight.detach().numpy().T.astype(np.float64) for m in ms])
                        for ms in zip(*layers, strict=True)]  # fmt: skip
        self.biases = [np.stack([m.bias.detach().numpy().astype(np.float64) for m in ms])[:, None, :]
                       for ms in zip(*layers, strict=True)]  # fmt: skip
        self.std = np.stack(
            [np.exp(actor.log_std.detach().numpy().astype(np.float64)) for actor in actors]
        )[:, None, :]

    def mean(self, obs: np.ndarray) -> np.ndarray:
        """(actors, n, obs_dim) -> (actors, n, act_dim)."""
        h = obs
        for w, b in zip(self.weights[:-1], self.biases[:-1], strict=True):
            h = np.tanh(h @ w + b)
        return h @ self.weights[-1] + self.biases[-1]


@dataclass
class Steps:
    """What one rollout of `horizon` steps on `num_envs` envs saw, as (T, num_envs, ...)."""

    raw_obs: np.ndarray
    raw_next_obs: np.ndarray  # the final observation where an episode ended
    actions: np.ndarray  # before clipping to the action bounds
    rewards: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    episode_returns: list[float]  # of the episodes that ended in this rollout
    episode_lengths: list[int]


class RolloutCollector:
    """Holds the envs, the normalisers and the episodes in progress between batches."""

    def __init__(
        self,
        env_id: str,
        num_envs: int,
        horizon: int,
        seed: int,
        gamma: float,
        lam: float,
        normalize_obs: bool,
        normalize_reward: bool,
        obs_clip: float | None = 10.0,
        normalize_advantages: bool = True,
        env_kwargs: dict | None = None,  # gym.make's keyword arguments
    ):
        self.envs = make_envs(env_id, num_envs, env_kwargs or {})
        self.num_envs = num_envs
        self.horizon = horizon
        self.gamma = gamma
        self.lam = lam
        self.obs_dim = int(np.prod(self.envs.observation_space.shape))
        self.act_dim = int(np.prod(self.envs.action_space.shape))
        self.act_low = self.envs.action_space.low
        self.act_high = self.envs.action_space.high
        self.obs_normalizer = ObsNormalizer(self.obs_dim, normalize_obs, obs_clip)
        self.normalize_advantages = normalize_advantages
        self.reward_scaler = RewardScaler(num_envs, gamma, normalize_reward)
        self.rng = np.random.default_rng(seed)
        # env i seeded seed + i, as gymnasium's vector envs do
        self.raw_obs = self.envs.reset([seed + i for i in range(num_envs)])
        self.running_return = np.zeros(num_envs)
        self.running_length = np.zeros(num_envs, dtype=np.int64)

    def collect(self, actor: GaussianActor, critic: ValueNet) -> Batch:
        return collect_together([self], [actor], [critic])[0]

    def close(self) -> None:
        self.envs.close()

    def state_dict(self) -> dict:
        """The episodes in progress: each env's state, the observation the next batch starts
        from, the returns and lengths so far (normalisers and RNG: the Learner's checkpoint)."""
        return {
            "envs": self.envs.state(),
            "raw_obs": self.raw_obs.copy(),
            "running_return": self.running_return.copy(),
            "running_length": self.running_length.copy(),
        }

    def load_state_dict(self, state: dict) -> bool:
        """Continue the saved episodes; False (fresh episodes kept) when an env cannot be
        restored (see algos.env_state)."""
        if any(s is None for s in state["envs"]):
            return False
        self.envs.set_state(state["envs"])
        self.raw_obs = state["raw_obs"].copy()
        self.running_return = state["running_return"].copy()
        self.running_length = state["running_length"].copy()
        return True


def collect_together(
    collectors: list[RolloutCollector], actors: list[GaussianActor], critics: list[ValueNet]
) -> list[Batch]:
    """One batch per run of a population (runs of one env and shape): their envs stepped as
    one (algos.envs), their policies' means in one stacked forward. Each run's batch is, bit
    for bit, the one its collector collects alone: its own envs, action noise, normaliser
    and episodes in progress."""
    first = collectors[0]
    M, T, n = len(collectors), first.horizon, first.num_envs
    policy = NumpyActors(actors)
    normalize = frozen_together([c.obs_normalizer for c in collectors])
    noise = np.stack([c.rng.standard_normal((T, n, c.act_dim)) for c in collectors])
    raw_obs, raw_next_obs = np.empty((2, M, T, n, first.obs_dim))
    actions_taken = np.empty((M, T, n, first.act_dim))
    rewards, (terminated, truncated) = np.empty((M, T, n)), np.empty((2, M, T, n), dtype=bool)
    rollouts = [
        Steps(raw_obs[m], raw_next_obs[m], actions_taken[m], rewards[m], terminated[m],
              truncated[m], [], [])
        for m in range(M)
    ]  # fmt: skip
    running_return = np.stack([c.running_return for c in collectors])
    running_length = np.stack([c.running_length for c in collectors])
    observations = np.stack([c.raw_obs for c in collectors])
    low, high = first.act_low, first.act_high
    envs = type(first.envs).together([c.envs for c in collectors])
    try:
        for t in range(T):
            actions = policy.mean(normalize(observations)) + policy.std * noise[:, t]
            clipped = np.minimum(np.maximum(actions, low), high)  # np.clip's result, cheaper
            reached, reward, term, trunc = envs.step(clipped.reshape(M * n, -1))
            raw_obs[:, t], actions_taken[:, t] = observations, actions
            raw_next_obs[:, t] = observations = reached.reshape(M, n, -1)
            reward = reward.reshape(M, n)
            rewards[:, t], terminated[:, t], truncated[:, t] = (
                reward, term.reshape(M, n), trunc.reshape(M, n))  # fmt: skip
            running_return += reward
            running_length += 1
            ended = term | trunc
            if not ended.any():
                continue
            for m, i in (divmod(k, n) for k in np.flatnonzero(ended)):
                rollouts[m].episode_returns.append(running_return[m, i])
                rollouts[m].episode_lengths.append(running_length[m, i])
                running_return[m, i], running_length[m, i] = 0.0, 0
                observations[m, i] = envs.reset(m * n + i)
    finally:
        envs.finish()
    for m, collector in enumerate(collectors):
        collector.raw_obs = observations[m].copy()
        collector.running_return = running_return[m].copy()
        collector.running_length = running_length[m].copy()
    return batches_together(collectors, actors, critics, rollouts)


def batches_together(
    collectors: list[RolloutCollector],
    actors: list[GaussianActor],
    critics: list[ValueNet],
    rollouts: list[Steps],
) -> list[Batch]:
    """Each run's batch of its rollout: the old policy's distribution and the critic's
    values in one torch pass per run, rewards scaled, observation statistics updated, GAE.
    The reward scaling's and GAE's recursions over time are stepped once for all runs, on
    (time, run, env) arrays: elementwise, so each run's numbers are those of its own."""
    first = collectors[0]
    T, n = first.horizon, first.num_envs
    passes = []
    for collector, actor, critic, steps in zip(collectors, actors, critics, rollouts, strict=True):
        normalize = collector.obs_normalizer.frozen()
        obs = torch.from_numpy(normalize(steps.raw_obs)).reshape(T * n, -1)
        actions = torch.from_numpy(steps.actions.astype(np.float32)).reshape(T * n, -1)
        with torch.no_grad():
            mean_old, log_std_old = actor.frozen(obs)
            passes.append({
                "obs": obs, "actions": actions, "mean_old": mean_old, "log_std_old": log_std_old,
                "logp_old": gaussian_log_prob(mean_old, log_std_old, actions),
                "values": critic(obs),
                "next_values": critic(torch.from_numpy(normalize(steps.raw_next_obs)).reshape(T * n, -1)),
            })  # fmt: skip
    terminated = np.stack([steps.terminated for steps in rollouts], axis=1)
    episode_ends = terminated | np.stack([steps.truncated for steps in rollouts], axis=1)
    rewards = np.stack([steps.rewards for steps in rollouts], axis=1)
    scaled = scale_together([c.reward_scaler for c in collectors], rewards, episode_ends)
    advantages = gae(
        scaled,
        np.stack([p["values"].numpy().reshape(T, n).astype(np.float64) for p in passes], axis=1),
        np.stack([p["next_values"].numpy().reshape(T, n).astype(np.float64) for p in passes], axis=1),
        terminated,
        episode_ends,
        np.array([[c.gamma] for c in collectors]),
        np.array([[c.lam] for c in collectors]),
    )  # fmt: skip
    batches = []
    for m, (collector, actor, steps, made) in enumerate(
        zip(collectors, actors, rollouts, passes, strict=True)
    ):
        collector.obs_normalizer.update(steps.raw_obs)
        obs_next = torch.from_numpy(collector.obs_normalizer.frozen()(steps.raw_obs)).reshape(
            T * n, -1
        )
        with torch.no_grad():
            kl_normaliser = (
                gaussian_kl(made["mean_old"], made["log_std_old"], *actor(obs_next)).mean().item()
            )
        own = advantages[:, m].reshape(-1)
        returns = own + made["values"].numpy().astype(np.float64)
        normalized = (
            (own - own.mean()) / (own.std() + 1e-8) if collector.normalize_advantages else own
        )
        batches.append(Batch(
            **{k: made[k] for k in ("obs", "actions", "logp_old", "mean_old", "log_std_old", "values")},
            advantages=torch.from_numpy(normalized.astype(np.float32)),
            returns=torch.from_numpy(returns.astype(np.float32)),
            episode_returns=np.asarray(steps.episode_returns),
            episode_lengths=np.asarray(steps.episode_lengths),
            steps=T * n,
            obs_next=obs_next,
            kl_normaliser=kl_normaliser,
        ))  # fmt: skip
    return batches


def evaluate(
    actor: GaussianActor, obs_normalizer: ObsNormalizer, env_id: str, episodes: int, seed: int,
    **make_kwargs,
) -> float:  # fmt: skip
    """Mean return of `episodes` episodes acting with the deterministic (mean) action, in an
    env made with `make_kwargs` (the run's env_kwargs)."""
    returns, _ = episode_returns(actor, obs_normalizer, env_id, episodes, seed, stochastic=False,
                                 **make_kwargs)  # fmt: skip
    return float(np.mean(returns))


def episode_returns(
    actor: GaussianActor,
    obs_normalizer: ObsNormalizer,
    env_id: str,
    episodes: int,
    seed: int,
    stochastic: bool,
    watch: Callable[[int, int, gym.Env], None] | None = None,
    **make_kwargs,
) -> tuple[np.ndarray, np.ndarray]:
    """Returns and lengths of `episodes` episodes, episode k reset with seed + k and, when
    `stochastic`, its action noise drawn from its own generator seeded seed + k: two
    policies evaluated with the same seed see the same starts and the same noise (common
    random numbers), so their difference is not blurred by the environment's luck.

    The episodes run side by side, each in an env of its own (algos.envs: one batched
    step for all where the task is simulated), each env stepped until its episode ends.
    Episode k's numbers are those it has played alone: its policy mean is the actor's
    matrix product broadcast over the episodes, slice by slice the product of one.

    `watch(k, t, env)` is called at the start of episode k (t = 0) and after each of its
    steps t, with episode k's gymnasium env made with `make_kwargs` (render_mode="rgb_array"
    to film it): what it sees is the episode the returns count, step for step."""
    policy, normalize = NumpyActors([actor]), obs_normalizer.frozen()
    envs = make_envs(env_id, episodes, make_kwargs, simulate=watch is None)
    low, high = envs.action_space.low, envs.action_space.high
    noise = [np.random.default_rng(seed + k) for k in range(episodes)]
    returns, lengths = np.zeros(episodes), np.zeros(episodes, dtype=np.int64)
    try:
        obs = envs.reset([seed + k for k in range(episodes)])
        stepper = type(envs).together([envs])
        playing = np.arange(episodes)
        if watch is not None:
            for k in playing:
                watch(k, 0, envs.envs[k])
        while len(playing):
            actions = policy.mean(normalize(obs[playing, None]))[:, 0]
            if stochastic:
                actions = actions + policy.std[0] * np.stack(
                    [noise[k].standard_normal(actions.shape[1]) for k in playing]
                )
            reached, rewards, terminated, truncated = stepper.step(
                np.minimum(np.maximum(actions, low), high), playing
            )
            obs[playing] = reached
            returns[playing] += rewards
            lengths[playing] += 1
            if watch is not None:
                for k in playing:
                    watch(k, int(lengths[k]), envs.envs[k])
            playing = playing[~(terminated | truncated)]
    finally:
        envs.close()  # a rendering env left open prints a traceback from its destructor at exit
    return returns, lengths
