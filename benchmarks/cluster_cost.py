"""What a long preset costs: core-hours, and wall time on an allocation of N cores.

    .venv/bin/python benchmarks/cluster_cost.py                       # full, ppo_table1, returns_1m
    .venv/bin/python benchmarks/cluster_cost.py --presets returns_1m --cores 64 --batches 6

Expands each preset into its jobs (the sweeper's own expansion), and for each algo × env
among them times a short run of the first such job's config on this machine, one torch
thread, compiled where the real run would be (`compile: auto` at its length): seconds per
batch after the first, and the first batch's excess (the compile, warm-up) once per run.
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

from algos.minibatch_step import use_compiled
from algos.train import train
from experiments.validate import compose_run_config, train_config
from hydra_plugins.union_sweeper.union_sweeper import expand_jobs

ROOT = Path(__file__).resolve().parent.parent
CONF_DIR = str(ROOT / "conf")


def preset_jobs(preset: str) -> list[list[str]]:
    cfg = compose_run_config(CONF_DIR, [f"sweep={preset}"])
    sweep = cfg.sweep
    return [[f"sweep={preset}", *job] for job in
            expand_jobs(dict(sweep.grids), list(sweep.envs), list(sweep.seeds), [], [])]  # fmt: skip


def algo_env(job: list[str]) -> tuple[str, str]:
    values = dict(item.split("=", 1) for item in job)
    return values["algo"], values["env"]


def time_run(job: list[str], batches: int) -> dict:
    """Seconds per batch (first excluded), the first batch's excess, and the real run's size."""
    cfg = compose_run_config(CONF_DIR, job)
    real = train_config(cfg)
    compiled = use_compiled(cfg.compile, real.num_updates)
    short = train_config(
        compose_run_config(CONF_DIR, [*job, f"total_steps={real.batch_size * batches}"])
    )
    stamps = [time.perf_counter()]
    train(short, lambda row: stamps.append(time.perf_counter()),
          compile_mode="always" if compiled else "never")  # fmt: skip
    per_batch = (stamps[-1] - stamps[1]) / (batches - 1)
    step_s = per_batch / real.batch_size  # an upper bound on an evaluation step's cost
    limit = gym.spec(real.env_id).max_episode_steps or 1000
    evals = real.num_updates // real.eval_every if real.eval_every else 0
    return {
        "compiled": compiled,
        "s_per_batch": per_batch,
        "first_batch_extra_s": stamps[1] - stamps[0] - per_batch,
        "run_s": (stamps[1] - stamps[0] - per_batch)
        + real.num_updates * per_batch
        + evals * real.eval_episodes * limit * step_s,
    }


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
    args = parser.parse_args()
    torch.set_num_threads(1)
    jobs = {preset: preset_jobs(preset) for preset in args.presets}
    firsts = {}
    for preset_jobs_ in jobs.values():
        for job in preset_jobs_:
            firsts.setdefault((job[0], *algo_env(job)), job)
    timings = {}
    for key, job in firsts.items():
        timings[key] = time_run(job, args.batches)
        print(f"{key[0][6:]:>11} {key[1]:>4} {key[2]:<26} {timings[key]['s_per_batch']:.2f} s/batch"
              f"{' (compiled)' if timings[key]['compiled'] else ''}, "
              f"one run {timings[key]['run_s'] / 60:.0f} min", flush=True)  # fmt: skip
    rows = []
    for preset, preset_jobs_ in jobs.items():
        counts = Counter(algo_env(job) for job in preset_jobs_)
        seconds = [timings[(f"sweep={preset}", *key)]["run_s"] for key in counts
                   for _ in range(counts[key])]  # fmt: skip
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
    pd.DataFrame(
        [{"preset": k[0][6:], "algo": k[1], "env": k[2], **v} for k, v in timings.items()]
    ).to_csv(out.with_name("cluster_cost_per_run.csv"), index=False)
    print(f"tables: {out}, {out.with_name('cluster_cost_per_run.csv')}")


if __name__ == "__main__":
    main()
