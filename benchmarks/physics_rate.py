"""The physics limit of one core: bare `mujoco.mj_step` against gymnasium's `env.step`, per
task, side by side in one process, so that every other rate can be stated as a share of
what the physics allows.

    .venv/bin/python benchmarks/physics_rate.py --steps 5000 --rounds 3

Bare: the task's own model and data (taken from gymnasium's env), `mj_step(m, d,
nstep=frame_skip)` with uniform random controls in the actuators' range, and nothing else
in the loop (no resets: a fallen body steps on). gymnasium: `env.step` with uniform random actions, resetting where an episode
ends. One thread; rounds interleaved, so a slow spell of the machine hits every case; the
median round is printed.
"""

import argparse
import statistics
import time

import gymnasium as gym
import mujoco
import numpy as np

TASKS = ("Hopper-v5", "HalfCheetah-v5", "Walker2d-v5")


def bare_rate(env_id: str, steps: int, seed: int) -> float:
    env = gym.make(env_id)
    env.reset(seed=seed)
    model, data = env.unwrapped.model, env.unwrapped.data
    frame_skip = env.unwrapped.frame_skip
    low, high = model.actuator_ctrlrange[:, 0], model.actuator_ctrlrange[:, 1]
    controls = np.random.default_rng(seed).uniform(low, high, size=(steps, model.nu))
    started = time.perf_counter()
    for t in range(steps):
        data.ctrl[:] = controls[t]
        mujoco.mj_step(model, data, nstep=frame_skip)
    rate = steps / (time.perf_counter() - started)
    env.close()
    return rate


def gymnasium_rate(env_id: str, steps: int, seed: int) -> float:
    env = gym.make(env_id)
    env.reset(seed=seed)
    env.action_space.seed(seed)
    actions = [env.action_space.sample() for _ in range(steps)]
    started = time.perf_counter()
    for action in actions:
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            env.reset()
    rate = steps / (time.perf_counter() - started)
    env.close()
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=list(TASKS))
    parser.add_argument("--steps", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rates: dict[tuple[str, str], list[float]] = {}
    for round_ in range(args.rounds):
        for task in args.tasks:
            rates.setdefault((task, "bare"), []).append(bare_rate(task, args.steps, round_))
            rates.setdefault((task, "gymnasium"), []).append(
                gymnasium_rate(task, args.steps, round_)
            )
    print(f"env steps/s on one core, median of {args.rounds} rounds of {args.steps:,} steps")
    print(f"{'task':<16}{'bare mj_step':>14}{'gymnasium':>12}{'share of bare':>15}")
    for task in args.tasks:
        bare = statistics.median(rates[(task, "bare")])
        wrapped = statistics.median(rates[(task, "gymnasium")])
        print(f"{task:<16}{bare:>14,.0f}{wrapped:>12,.0f}{wrapped / bare:>15.0%}")


if __name__ == "__main__":
    main()
