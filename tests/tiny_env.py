"""An env of the tests' own, as a user's package would hold one: gymnasium's registry knows
it only once this module is imported, which `env=tests.tiny_env:TinyEnv-v0` has gymnasium
(and the suite's validation) do."""

import gymnasium as gym
import numpy as np

EPISODE_STEPS = 32


class TinyEnv(gym.Env):
    """A point on a line that the action pushes; each step's reward is minus its distance
    from `target`, a keyword argument (env_kwargs), so that a run shows which it got."""

    metadata = {"render_modes": []}

    def __init__(self, target: float = 0.0):
        self.target = target
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (1,), np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
        self.x = np.zeros(1, dtype=np.float32)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.x = self.np_random.uniform(-1.0, 1.0, size=1).astype(np.float32)
        return self.x.copy(), {}

    def step(self, action):
        self.x = (self.x + 0.1 * np.asarray(action, dtype=np.float32)).astype(np.float32)
        return self.x.copy(), -abs(float(self.x[0]) - self.target), False, False, {}


gym.register(id="TinyEnv-v0", entry_point=TinyEnv, max_episode_steps=EPISODE_STEPS)
