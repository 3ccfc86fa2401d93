"""An update rule's policy update per member, side by side in one process: each member
alone (its `step`: a stack of one, as a run alone takes it), the members stacked
(`step_together`, as a population takes them) and, for PPO, each member compiled: what
stacking buys a population and what compiling buys a run alone.

    .venv/bin/python benchmarks/policy_step.py --algo ppo --members 1 8 --updates 5
    .venv/bin/python benchmarks/policy_step.py --algo trpo --members 1 8 30 --horizon 1024

Each member is a run of the rule's defaults on Hopper-v5 (`--horizon` steps a batch: PPO's
default 2,048 with 10 epochs of 64-sample minibatch steps; the default study's 1,024).
Every way gives each member bit for bit the same update, except compiling (float
rounding). The figure is the CPU time of this thread per update per member, the median
over rounds; the first update, which compiles (from the cache in .cache/torchinductor
when it is warm) and makes Adam's state, is left out.
"""

import argparse
import statistics
import time

import torch

from algos.train import TrainConfig, make_learner

WAYS = {"ppo": ("alone", "stacked", "compiled"), "trpo": ("alone", "stacked"),
        "npg": ("alone", "stacked")}  # fmt: skip


def seconds_per_member_update(
    algo: str, members: int, way: str, updates: int, horizon: int
) -> float:
    learners = [
        make_learner(
            TrainConfig(env_id="Hopper-v5", seed=seed, algo=algo, horizon=horizon),
            compiled=way == "compiled",
        )  # fmt: skip
        for seed in range(members)
    ]
    batches = [lr.collector.collect(lr.actor, lr.critic) for lr in learners]
    for lr in learners:
        lr.collector.close()
    rules = [lr.policy_update for lr in learners]
    generators = [lr.generator for lr in learners]

    def update() -> None:
        if way == "stacked":
            type(rules[0]).step_together(rules, batches, generators)
        else:
            for rule, batch, generator in zip(rules, batches, generators, strict=True):
                rule.step(batch, generator)

    update()
    times = []
    for _ in range(updates):
        started = time.thread_time()
        update()
        times.append((time.thread_time() - started) / members)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algo", choices=sorted(WAYS), default="ppo")
    parser.add_argument("--members", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--updates", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--horizon", type=int, default=TrainConfig.horizon)
    args = parser.parse_args()
    torch.set_num_threads(1)
    cases = [(m, w) for m in args.members for w in WAYS[args.algo]]
    results: dict[tuple, list[float]] = {case: [] for case in cases}
    for _ in range(args.rounds):  # interleaved, so a slow spell of the machine hits every case
        for members, way in cases:
            results[(members, way)].append(
                seconds_per_member_update(args.algo, members, way, args.updates, args.horizon)
            )
    print(f"{args.algo.upper()} policy update on Hopper-v5, batches of {args.horizon}: "
          "CPU s per member per update (median of rounds)")  # fmt: skip
    for members in args.members:
        alone = statistics.median(results[(members, "alone")])
        cells = [f"{way} {statistics.median(results[(members, way)]):.4f} "
                 f"({statistics.median(results[(members, way)]) / alone:.2f}x alone)"
                 for way in WAYS[args.algo]]  # fmt: skip
        print(f"members {members:>3}:  " + "   ".join(cells))


if __name__ == "__main__":
    main()
