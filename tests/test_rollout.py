"""The numpy inference path the collector uses is the torch actor's mean, and batches are sane."""

import gymnasium as gym
import numpy as np
import torch

from algos.policy import GaussianActor, ValueNet
from algos.rollout import NumpyActor, RolloutCollector, make_envs


def test_numpy_actor_mean_equals_torch_actor_mean():
    torch.manual_seed(0)
    actor = GaussianActor(obs_dim=11, act_dim=3, hidden=(64, 64), init_log_std=-0.3)
    with torch.no_grad():
        actor.mean_net[-1].weight.mul_(100.0)
    obs = np.random.default_rng(0).normal(size=(32, 11)).astype(np.float32)
    with torch.no_grad():
        expected, log_std = actor(torch.from_numpy(obs))
    fast = NumpyActor(actor)
    np.testing.assert_allclose(fast.mean(obs), expected.numpy(), atol=1e-6, rtol=1e-6)
    np.testing.assert_allclose(fast.std, log_std[0].exp().detach().numpy(), rtol=1e-6)


def test_collected_batch_log_probs_belong_to_the_acting_policy():
    torch.manual_seed(0)
    collector = RolloutCollector("InvertedPendulum-v5", 2, 64, 0, 0.99, 0.95, True, True)
    actor = GaussianActor(collector.obs_dim, collector.act_dim, (8,), 0.0)
    critic = ValueNet(collector.obs_dim, (8,))
    batch = collector.collect(actor, critic)
    collector.close()
    assert batch.steps == 128 and batch.obs.shape == (128, 4)
    with torch.no_grad():
        torch.testing.assert_close(actor.log_prob(batch.obs, batch.actions), batch.logp_old)
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


def test_vector_env_steps_like_a_plain_env_and_keeps_the_final_observation():
    """make_envs (info-dropping wrapper, same-step autoreset) against gym.make replayed with
    the same actions: same rewards and ends, and `final_obs` is the state the episode ended in."""
    actions = np.random.default_rng(0).uniform(-3, 3, (300, 1))
    envs, env = make_envs("InvertedPendulum-v5", 1), gym.make("InvertedPendulum-v5")
    envs.reset(seed=7)
    env.reset(seed=7)
    ends = 0
    for action in actions:
        obs, reward, terminated, truncated, info = envs.step(action[None])
        expected_obs, expected_reward, expected_term, expected_trunc, _ = env.step(action)
        assert (reward[0], terminated[0], truncated[0]) == (
            expected_reward,
            expected_term,
            expected_trunc,
        )
        if expected_term or expected_trunc:
            ends += 1
            np.testing.assert_array_equal(info["final_obs"][0], expected_obs)
            expected_obs, _ = env.reset()
        np.testing.assert_array_equal(obs[0], expected_obs)
    assert ends >= 5
