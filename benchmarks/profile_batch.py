"""Where one batch's time goes: wall time per phase of our training loop, per 2048-step batch.

    .venv/bin/python benchmarks/profile_batch.py --algo ppo --env Hopper-v5 --batches 6

Wraps the loop's phases with wall-clock timers (about a microsecond each, unlike cProfile's
per-call overhead) and prints seconds per batch for each, the first batch excluded.
"""

import argparse
import functools
import time
from collections import defaultdict

import gymnasium
import mujoco.batch
import torch

from algos import envs, minibatch_step, mujoco_tasks, ppo, rollout, train
from algos.registry import ALGOS
from algos.train import TrainConfig

TOTALS: dict[str, float] = defaultdict(float)


def timed(owner: object, attribute: str, label: str) -> None:
    """Replace owner.attribute by a wrapper adding its wall time to TOTALS[label]."""
    original = getattr(owner, attribute)

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            TOTALS[label] += time.perf_counter() - started

    setattr(owner, attribute, wrapper)


ROLLOUT_PHASES = [
    (train, "collect_together", "rollout (all)"),
    (envs.BatchStepper, "step", "  env step, ported task (algos.envs)"),
    (mujoco.batch.Batch, "step", "    MuJoCo (mujoco.batch.Batch.step)"),
    (mujoco_tasks.Task, "outcome", "    reward, termination (algos.mujoco_tasks)"),
    (mujoco_tasks.Task, "observe", "    observation (algos.mujoco_tasks)"),
    (gymnasium.wrappers.TimeLimit, "step", "  env.step, another task (gymnasium + MuJoCo)"),
    (rollout.NumpyActors, "mean", "  policy mean (numpy)"),
    (rollout, "batches_together", "  the batch: torch pass, scaling, GAE"),
]
UPDATE_PHASES = [  # after the policy update's own line, which depends on --algo
    (train, "fit_together", "critic fit (all)"),
    (train, "update_diagnostics", "update diagnostics (KL, ratios)"),
]
EAGER_STEP_PHASES = [  # inside what --compile traces: timed only when not compiled
    (ppo, "minibatch_grads", "  PPO: hand-derived gradients + clip"),
    (minibatch_step.functional_adam, "adam", "  functional fused Adam (policy and critic)"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algo", default="ppo", choices=list(ALGOS))
    parser.add_argument("--env", default="Hopper-v5")
    parser.add_argument("--batches", type=int, default=6)
    parser.add_argument("--compile", default="never", choices=minibatch_step.COMPILE_MODES,
                        help="compile the minibatch steps (the first batch, excluded, compiles)")  # fmt: skip
    args = parser.parse_args()
    torch.set_num_threads(1)
    update = (ALGOS[args.algo].update_cls, "step_together", "policy update (all)")
    phases = [*ROLLOUT_PHASES, update, *UPDATE_PHASES]
    if args.compile == "never":
        phases += EAGER_STEP_PHASES
    for owner, attribute, label in phases:
        timed(owner, attribute, label)
    config = TrainConfig(env_id=args.env, algo=args.algo, total_steps=2048 * args.batches)
    rows = []
    record = lambda row: rows.append(dict(TOTALS, wall=time.perf_counter()))  # noqa: E731
    train.train(config, record, compile_mode=args.compile)
    first, last = rows[0], rows[-1]
    n = len(rows) - 1
    print(f"{args.algo} on {args.env}: seconds per 2048-step batch (mean of {n}, first excluded)")
    print(f"{'whole batch':<50}: {(last['wall'] - first['wall']) / n:.3f}")
    for _, _, label in phases:
        if label in last:
            print(f"{label:<50}: {(last[label] - first.get(label, 0.0)) / n:.3f}")


if __name__ == "__main__":
    main()
