"""A collector's envs, and how a population's envs step together.

Two kinds behind one interface. A task gymnasium's v5 MuJoCo code has a port of
(algos.mujoco_tasks) is held as plain state: each env's integration state, its time-limit
step count and its reset RNG, which a population steps in one `mujoco.batch.Batch` call per
step. Any other env id is a list of gymnasium envs, stepped one after another. Either way
an env's episodes, and what a checkpoint saves of them (algos.env_state's format), are bit
for bit those of the gymnasium env it stands for.
"""

from typing import Protocol

import gymnasium as gym
import mujoco
import mujoco.batch
import numpy as np
from gymnasium.utils import seeding

from algos.env_state import env_state, set_env_state
from algos.mujoco_tasks import Task, ported_task


class Stepper(Protocol):
    """A population's envs, numbered member by member, stepped as one for a rollout."""

    def step(self, actions: np.ndarray, ids: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
        """Step the envs `ids` (None: every env) with (len(ids), act_dim) actions -> the
        observations reached (the final one where an episode ended), rewards, terminated,
        truncated: one row or entry per env stepped."""

    def reset(self, i: int) -> np.ndarray:
        """Start env i's next episode; its first observation."""

    def finish(self) -> None:
        """Hand the episodes in progress back to the envs they belong to."""


class GymnasiumEnvs:
    """Gymnasium envs as gym.make builds them, stepped one at a time (the reference)."""

    def __init__(self, envs: list[gym.Env]):
        self.envs = envs
        self.observation_space, self.action_space = envs[0].observation_space, envs[0].action_space

    def reset(self, seeds: list[int]) -> np.ndarray:
        return np.stack(
            [env.reset(seed=seed)[0] for env, seed in zip(self.envs, seeds, strict=True)]
        )

    def state(self) -> list[dict | None]:
        return [env_state(env) for env in self.envs]

    def set_state(self, states: list[dict]) -> None:
        for env, saved in zip(self.envs, states, strict=True):
            set_env_state(env, saved)

    def close(self) -> None:
        for env in self.envs:
            env.close()

    @staticmethod
    def together(parts: list["GymnasiumEnvs"]) -> Stepper:
        return GymnasiumStepper([env for part in parts for env in part.envs])


class GymnasiumStepper:
    def __init__(self, envs: list[gym.Env]):
        self.envs = envs

    def step(self, actions: np.ndarray, ids: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
        envs = self.envs if ids is None else [self.envs[i] for i in ids]
        results = [env.step(action) for env, action in zip(envs, actions, strict=True)]
        reached, rewards, terminated, truncated, _ = zip(*results, strict=True)
        return (np.stack(reached), np.asarray(rewards, dtype=np.float64),
                np.asarray(terminated), np.asarray(truncated))  # fmt: skip

    def reset(self, i: int) -> np.ndarray:
        return self.envs[i].reset()[0]

    def finish(self) -> None:
        pass


class SimulatedEnvs:
    """Envs of a ported task held as state between rollouts: each one's integration state
    (a row), its step count within the episode and its reset RNG (gymnasium's `np_random`,
    seeded as gymnasium seeds it)."""

    def __init__(self, task: Task, num_envs: int, spaces: gym.Env):
        self.task = task
        self.observation_space, self.action_space = spaces.observation_space, spaces.action_space
        self.physics = np.zeros((num_envs, task.state_size))
        self.elapsed = np.zeros(num_envs, dtype=np.int64)
        self.rngs: list[np.random.Generator | None] = [None] * num_envs
        self.scratch = mujoco.MjData(task.model)  # where resets are computed, as gymnasium does

    def reset(self, seeds: list[int]) -> np.ndarray:
        observations = []
        for i, seed in enumerate(seeds):
            self.rngs[i] = seeding.np_random(seed)[0]
            self.physics[i], obs = start_episode(self.task, self.rngs[i], self.scratch)
            self.elapsed[i] = 0
            observations.append(obs)
        return np.stack(observations)

    def state(self) -> list[dict]:
        return [
            {"physics": self.physics[i].copy(), "elapsed_steps": int(self.elapsed[i]),
             "np_random": rng.bit_generator.state}
            for i, rng in enumerate(self.rngs)
        ]  # fmt: skip

    def set_state(self, states: list[dict]) -> None:
        for i, saved in enumerate(states):
            self.physics[i] = saved["physics"]
            self.elapsed[i] = saved["elapsed_steps"]
            self.rngs[i].bit_generator.state = saved["np_random"]

    def close(self) -> None:
        pass

    @staticmethod
    def together(parts: list["SimulatedEnvs"]) -> Stepper:
        return BatchStepper(parts)


def start_episode(
    task: Task, rng: np.random.Generator, scratch: mujoco.MjData
) -> tuple[np.ndarray, np.ndarray]:
    """A fresh episode's integration state and first observation."""
    state = task.reset_state(rng, scratch)
    return state, task.observe(scratch.qpos[None], scratch.qvel[None])[0]


class BatchStepper:
    """A population's simulated envs in one mujoco.batch.Batch (one thread: a sweep runs
    one population per core), their rules over the whole batch (algos.mujoco_tasks)."""

    def __init__(self, parts: list[SimulatedEnvs]):
        self.parts = parts
        self.task = parts[0].task
        self.batch = mujoco.batch.Batch(self.task.model, sum(len(p.physics) for p in parts),
                                        nthread=1)  # fmt: skip
        self.batch.state[:] = np.concatenate([p.physics for p in parts])
        self.qpos, self.qvel, self.ctrl = (self.batch.bind(f) for f in ("qpos", "qvel", "ctrl"))
        self.elapsed = np.concatenate([p.elapsed for p in parts])
        self.rngs = [rng for p in parts for rng in p.rngs]
        self.scratch = parts[0].scratch

    def step(self, actions: np.ndarray, ids: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
        rows = slice(None) if ids is None else ids
        x_before = self.qpos[rows, 0].copy()
        self.ctrl[rows] = actions
        self.batch.step(ids, nstep=self.task.frame_skip)
        qpos, qvel = self.qpos[rows], self.qvel[rows]
        rewards, terminated = self.task.outcome(x_before, qpos, qvel, actions)
        self.elapsed[rows] += 1
        limit = self.task.max_episode_steps
        elapsed = self.elapsed[rows]
        truncated = elapsed >= limit if limit is not None else np.zeros(len(elapsed), dtype=bool)
        return self.task.observe(qpos, qvel), rewards, terminated, truncated

    def reset(self, i: int) -> np.ndarray:
        self.batch.state[i], obs = start_episode(self.task, self.rngs[i], self.scratch)
        self.elapsed[i] = 0
        return obs

    def finish(self) -> None:
        start = 0
        for part in self.parts:
            n = len(part.physics)
            part.physics[:] = self.batch.state[start : start + n]
            part.elapsed[:] = self.elapsed[start : start + n]
            start += n


Envs = GymnasiumEnvs | SimulatedEnvs
# False: every task through gymnasium, the reference the ports are tested against
SIMULATE_PORTED = True


def make_envs(env_id: str, num_envs: int, env_kwargs: dict, simulate: bool = True) -> Envs:
    """`num_envs` copies of the task as `gym.make` builds it with `env_kwargs` (time limit
    included): simulated where it has a port (unless `simulate` is False: an env to render
    is gymnasium's), else gymnasium's envs.

    The collector steps them in its own loop rather than through gymnasium's vector envs,
    whose batching, autoreset and info merging cost time every step for nothing it needs."""
    first = gym.make(env_id, **env_kwargs)
    task = ported_task(first) if simulate and SIMULATE_PORTED else None
    if task is None:
        return GymnasiumEnvs(
            [first] + [gym.make(env_id, **env_kwargs) for _ in range(num_envs - 1)]
        )
    envs = SimulatedEnvs(task, num_envs, first)
    first.close()
    return envs
