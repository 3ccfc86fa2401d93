"""TRPO's policy update per member, one member after another (each member's `step`, a
stack of one, as a run alone takes it) and stacked (`step_together`), side by side in one
process: what stacking buys a population.

    .venv/bin/python benchmarks/natural_step.py --members 1 8 30 --updates 3

Each member is a TRPO run on Hopper-v5 with a 1,024-step batch (the default study's
horizon on one env) and a 64x64 actor; both ways give each member bit for bit the same
update (algos.natural_gradient). The figure is the CPU time of this thread per update per
member, the median over rounds; the first update is left out.
"""

import argparse
import statistics
import time

import torch

from algos.train import TrainConfig, make_learner
from algos.trpo import TRPOUpdate


def one_by_one(rules: list, batches: list, generators: list) -> list:
    return [u.step(b, g) for u, b, g in zip(rules, batches, generators, strict=True)]


WAYS = {"one by one": one_by_one, "stacked": TRPOUpdate.step_together}


def seconds_per_member_update(members: int, way: str, updates: int) -> float:
    learners = [
        make_learner(TrainConfig(env_id="Hopper-v5", seed=seed, algo="trpo", horizon=1024))
        for seed in range(members)
    ]
    batches = [lr.collector.collect(lr.actor, lr.critic) for lr in learners]
    for lr in learners:
        lr.collector.close()
    rules = [lr.policy_update for lr in learners]
    generators = [lr.generator for lr in learners]
    step = WAYS[way]
    step(rules, batches, generators)
    times = []
    for _ in range(updates):
        started = time.thread_time()
        step(rules, batches, generators)
        times.append((time.thread_time() - started) / members)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, nargs="+", default=[1, 8, 30])
    parser.add_argument("--updates", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    cases = [(m, w) for m in args.members for w in WAYS]
    results: dict[tuple, list[float]] = {case: [] for case in cases}
    for _ in range(args.rounds):  # interleaved, so a slow spell of the machine hits every case
        for members, way in cases:
            results[(members, way)].append(seconds_per_member_update(members, way, args.updates))
    print("TRPO policy update on Hopper-v5, CPU s per member per update (median of rounds)")
    print(f"{'members':>7}  {'one by one':>10}  {'stacked':>7}  {'stacked / one by one':>20}")
    for members in args.members:
        old, new = (statistics.median(results[(members, way)]) for way in WAYS)
        print(f"{members:>7}  {old:>10.4f}  {new:>7.4f}  {new / old:>20.2f}")


if __name__ == "__main__":
    main()
