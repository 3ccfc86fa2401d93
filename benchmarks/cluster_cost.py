"""What a long preset costs: core-hours, and wall time on an allocation of N cores.

    .venv/bin/python benchmarks/cluster_cost.py                       # full, ppo_table1, returns_1m
    .venv/bin/python benchmarks/cluster_cost.py --presets returns_1m --cores 64 --batches 6
    .venv/bin/python benchmarks/cluster_cost.py --presets full --measured runs/tasks runs/pretrain

Expands each preset into its runs (the sweeper's own expansion, and the starting policies
its warm starts train), and for each kind of run among them (its algo, env, knobs such as
PPO's epochs, batch size and networks: everything but the seed and the step size) times a
short run of the first such config on this machine, one torch thread, eager by default (`--compile auto`:
compiled where the real run would be, at a compile per env here): seconds per batch after
the first, and the first batch's excess (warm-up, compile) once per run.
A run's cost is then that fixed part + its updates × seconds per batch + its evaluations
(counted at their ceiling: every episode to the time limit at the rollout's per-step cost).
With `--measured`, a run of a kind that finished records have (the same algo, env and
settings less the step size) is priced at their median seconds per env step instead: the
whole run as it went, learning and all, on the machine that ran them.
Wall time on N cores schedules the runs longest first, one per core. Extrapolating from a
few batches of an untrained policy leaves out how learning changes episode lengths and the
physics' cost; the README sets these figures beside the 1M-step runs measured on a node.
"""

import argparse
import dataclasses
import heapq
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import pandas as pd
import torch

from algos.minibatch_step import COMPILE_MODES, use_compiled
from algos.registry import ALGOS
from algos.train import TrainConfig, train
from experiments.preset import preset_jobs
from experiments.spec import RunSpec
from experiments.validate import compose_run_config
from experiments.warm_start import pretrain_spec
from records.record import records_under

ROOT = Path(__file__).resolve().parent.parent


def preset_runs(preset: str) -> list[tuple[bool, TrainConfig]]:
    """(whether it is a starting policy, config) of every run a preset trains: its jobs,
    each run once, and the starting policies its warm starts train (one per env × seed ×
    train settings)."""
    runs, seen = [], set()
    for job in preset_jobs(preset):
        spec = RunSpec.from_cfg(compose_run_config(job))
        specs = [(False, spec)]
        if spec.config.warm_start is not None:
            specs.append((True, pretrain_spec(spec)))
        for starting, s in specs:
            if s.run_id not in seen:
                seen.add(s.run_id)
                runs.append((starting, s.config))
    return runs


def time_batches(config: TrainConfig, batches: int, compile_mode: str) -> dict:
    """Seconds per batch of `config` (first batch excluded) and the first batch's excess
    (compile, warm-up), from a run of `batches` batches from scratch."""
    short = dataclasses.replace(config, total_steps=config.batch_size * batches, warm_start=None)
    compiled = use_compiled(compile_mode, config.num_updates)
    stamps = [time.perf_counter()]
    train(short, lambda row: stamps.append(time.perf_counter()),
          compile_mode="always" if compiled else "never")  # fmt: skip
    per_batch = (stamps[-1] - stamps[1]) / (batches - 1)
    return {"compiled": compiled, "s_per_batch": per_batch,
            "first_batch_extra_s": stamps[1] - stamps[0] - per_batch}  # fmt: skip


def run_seconds(config: TrainConfig, timing: dict) -> float:
    """A whole run of `config` at `timing`'s rate: fixed part + updates + evaluations."""
    step_s = timing["s_per_batch"] / config.batch_size
    limit = gym.spec(config.env_id).max_episode_steps or 1000
    evals = config.num_updates // config.eval_every if config.eval_every else 0
    return (timing["first_batch_extra_s"] + config.num_updates * timing["s_per_batch"]
            + evals * config.eval_episodes * limit * step_s)  # fmt: skip


def run_kind(config: TrainConfig) -> tuple:
    """What sets a run's cost per env step, read from its config: algo, env and the algo's
    settings less its step size (a record's and a preset job's alike)."""
    key = ALGOS[config.algo].step_size_key_of(config.algo_params)
    params = tuple(sorted((k, str(v)) for k, v in config.algo_params.items() if k != key))
    return config.algo, config.env_id, params


def batch_kind(config: TrainConfig) -> tuple:
    """What sets a run's cost per batch: its kind, its batch size and its networks."""
    return (*run_kind(config), config.batch_size, config.hidden)


def measured_rates(sweep_dirs: list[Path]) -> dict[tuple, float]:
    """Median seconds per env step of each kind of run among the done records of these
    sweeps (a median, so that a run slowed by others beside it moves it little)."""
    per_kind: dict[tuple, list[float]] = {}
    for sweep_dir in sweep_dirs:
        for record in records_under(sweep_dir):
            status = record.status() or {}
            if status.get("status") != "done" or not status.get("wall_s"):
                continue
            config = RunSpec.from_resolved(record.config).config
            share = status["wall_s"] / status.get("population", 1)  # one process, one core
            per_kind.setdefault(run_kind(config), []).append(share / config.total_steps)
    return {kind: float(np.median(rates)) for kind, rates in per_kind.items()}


def measured_seconds(config: TrainConfig, s_per_step: float) -> float:
    """A whole run of `config` at a measured rate per env step, its evaluations at their ceiling."""
    limit = gym.spec(config.env_id).max_episode_steps or 1000
    evals = config.num_updates // config.eval_every if config.eval_every else 0
    return (config.total_steps + evals * config.eval_episodes * limit) * s_per_step


def makespan(run_seconds: list[float], cores: int) -> float:
    """Wall time of the runs on `cores` cores, one run per core, longest first (a starting
    policy is scheduled like any run: it must finish before its runs start, which this
    leaves out)."""
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
    parser.add_argument("--measured", nargs="*", type=Path, default=[],
                        help="sweep folders (e.g. runs/tasks runs/pretrain) whose done records price "
                             "the runs of the same kind; the others are timed")  # fmt: skip
    args = parser.parse_args()
    torch.set_num_threads(1)
    runs = {preset: preset_runs(preset) for preset in args.presets}
    measured = measured_rates(args.measured)
    timings: dict[tuple, dict] = {}
    for preset_runs_ in runs.values():
        for _, config in preset_runs_:
            key = batch_kind(config)
            if key not in timings and run_kind(config) not in measured:
                timings[key] = time_batches(config, args.batches, args.compile)
                algo, env, settings, batch, _ = key
                print(f"{algo} {env} batch {batch} ({', '.join(f'{k}={v}' for k, v in settings)}): "
                      f"{timings[key]['s_per_batch']:.2f} s/batch"
                      f"{' (compiled)' if timings[key]['compiled'] else ''}", flush=True)  # fmt: skip
    rows = []
    for preset, preset_runs_ in runs.items():
        seconds = [measured_seconds(config, measured[run_kind(config)]) if run_kind(config) in measured
                   else run_seconds(config, timings[batch_kind(config)]) for _, config in preset_runs_]  # fmt: skip
        pretrain = sum(
            s for (starting, _), s in zip(preset_runs_, seconds, strict=True) if starting
        )
        rows.append({
            "preset": preset,
            "runs": len(seconds),
            "starting_policies": sum(starting for starting, _ in preset_runs_),
            "priced_from_records": sum(run_kind(config) in measured for _, config in preset_runs_),
            "core_hours": sum(seconds) / 3600,
            "of_which_starting_policies": pretrain / 3600,
            f"wall_h_on_{args.cores}_cores": makespan(seconds, args.cores) / 3600,
            "longest_run_h": max(seconds) / 3600,
        })  # fmt: skip
    table = pd.DataFrame(rows)
    print(table.to_string(index=False, float_format=lambda x: f"{x:.1f}"))
    out = ROOT / "results" / "bench" / "cluster_cost.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False)
    rates = pd.DataFrame([{"algo": k[0], "env": k[1], "settings": dict(k[2]), "batch": k[3], **v}
                          for k, v in timings.items()])  # fmt: skip
    rates.to_csv(out.with_name("cluster_cost_rates.csv"), index=False)
    print(f"tables: {out}, {out.with_name('cluster_cost_rates.csv')}")


if __name__ == "__main__":
    main()
