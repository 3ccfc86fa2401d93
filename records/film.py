"""Frames of a policy's episode, rendered offscreen on the CPU: MuJoCo through EGL (Mesa's
software renderer; Debian's libegl1 and libegl-mesa0), or through OSMesa with
MUJOCO_GL=osmesa (libosmesa6). No display and no GPU needed. The filmed episode is the one
algos.rollout.episode_returns counts, so its return is the evaluation's own.
"""

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from algos.policy import GaussianActor
from algos.rollout import episode_returns

INSTALL = ("offscreen rendering needs EGL (apt-get install libegl1 libegl-mesa0) or OSMesa "
           "(apt-get install libosmesa6, and MUJOCO_GL=osmesa)")  # fmt: skip


def offscreen() -> None:
    """Render with EGL unless MUJOCO_GL names another backend; before the first render."""
    os.environ.setdefault("MUJOCO_GL", "egl")


def film(
    actor: GaussianActor, obs_normalizer, env_id: str, seed: int, stochastic: bool,
    keep: Callable[[int], bool], width: int, height: int, **env_kwargs,
) -> tuple[list[np.ndarray], float, int]:  # fmt: skip
    """The frames of one episode (reset with `seed`, as episode_returns' first, in the env
    made with the run's env_kwargs) at the steps t where keep(t) (t = 0: its start), its
    return and its length. Only those frames are rendered. Raises RuntimeError with INSTALL
    when nothing can render."""
    offscreen()
    frames: list[np.ndarray] = []

    def watch(_: int, t: int, env) -> None:
        if keep(t):
            follow(env)
            frames.append(env.render())

    try:
        returns, lengths = episode_returns(actor, obs_normalizer, env_id, 1, seed, stochastic,
                                           watch, **env_kwargs, render_mode="rgb_array",
                                           width=width, height=height)  # fmt: skip
    except (AttributeError, ImportError, OSError) as error:  # no GL library to render with
        raise RuntimeError(f"{INSTALL} (MUJOCO_GL={os.environ['MUJOCO_GL']}: "
                           f"{type(error).__name__}: {error})") from error  # fmt: skip
    return frames, float(returns[0]), int(lengths[0])


def follow(env) -> None:
    """Centre the camera on the agent before a frame, as a tracking camera would. Gymnasium
    renders rgb_array frames with a free camera, whose `trackbodyid` moves nothing: the
    agent walks out of the picture. The camera keeps its height, distance and angle and
    follows the tracked body (the env's trackbodyid, else the root body) along x and y."""
    unwrapped = env.unwrapped
    renderer = unwrapped.mujoco_renderer
    config = dict(renderer.default_cam_config or {})
    body = int(config.get("trackbodyid", 1))
    if renderer.viewer is None:  # before the first frame: the config the viewer will start from
        config["lookat"] = np.array(config.get("lookat", unwrapped.data.xpos[body]), dtype=float)
        renderer.default_cam_config = config
        lookat = config["lookat"]
    else:
        lookat = renderer.viewer.cam.lookat
    lookat[:2] = unwrapped.data.xpos[body][:2]


def write_mp4(frames: list[np.ndarray], path: Path, fps: float) -> Path:
    import imageio.v2 as imageio  # with imageio-ffmpeg's own ffmpeg binary

    imageio.mimwrite(path, frames, fps=fps, codec="libx264", macro_block_size=1)
    return path
