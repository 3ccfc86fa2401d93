"""The ported v5 tasks against gymnasium's own envs, step by step, and runs trained on them
against runs trained through gymnasium: bit for bit."""

import gymnasium as gym
import numpy as np
import pytest
import torch

import algos.envs
from algos.envs import GymnasiumEnvs, SimulatedEnvs, make_envs
from algos.mujoco_tasks import ported_task
from algos.normalization import ObsNormalizer
from algos.policy import GaussianActor
from algos.rollout import NumpyActors, episode_returns
from algos.train import Member, TrainConfig, train_together

PORTED = ["Hopper-v5", "Walker2d-v5", "HalfCheetah-v5"]


def both(env_id: str, num_envs: int, env_kwargs: dict, monkeypatch) -> tuple:
    monkeypatch.setattr(algos.envs, "SIMULATE_PORTED", False)
    reference = make_envs(env_id, num_envs, env_kwargs)
    monkeypatch.setattr(algos.envs, "SIMULATE_PORTED", True)
    ported = make_envs(env_id, num_envs, env_kwargs)
    assert isinstance(reference, GymnasiumEnvs) and isinstance(ported, SimulatedEnvs)
    return ported, reference


def assert_same_state(ported: SimulatedEnvs, reference: GymnasiumEnvs) -> None:
    for mine, theirs in zip(ported.state(), reference.state(), strict=True):
        assert np.array_equal(mine["physics"], theirs["physics"])
        assert mine["elapsed_steps"] == theirs["elapsed_steps"]
        assert mine["np_random"] == theirs["np_random"]


@pytest.mark.parametrize("env_id", PORTED)
@pytest.mark.parametrize(
    "env_kwargs", [{}, {"max_episode_steps": 60, "terminate_when_unhealthy": False}],
    ids=["v5", "short-limit"],
)  # fmt: skip
def test_every_step_is_gymnasiums(env_id, env_kwargs, monkeypatch):
    """Random actions (some far outside the bounds, some from a policy acting on what it
    sees), through terminations, truncations and resets over several rollouts: every
    observation, reward and flag, and every saved state, equal to gymnasium's."""
    if env_id == "HalfCheetah-v5" and "terminate_when_unhealthy" in env_kwargs:
        env_kwargs = {"max_episode_steps": 60}
    n = 3
    ported, reference = both(env_id, n, env_kwargs, monkeypatch)
    assert np.array_equal(ported.reset([5, 6, 7]), reference.reset([5, 6, 7]))
    act_dim = ported.action_space.shape[0]
    actor = NumpyActors([GaussianActor(ported.observation_space.shape[0], act_dim, (8,), 0.0)])
    rng = np.random.default_rng(0)
    ends = {"terminated": 0, "truncated": 0}
    for _ in range(4):
        mine, theirs = SimulatedEnvs.together([ported]), GymnasiumEnvs.together([reference])
        obs = reference.envs[0].unwrapped._get_obs()[None].repeat(n, 0)
        for t in range(500):
            if t % 3 == 0:
                actions = 5.0 * actor.mean(obs[None].astype(np.float32))[0]
            else:
                actions = rng.uniform(-1.0, 1.0, (n, act_dim)) * rng.choice([1.0, 30.0])
            actions = np.clip(actions, -1.0, 1.0)
            got, expected = mine.step(actions), theirs.step(actions)
            for a, b in zip(got, expected, strict=True):
                assert a.dtype == b.dtype and np.array_equal(a, b)
            obs = got[0].copy()
            ends["terminated"] += int(got[2].sum())
            ends["truncated"] += int(got[3].sum())
            for i in np.flatnonzero(got[2] | got[3]):
                obs[i] = mine.reset(i)
                assert np.array_equal(obs[i], theirs.reset(i))
        mine.finish()
        assert_same_state(ported, reference)
    if env_kwargs or env_id == "HalfCheetah-v5":
        assert ends["truncated"] > 0
    if env_id != "HalfCheetah-v5" and not env_kwargs:
        assert ends["terminated"] > 0


def test_a_saved_gymnasium_state_continues_in_the_port(monkeypatch):
    """A checkpoint's env state from a gymnasium env (runs before the port) is the port's."""
    ported, reference = both("Hopper-v5", 2, {}, monkeypatch)
    ported.reset([1, 2])
    reference.reset([1, 2])
    stepper = GymnasiumEnvs.together([reference])
    for _ in range(30):
        stepper.step(np.full((2, 3), 0.3))
    ported.set_state(reference.state())
    mine, theirs = SimulatedEnvs.together([ported]), GymnasiumEnvs.together([reference])
    for _ in range(30):
        for a, b in zip(mine.step(np.full((2, 3), -0.2)), theirs.step(np.full((2, 3), -0.2)),
                        strict=True):  # fmt: skip
            assert np.array_equal(a, b)


def test_other_tasks_and_wrapped_envs_go_through_gymnasium():
    assert isinstance(make_envs("InvertedPendulum-v5", 1, {}), GymnasiumEnvs)
    assert isinstance(make_envs("Ant-v5", 1, {}), GymnasiumEnvs)
    assert ported_task(gym.wrappers.ClipAction(gym.make("Hopper-v5"))) is None
    assert ported_task(gym.make("Hopper-v5")) is not None


def nested_equal(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(nested_equal(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(nested_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, torch.Tensor):
        return torch.equal(a, b)
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and np.array_equal(a, b)
    return type(a) is type(b) and (a == b or (a != a and b != b))


@pytest.mark.parametrize("env_id", ["Hopper-v5", "HalfCheetah-v5"])
def test_a_population_trains_bit_for_bit_as_through_gymnasium(env_id, monkeypatch):
    """Every metric and every checkpoint (env state included) of a population trained on
    the port equals the same population trained through gymnasium."""
    arms = {"ppo": {"epsilon": 0.2}, "trpo": {"delta": 0.05}, "pg": {"lr": 0.01}, "hold": {}}

    def population() -> tuple[dict, dict]:
        rows = {name: [] for name in arms}
        saved: dict = {}
        members = [
            Member(TrainConfig(env_id=env_id, seed=3, total_steps=3 * 2 * 200, horizon=200,
                               num_envs=2, algo=name, algo_params=params, hidden=(8, 8),
                               env_kwargs={"max_episode_steps": 150}),
                   rows[name].append, checkpoints=3,
                   on_checkpoint=lambda u, s, name=name: saved.__setitem__((name, u), s))
            for name, params in arms.items()
        ]  # fmt: skip
        assert train_together(members) == [None] * len(arms)
        return rows, saved

    monkeypatch.setattr(algos.envs, "SIMULATE_PORTED", False)
    expected = population()
    monkeypatch.setattr(algos.envs, "SIMULATE_PORTED", True)
    got = population()
    timing = {"rollout_s", "update_s", "fit_s", "sps"}
    for name in arms:
        mine, theirs = got[0][name], expected[0][name]
        assert len(mine) == len(theirs) == 3
        for a, b in zip(mine, theirs, strict=True):
            assert nested_equal({k: v for k, v in a.items() if k not in timing},
                                {k: v for k, v in b.items() if k not in timing})  # fmt: skip
    assert got[1].keys() == expected[1].keys() and len(got[1]) == 3 * len(arms)
    for key in got[1]:
        assert nested_equal(got[1][key], expected[1][key]), key


def episodes_one_by_one(actor, normalizer, env_id, episodes, seed, **make_kwargs):
    """Episode k alone in a gymnasium env reset with seed + k, its noise from its own
    generator seeded seed + k: what `episode_returns` promises of each episode."""
    policy, env = NumpyActors([actor]), gym.make(env_id, **make_kwargs)
    returns, lengths = [], []
    for k in range(episodes):
        obs, _ = env.reset(seed=seed + k)
        noise, total, steps, done = np.random.default_rng(seed + k), 0.0, 0, False
        while not done:
            action = policy.mean(normalizer(obs[None])[None])[0, 0]
            action = action + policy.std[0, 0] * noise.standard_normal(action.shape)
            obs, reward, terminated, truncated, _ = env.step(
                np.clip(action, env.action_space.low, env.action_space.high))  # fmt: skip
            total, steps, done = total + float(reward), steps + 1, terminated or truncated
        returns.append(total)
        lengths.append(steps)
    return np.asarray(returns), np.asarray(lengths)


@pytest.mark.parametrize("env_id", ["Hopper-v5", "HalfCheetah-v5", "InvertedPendulum-v5"])
def test_episodes_played_side_by_side_are_those_played_one_by_one(env_id):
    """Evaluation steps its episodes together (batched where the task is ported), episodes
    of different lengths included: each return and length is that episode's alone."""
    env = gym.make(env_id)
    obs_dim, act_dim = env.observation_space.shape[0], env.action_space.shape[0]
    actor = GaussianActor(obs_dim, act_dim, (16, 16), -0.5)
    normalizer = ObsNormalizer(obs_dim, True)
    normalizer.stats.mean = np.random.default_rng(1).standard_normal(obs_dim) * 0.1
    got = episode_returns(actor, normalizer, env_id, 5, 40, True, max_episode_steps=200)
    expected = episodes_one_by_one(actor, normalizer, env_id, 5, 40, max_episode_steps=200)
    assert np.array_equal(got[0], expected[0]) and np.array_equal(got[1], expected[1])
    assert env_id == "HalfCheetah-v5" or len(set(got[1].tolist())) > 1
