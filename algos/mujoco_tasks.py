"""Gymnasium's v5 Hopper, Walker2d and HalfCheetah written over arrays of simulations:
their observations, rewards, termination and reset draws for many episodes at once, every
number bit for bit what gymnasium's env gives (tests/test_mujoco_tasks.py steps both side
by side through terminations, truncations and resets).

Gymnasium steps one env per Python call and spends about as long around MuJoCo's step as
in it. Here a population's simulations step in one `mujoco.batch.Batch` call and each rule
below is a few array operations for all of them. The model, frame skip, time limit and
every task parameter are read from the env gymnasium makes, so env_kwargs carry over; the
operations are gymnasium's own, in its order, on the same float64 values.
"""

import functools
from dataclasses import dataclass

import gymnasium as gym
import mujoco
import numpy as np
from gymnasium.envs.mujoco.half_cheetah_v5 import HalfCheetahEnv
from gymnasium.envs.mujoco.hopper_v5 import HopperEnv
from gymnasium.envs.mujoco.walker2d_v5 import Walker2dEnv
from gymnasium.wrappers import OrderEnforcing, PassiveEnvChecker, TimeLimit

# What one step and one reset hold between calls: MuJoCo's integration state, the same
# vector a checkpoint saves for a gymnasium env (algos.env_state)
STATE = mujoco.mjtState.mjSTATE_INTEGRATION
PORTED = (HopperEnv, Walker2dEnv, HalfCheetahEnv)
# what gym.make wraps a task in; none changes a number it returns
SILENT_WRAPPERS = (TimeLimit, OrderEnforcing, PassiveEnvChecker)


@dataclass(frozen=True, eq=False)
class Task:
    """One ported task as gymnasium made it: its model, and the parameters of its rules."""

    model: mujoco.MjModel
    frame_skip: int
    dt: float  # seconds per env step: gymnasium's `dt`, timestep × frame_skip
    max_episode_steps: int | None  # the time limit's truncation; None without one
    init_qpos: np.ndarray
    init_qvel: np.ndarray
    forward_reward_weight: float
    ctrl_cost_weight: float
    reset_noise_scale: float
    exclude_current_positions: bool
    clip_velocity: bool  # Hopper and Walker2d clip the observed velocities to ±10
    gaussian_velocity_noise: bool  # HalfCheetah's reset draws qvel from a normal
    healthy_reward: float | None  # None: the task has no health (HalfCheetah)
    terminate_when_unhealthy: bool = False
    healthy_z_range: tuple[float, float] = (-np.inf, np.inf)
    healthy_angle_range: tuple[float, float] = (-np.inf, np.inf)
    healthy_state_range: tuple[float, float] | None = None  # Hopper's bound on qpos[2:], qvel

    @property
    def state_size(self) -> int:
        return mujoco.mj_stateSize(self.model, STATE)

    def observe(self, qpos: np.ndarray, qvel: np.ndarray) -> np.ndarray:
        """(n, nq), (n, nv) -> (n, obs_dim): `_get_obs`."""
        position = qpos[:, 1:] if self.exclude_current_positions else qpos
        velocity = np.clip(qvel, -10, 10) if self.clip_velocity else qvel
        return np.concatenate((position, velocity), axis=1)

    def healthy(self, qpos: np.ndarray, qvel: np.ndarray) -> np.ndarray:
        """`is_healthy` of each simulation: (n,) bool. Every bound is checked in one pass over
        the values it bounds (`health_bounds`), each comparison gymnasium's strict one."""
        columns, low, high = self.health_bounds
        checked = np.concatenate((qpos, qvel), axis=1)[:, columns]
        return np.logical_and(low < checked, checked < high).all(axis=1)

    @functools.cached_property
    def health_bounds(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The columns of (qpos, qvel) health bounds, and their lower and upper bounds: z is
        qpos[1], the angle qpos[2], Hopper's state range bounds qpos[2:] and qvel."""
        columns, low, high = [1, 2], [self.healthy_z_range[0], self.healthy_angle_range[0]], [
            self.healthy_z_range[1], self.healthy_angle_range[1]]  # fmt: skip
        if self.healthy_state_range is not None:
            rest = range(2, self.model.nq + self.model.nv)
            columns += rest
            low += [self.healthy_state_range[0]] * len(rest)
            high += [self.healthy_state_range[1]] * len(rest)
        return (
            np.asarray(columns),
            np.asarray(low, dtype=np.float64),
            np.asarray(high, dtype=np.float64),
        )

    def outcome(
        self, x_before: np.ndarray, qpos: np.ndarray, qvel: np.ndarray, actions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Rewards and `terminated` of one step that moved the root from `x_before` to
        qpos[:, 0] under `actions`: `step` and `_get_rew`."""
        x_velocity = (qpos[:, 0] - x_before) / self.dt
        forward_reward = self.forward_reward_weight * x_velocity
        ctrl_cost = self.ctrl_cost_weight * np.add.reduce(np.square(actions), axis=1)  # np.sum's
        if self.healthy_reward is None:
            return forward_reward - ctrl_cost, np.zeros(len(qpos), dtype=bool)
        healthy = self.healthy(qpos, qvel)
        rewards = forward_reward + healthy * self.healthy_reward
        return rewards - ctrl_cost, ~healthy & self.terminate_when_unhealthy

    def reset_state(self, rng: np.random.Generator, data: mujoco.MjData) -> np.ndarray:
        """A fresh episode's integration state, drawn from `rng` as `reset_model` draws it
        and set as `reset` and `set_state` set it (in `data`, a scratch MjData)."""
        low, high = -self.reset_noise_scale, self.reset_noise_scale
        qpos = self.init_qpos + rng.uniform(low=low, high=high, size=self.model.nq)
        if self.gaussian_velocity_noise:
            qvel = self.init_qvel + self.reset_noise_scale * rng.standard_normal(self.model.nv)
        else:
            qvel = self.init_qvel + rng.uniform(low=low, high=high, size=self.model.nv)
        mujoco.mj_resetData(self.model, data)
        data.qpos[:] = qpos
        data.qvel[:] = qvel
        mujoco.mj_forward(self.model, data)
        state = np.empty(self.state_size)
        mujoco.mj_getState(self.model, data, state, STATE)
        return state


def ported_task(env: gym.Env) -> Task | None:
    """The ported form of `env` (as gym.make built it), or None where there is none: another
    task, a subclass, or a wrapper that could change what the env returns."""
    wrappers = []
    while isinstance(env, gym.Wrapper):
        wrappers.append(env)
        env = env.env
    base = env
    if type(base) not in PORTED or any(type(w) not in SILENT_WRAPPERS for w in wrappers):
        return None
    limit = next((w for w in wrappers if isinstance(w, TimeLimit)), None)
    common = {
        "model": base.model,
        "frame_skip": base.frame_skip,
        "dt": base.dt,
        "max_episode_steps": limit._max_episode_steps if limit is not None else None,
        "init_qpos": base.init_qpos.copy(),
        "init_qvel": base.init_qvel.copy(),
        "forward_reward_weight": base._forward_reward_weight,
        "ctrl_cost_weight": base._ctrl_cost_weight,
        "reset_noise_scale": base._reset_noise_scale,
        "exclude_current_positions": base._exclude_current_positions_from_observation,
    }
    if type(base) is HalfCheetahEnv:
        return Task(**common, clip_velocity=False, gaussian_velocity_noise=True,
                    healthy_reward=None)  # fmt: skip
    return Task(
        **common,
        clip_velocity=True,
        gaussian_velocity_noise=False,
        healthy_reward=base._healthy_reward,
        terminate_when_unhealthy=base._terminate_when_unhealthy,
        healthy_z_range=base._healthy_z_range,
        healthy_angle_range=base._healthy_angle_range,
        healthy_state_range=base._healthy_state_range if type(base) is HopperEnv else None,
    )
