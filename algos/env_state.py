"""An env's state mid-episode, saved and restored, so that a run resumed from a checkpoint
continues exactly where it stopped rather than from a fresh episode.

For a MuJoCo env that is its integration state (qpos, qvel, time, actuator activations,
the solver's warm-start accelerations: MuJoCo's `mjSTATE_INTEGRATION`, everything the next
`mj_step` reads), the time limit's step count and the env's own RNG (used at its next
reset). Other envs are not restored (`None`): a run on one resumes with a fresh episode,
statistically equivalent but not bit-identical.
"""

import gymnasium as gym
import mujoco
import numpy as np
from gymnasium.envs.mujoco.mujoco_env import MujocoEnv
from gymnasium.wrappers import TimeLimit

SPEC = mujoco.mjtState.mjSTATE_INTEGRATION


def time_limit(env: gym.Env) -> TimeLimit | None:
    while isinstance(env, gym.Wrapper):
        if isinstance(env, TimeLimit):
            return env
        env = env.env
    return None


def env_state(env: gym.Env) -> dict | None:
    """The state a MuJoCo env continues from; None for any other env."""
    base = env.unwrapped
    if not isinstance(base, MujocoEnv):
        return None
    physics = np.empty(mujoco.mj_stateSize(base.model, SPEC))
    mujoco.mj_getState(base.model, base.data, physics, SPEC)
    limit = time_limit(env)
    return {
        "physics": physics,
        "elapsed_steps": limit._elapsed_steps if limit else None,
        "np_random": base.np_random.bit_generator.state,
    }


def set_env_state(env: gym.Env, state: dict) -> None:
    """Put a (reset) env back into a state `env_state` returned for the same task."""
    base = env.unwrapped
    mujoco.mj_setState(base.model, base.data, state["physics"], SPEC)
    limit = time_limit(env)
    if limit is not None:
        limit._elapsed_steps = state["elapsed_steps"]
    base.np_random.bit_generator.state = state["np_random"]
