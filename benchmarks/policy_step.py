"""PPO's policy update per member, eager and compiled, alone and in a population, side by
side in one process: what `compile` buys a run alone and what it costs a population.

    .venv/bin/python benchmarks/policy_step.py --members 1 8 --updates 5

Each member is a default PPO run on Hopper-v5 (a 2,048-step batch, 10 epochs of 64-sample
minibatch steps). A population's eager members take each minibatch step in one stacked
pass; a compiled member steps as a stack of one (algos.ppo.PPOUpdate.step_together). The
figure is the CPU time of this thread per update per member, the median over rounds; the
first updates, which compile (from the cache in .cache/torchinductor when it is warm) and
make Adam's state, are left out.
"""

import argparse
import statistics
import time

import torch

from algos.ppo import PPOUpdate
from algos.train import TrainConfig, make_learner


def seconds_per_member_update(members: int, compiled: bool, updates: int) -> float:
    learners = [
        make_learner(TrainConfig(env_id="Hopper-v5", seed=seed, algo="ppo"), compiled)
        for seed in range(members)
    ]
    batches = [lr.collector.collect(lr.actor, lr.critic) for lr in learners]
    for lr in learners:
        lr.collector.close()
    rules = [lr.policy_update for lr in learners]
    generators = [lr.generator for lr in learners]
    PPOUpdate.step_together(rules, batches, generators)
    times = []
    for _ in range(updates):
        started = time.thread_time()
        PPOUpdate.step_together(rules, batches, generators)
        times.append((time.thread_time() - started) / members)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--updates", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    cases = [(m, c) for m in args.members for c in (False, True)]
    results: dict[tuple, list[float]] = {case: [] for case in cases}
    for _ in range(args.rounds):  # interleaved, so a slow spell of the machine hits every case
        for members, compiled in cases:
            results[(members, compiled)].append(
                seconds_per_member_update(members, compiled, args.updates)
            )
    alone_eager = statistics.median(results[(1, False)]) if (1, False) in results else None
    print("PPO policy update on Hopper-v5, CPU s per member per update (median of rounds)")
    for (members, compiled), times in results.items():
        median = statistics.median(times)
        ratio = f"  {median / alone_eager:.2f}x a run alone, eager" if alone_eager else ""
        mode = "compiled" if compiled else "eager"
        print(f"members {members:>3}  {mode:<8}  {median:.3f}{ratio}")


if __name__ == "__main__":
    main()
