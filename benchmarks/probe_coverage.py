"""How often the probe's control interval covers 0: the unchanged policy evaluated on two
independent sets of M episodes, many times over, for each interval the probe can use.

A 95 % interval should cover the true change (0) in 95 % of repeats. One pool of
episodes (seeds 0, 1, ...) is evaluated once; repeat r of M takes its control and its
second set from consecutive blocks of the pool, so every M and interval sees the same
episodes. Tasks: `bandit` (benchmarks/bandit.py, an untrained policy) or a run record, whose
last checkpoint is the policy (a trained Hopper policy: skewed returns, where a fall ends
an episode early).

    python benchmarks/probe_coverage.py --task bandit --repeats 200
    python benchmarks/probe_coverage.py --task runs/pretrain/<run_id> --repeats 100
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from algos.rollout import episode_returns
from algos.train import TrainConfig, make_learner
from benchmarks.bandit import BANDIT
from experiments.probe import INTERVALS, paired_change
from experiments.spec import RunSpec
from records.record import Record
from records.store import load_checkpoint


def policy(task: str):
    """(actor, obs normaliser, env id) of the task's policy."""
    if task == "bandit":
        learner = make_learner(TrainConfig(env_id=BANDIT, seed=3, horizon=512, hidden=(8,),
                                           normalize_obs=False, algo="pg"))  # fmt: skip
        learner.collector.close()
        return learner.actor, learner.collector.obs_normalizer, BANDIT
    spec = RunSpec.from_resolved(Record(task).config)
    learner = make_learner(spec.config)
    learner.warm_start(load_checkpoint(Record(task).last_checkpoint()))
    learner.collector.close()
    return learner.actor, learner.collector.obs_normalizer, spec.config.env_id


def coverage(pool: np.ndarray, m: int, repeats: int, method: str, resamples: int) -> dict:
    covered, widths = 0, []
    for r in range(repeats):
        control, again = pool[2 * m * r : 2 * m * r + m], pool[2 * m * r + m : 2 * m * (r + 1)]
        _, low, high = paired_change(again, control, resamples, r, method)
        covered += low <= 0.0 <= high
        widths.append(high - low)
    low, high = stats.binomtest(covered, repeats).proportion_ci(0.95, method="wilson")
    return {"episodes": m, "interval": method, "repeats": repeats, "covered": covered,
            "coverage": covered / repeats, "coverage_ci_low": low, "coverage_ci_high": high,
            "median_width": float(np.median(widths))}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="bandit")
    parser.add_argument("--repeats", type=int, default=100)
    parser.add_argument("--episodes", type=int, nargs="+", default=[10, 20])
    parser.add_argument("--resamples", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=None, help="CSV of the coverage table")
    args = parser.parse_args(argv)
    actor, normalizer, env_id = policy(args.task)
    started = time.perf_counter()
    pool, lengths = episode_returns(actor, normalizer, env_id, 2 * max(args.episodes) * args.repeats,
                                    seed=0, stochastic=True)  # fmt: skip
    print(f"{len(pool)} episodes of {env_id} (mean length {lengths.mean():.0f}) in "
          f"{time.perf_counter() - started:.0f} s")  # fmt: skip
    table = pd.DataFrame([coverage(pool, m, args.repeats, method, args.resamples)
                          for m in args.episodes for method in INTERVALS])  # fmt: skip
    table.insert(0, "task", args.task if args.task == "bandit" else env_id)
    print(table.to_markdown(index=False, floatfmt=".3g"))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(args.out, index=False)
        print(f"coverage table: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
