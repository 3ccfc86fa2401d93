"""GAE against a naive per-step loop, with terminations and time-limit truncations."""

import numpy as np

from algos.rollout import gae


def naive_gae(rewards, values, next_values, terminated, truncated, gamma, lam):
    """Per env, per step: sum over the rest of the episode (within the batch) of (γλ)^k δ_{t+k}."""
    T, n = rewards.shape
    out = np.zeros((T, n))
    for env in range(n):
        for t in range(T):
            total, discount = 0.0, 1.0
            for k in range(t, T):
                bootstrap = 0.0 if terminated[k, env] else gamma * next_values[k, env]
                delta = rewards[k, env] + bootstrap - values[k, env]
                total += discount * delta
                if terminated[k, env] or truncated[k, env]:
                    break
                discount *= gamma * lam
            out[t, env] = total
    return out


def test_gae_matches_naive_loop_with_terminations_and_truncations():
    rng = np.random.default_rng(0)
    T, n = 50, 3
    rewards = rng.normal(size=(T, n))
    values = rng.normal(size=(T, n))
    next_values = rng.normal(size=(T, n))
    terminated = rng.random((T, n)) < 0.08
    truncated = (rng.random((T, n)) < 0.08) & ~terminated
    assert terminated.any() and truncated.any()
    ours = gae(rewards, values, next_values, terminated, terminated | truncated, 0.99, 0.95)
    expected = naive_gae(rewards, values, next_values, terminated, truncated, 0.99, 0.95)
    np.testing.assert_allclose(ours, expected, rtol=1e-12, atol=1e-12)


def test_truncation_bootstraps_from_final_state_but_termination_does_not():
    rewards = np.array([[1.0], [1.0]])
    values = np.zeros((2, 1))
    next_values = np.array([[5.0], [5.0]])
    ends = np.array([[True], [False]])
    truncated_adv = gae(rewards, values, next_values, np.array([[False], [False]]), ends, 0.9, 1.0)
    terminated_adv = gae(rewards, values, next_values, np.array([[True], [False]]), ends, 0.9, 1.0)
    assert truncated_adv[0, 0] == 1.0 + 0.9 * 5.0
    assert terminated_adv[0, 0] == 1.0
    assert truncated_adv[1, 0] == terminated_adv[1, 0] == 1.0 + 0.9 * 5.0


def test_lambda_one_gives_discounted_return_minus_value():
    rng = np.random.default_rng(1)
    T = 20
    rewards = rng.normal(size=(T, 1))
    values = rng.normal(size=(T, 1))
    next_values = np.vstack([values[1:], [[0.0]]])
    terminated = np.zeros((T, 1), dtype=bool)
    terminated[-1] = True
    adv = gae(rewards, values, next_values, terminated, terminated, 0.97, 1.0)
    returns = np.array([sum(0.97**k * rewards[t + k, 0] for k in range(T - t)) for t in range(T)])
    np.testing.assert_allclose(adv[:, 0], returns - values[:, 0], atol=1e-12)
