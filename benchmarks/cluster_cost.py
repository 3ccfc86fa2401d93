"""What a long preset costs: core-hours, and wall time on an allocation of N cores.

    .venv/bin/python benchmarks/cluster_cost.py                       # full, ppo_table1, returns_1m
    .venv/bin/python benchmarks/cluster_cost.py --presets returns_1m --cores 64 --batches 6

Expands each preset into its jobs (the sweeper's own expansion), and for each algo × env
among them times a short run of the first such job's config on this machine, one torch
thread, eager by default (`--compile auto`: compiled where the real run would be, at a
compile per env here): seconds per batch after the first, and the first batch's excess
(warm-up, compile) once per run.
A run's cost is then that fixed part + its updates × seconds per batch + its evaluations
(counted at their ceiling: every episode to the time limit at the rollout's per-step cost).
Wall time on N cores schedules the runs longest first, one per core. Extrapolating from a
few batches of an untrained policy leaves out how learning changes episode lengths and the
physics' cost; the README sets these figures beside the 1M-step runs measured on a node.
"""

import argparse
import heapq
import time
from collections import Counter
from pathlib import Path

import gymnasium as gym
import pandas as pd
import torch

from algos.minibatch_step import COMPILE_MODES, use_compiled
from algos.train import train
from experiments.preset import preset_jobs
from experiments.spec import RunSpec
from experiments.validate import compose_run_config

ROOT = Path(__file__).resolve().parent.parent


def algo_env(job: list[str]) -> tuple[str, str]:
    values = dict(item.split("=", 1) for item in job)
    return values["algo"], values["env"]


def time_batches(job: list[str], batches: int, compile_mode: str) -> dict:
    """Seconds per batch of the job's algo and env (first batch excluded) and the first
    batch's excess (compile, warm-up), from a run of `batches` batches."""
    real = RunSpec.from_cfg(compose_run_config(job)).config
    steps = real.batch_size * batches
    short = RunSpec.from_cfg(compose_run_config([*job, f"total_steps={steps}"])).config
    compiled = use_compiled(compile_mode, real.num_updates)
    stamps = [time.perf_counter()]
    train(short, lambda row: stamps.append(time.perf_counter()),
          compile_mode="always" if compiled else "never")  # fmt: skip
    per_batch = (stamps[-1] - stamps[1]) / (batches - 1)
    return {"compiled": compiled, "s_per_batch": per_batch,
            "first_batch_extra_s": stamps[1] - stamps[0] - per_batch}  # fmt: skip


def run_seconds(job: list[str], timing: dict) -> float:
    """A whole run of `job` at `timing`'s rate: fixed part + updates + evaluations."""
    config = RunSpec.from_cfg(compose_run_config(job)).config
    step_s = timing["s_per_batch"] / config.batch_size
    limit = gym.spec(config.env_id).max_episode_steps or 1000
    evals = config.num_updates // config.eval_every if config.eval_every else 0
    return (timing["first_batch_extra_s"] + config.num_updates * timing["s_per_batch"]
            + evals * config.eval_episodes * limit * step_s)  # fmt: skip


def makespan(run_seconds: list[float], cores: int) -> float:
    """Wall time of the runs on `cores` cores, one run per core, longest first."""
    loads = [0.0] * cores
    for seconds in sorted(run_seconds, reverse=True):
        heapq.heapreplace(loads, loads[0] + seconds)
    return max(loads)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="*", default=["full", "ppo_table1", "returns_1m"])
    parser.add_argument("--cores", type=int, default=64)
    parser.add_argument("--batches", type=int, default=4, help="batches per timed run (>= 2)")
    parser.add_argument("--compile", default="never", choices=COMPILE_MODES,
                        help="as the runs would (auto) or eager (never: an upper bound for PPO, "
                             "and no compile per env here)")  # fmt: skip
    args = parser.parse_args()
    torch.set_num_threads(1)
    jobs = {preset: preset_jobs(preset) for preset in args.presets}
    timings: dict[tuple[str, str], dict] = {}
    for preset_jobs_ in jobs.values():
        for job in preset_jobs_:
            key = algo_env(job)
            if key not in timings:
                timings[key] = time_batches(job, args.batches, args.compile)
                print(f"{key[0]:>4} {key[1]:<26} {timings[key]['s_per_batch']:.2f} s/batch"
                      f"{' (compiled)' if timings[key]['compiled'] else ''}", flush=True)  # fmt: skip
    rows = []
    for preset, preset_jobs_ in jobs.items():
        counts = Counter(algo_env(job) for job in preset_jobs_)
        first = {algo_env(job): job for job in reversed(preset_jobs_)}
        per_run = {key: run_seconds(first[key], timings[key]) for key in counts}
        seconds = [per_run[key] for key in counts for _ in range(counts[key])]
        rows.append({
            "preset": preset,
            "runs": len(seconds),
            "core_hours": sum(seconds) / 3600,
            f"wall_h_on_{args.cores}_cores": makespan(seconds, args.cores) / 3600,
            "longest_run_h": max(seconds) / 3600,
        })  # fmt: skip
    table = pd.DataFrame(rows)
    print(table.to_string(index=False, float_format=lambda x: f"{x:.1f}"))
    out = ROOT / "results" / "bench" / "cluster_cost.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False)
    rates = pd.DataFrame([{"algo": k[0], "env": k[1], **v} for k, v in timings.items()])
    rates.to_csv(out.with_name("cluster_cost_rates.csv"), index=False)
    print(f"tables: {out}, {out.with_name('cluster_cost_rates.csv')}")


if __name__ == "__main__":
    main()
