"""The numpy inference path the collector uses is the torch actor's mean, and batches are sane."""

import gymnasium as gym
import numpy as np
import torch

from algos.policy import GaussianActor, ValueNet, gaussian_log_prob
from algos.rollout import NumpyActors, RolloutCollector


def test_numpy_actor_mean_equals_torch_actor_mean():
    torch.manual_seed(0)
    actor = GaussianActor(obs_dim=11, act_dim=3, hidden=(64, 64), init_log_std=-0.3)
    with torch.no_grad():
        actor.mean_net[-1].weight.mul_(100.0)
    obs = np.random.default_rng(0).normal(size=(32, 11)).astype(np.float32)
    with torch.no_grad():
        expected, log_std = actor(torch.from_numpy(obs))
    fast = NumpyActors([actor])  # a run's actor alone: a stack of one
    np.testing.assert_allclose(fast.mean(obs[None])[0], expected.numpy(), atol=1e-6, rtol=1e-6)
    np.testing.assert_allclose(fast.std[0, 0], log_std[0].exp().detach().numpy(), rtol=1e-6)


def test_collected_batch_log_probs_belong_to_the_acting_policy():
    torch.manual_seed(0)
    collector = RolloutCollector("InvertedPendulum-v5", 2, 64, 0, 0.99, 0.95, True, True)
    actor = GaussianActor(collector.obs_dim, collector.act_dim, (8,), 0.0)
    critic = ValueNet(collector.obs_dim, (8,))
    batch = collector.collect(actor, critic)
    collector.close()
    assert batch.steps == 128 and batch.obs.shape == (128, 4)
    with torch.no_grad():
        logp = gaussian_log_prob(*actor(batch.obs), batch.actions)
        torch.testing.assert_close(logp, batch.logp_old)
    assert abs(batch.advantages.mean().item()) < 1e-5
    assert len(batch.episode_returns) > 0
    # reward +1 per step that does not end in a fall
    assert np.all(batch.episode_returns >= batch.episode_lengths - 1)
    assert np.all(batch.episode_returns <= batch.episode_lengths)


def test_old_policy_in_the_batch_does_not_move_with_the_update():
    torch.manual_seed(0)
    collector = RolloutCollector("InvertedPendulum-v5", 1, 64, 0, 0.99, 0.95, True, True)
    actor = GaussianActor(collector.obs_dim, collector.act_dim, (8,), 0.0)
    batch = collector.collect(actor, ValueNet(collector.obs_dim, (8,)))
    collector.close()
    before = batch.log_std_old.clone(), batch.mean_old.clone()
    with torch.no_grad():
        actor.log_std.add_(0.5)
        actor.mean_net[0].bias.add_(1.0)
    assert torch.equal(batch.log_std_old, before[0]) and torch.equal(batch.mean_old, before[1])


class RecordingCritic(ValueNet):
    """A critic that keeps every batch of observations it is asked to value."""

    def __init__(self, obs_dim: int):
        super().__init__(obs_dim, (8,))
        self.seen: list[torch.Tensor] = []

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        self.seen.append(obs.clone())
        return super().forward(obs)


def test_collector_steps_like_a_plain_env_and_bootstraps_from_the_final_observation():
    """The collector's own env loop against gym.make replayed with the same (clipped)
    actions: same observations (a fresh episode right after an end, same-step autoreset),
    same episode returns and lengths, and the state valued after each step is the one that
    step reached, the final observation where an episode ended. (The batch keeps actions in
    float32, so the replay's physics differs from the run's in the last bits.)"""
    torch.manual_seed(0)
    collector = RolloutCollector("InvertedPendulum-v5", 2, 150, 7, 0.99, 0.95, False, False)
    actor = GaussianActor(collector.obs_dim, collector.act_dim, (8,), 1.0)
    critic = RecordingCritic(collector.obs_dim)
    batch = collector.collect(actor, critic)
    collector.close()
    obs = batch.obs.reshape(150, 2, -1).numpy()
    next_obs = critic.seen[1].reshape(150, 2, -1).numpy()
    actions = batch.actions.reshape(150, 2, -1).numpy()
    returns, lengths = [[], []], [[], []]
    for i in range(2):
        env = gym.make("InvertedPendulum-v5")
        expected, _ = env.reset(seed=7 + i)
        total, steps = 0.0, 0
        for t in range(150):
            np.testing.assert_allclose(obs[t, i], expected, atol=1e-5)
            expected, reward, terminated, truncated, _ = env.step(np.clip(actions[t, i], -3, 3))
            np.testing.assert_allclose(next_obs[t, i], expected, atol=1e-5)
            total, steps = total + reward, steps + 1
            if terminated or truncated:
                returns[i].append(total)
                lengths[i].append(steps)
                expected, _ = env.reset()
                total, steps = 0.0, 0
    assert len(returns[0]) + len(returns[1]) >= 5
    np.testing.assert_allclose(sorted(batch.episode_returns), sorted(returns[0] + returns[1]))
    assert sorted(batch.episode_lengths) == sorted(lengths[0] + lengths[1])
