"""`make bench-physics`: env steps per core as a share of what the physics allows, in one run.

    make bench-physics ARGS="--rounds 3"
    .venv/bin/python benchmarks/physics_rate.py --tasks Hopper-v5 --rounds 1 --before none

For each task, one thread each, every number a rate of env steps per second of CPU:
- bare: the task's own model and data (taken from gymnasium's env), `mj_step(m, d,
  nstep=frame_skip)` with uniform random controls and nothing else in the loop (no resets:
  a fallen body steps on). The physics limit of one core: every other rate is stated as a
  share of it.
- gymnasium: `env.step` with uniform random actions, resetting where an episode ends.
- population N: the collector's rollout (algos.rollout.collect_together) of N runs side by
  side, 64x64 actors acting, one env each, batches of 1,024 steps, the batch's torch pass,
  normalisers and GAE included: a training loop's whole collection phase.
- study: the default study's runs phase: a population of its runs (every setting of
  `sweep=default`, `--seeds` seeds each), trained for `--updates` updates from their
  starting policies where `--out-dir` holds them (after `make sweep`), else from scratch.
  Env steps per CPU second of the whole training, updates included.

With `--before REV` (default: the commit before the batched physics), population and
study rows are also measured with that commit's code, checked out in a temporary git
worktree, each measurement in its own process, rounds interleaved so that a slow spell of
the machine hits both; the median round is printed, and beside it `now / before`, the
median of the rounds' ratios. The absolute rates move by ±25 % between runs on shared
machines; the ratios are the result.
Writes results/bench/physics.csv.
"""

import argparse
import contextlib
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import gymnasium as gym
import mujoco
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
TASKS = ("Hopper-v5", "HalfCheetah-v5", "Walker2d-v5")
POPULATIONS = (1, 8, 32)
BEFORE = "34101d1"  # the last commit whose populations stepped their envs through gymnasium


def bare_rate(env_id: str, steps: int, seed: int) -> float:
    env = gym.make(env_id)
    env.reset(seed=seed)
    model, data = env.unwrapped.model, env.unwrapped.data
    frame_skip = env.unwrapped.frame_skip
    low, high = model.actuator_ctrlrange[:, 0], model.actuator_ctrlrange[:, 1]
    controls = np.random.default_rng(seed).uniform(low, high, size=(steps, model.nu))
    started = time.process_time()
    for t in range(steps):
        data.ctrl[:] = controls[t]
        mujoco.mj_step(model, data, nstep=frame_skip)
    rate = steps / (time.process_time() - started)
    env.close()
    return rate


def gymnasium_rate(env_id: str, steps: int, seed: int) -> float:
    env = gym.make(env_id)
    env.reset(seed=seed)
    env.action_space.seed(seed)
    actions = [env.action_space.sample() for _ in range(steps)]
    started = time.process_time()
    for action in actions:
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            env.reset()
    rate = steps / (time.process_time() - started)
    env.close()
    return rate


def population_rate(env_id: str, members: int, steps: int, seed: int) -> float:
    """The rollout of `members` runs side by side: env steps per CPU second."""
    import torch

    from algos.policy import GaussianActor, ValueNet
    from algos.rollout import RolloutCollector, collect_together

    torch.set_num_threads(1)
    torch.manual_seed(seed)
    collectors = [RolloutCollector(env_id, 1, 1024, seed + m, 0.99, 0.95, True, True)
                  for m in range(members)]  # fmt: skip
    obs_dim, act_dim = collectors[0].obs_dim, collectors[0].act_dim
    actors = [GaussianActor(obs_dim, act_dim, (64, 64), 0.0) for _ in range(members)]
    critics = [ValueNet(obs_dim, (64, 64)) for _ in range(members)]
    collect_together(collectors, actors, critics)  # the first batch: warm-up
    batches = max(1, -(-steps // (1024 * members)))
    started = time.process_time()
    for _ in range(batches):
        collect_together(collectors, actors, critics)
    return batches * 1024 * members / (time.process_time() - started)


def study_rate(configs: list[dict], starts: list[str | None]) -> float:
    """A population of the study's runs, trained: env steps per CPU second from the end of
    its first update to the end of its last (the process's start, imports and first update
    are a fixed cost, a small share of a study's 100-update runs)."""
    import torch

    from algos.train import Member, TrainConfig, train_together

    torch.set_num_threads(1)
    stamps: list[float] = []
    members = [
        Member(TrainConfig(**{**c, "hidden": tuple(c["hidden"])}),
               (lambda row: stamps.append(time.process_time())) if m == 0 else (lambda row: None),
               start_state=torch.load(start, weights_only=False) if start else None)
        for m, (c, start) in enumerate(zip(configs, starts, strict=True))
    ]  # fmt: skip
    errors = train_together(members)
    if any(errors):
        raise SystemExit(f"a study run failed: {next(e for e in errors if e)!r}")
    updates = len(stamps) - 1
    return updates * sum(c["horizon"] * c["num_envs"] for c in configs) / (stamps[-1] - stamps[0])


def study_runs(seeds: int, updates: int, out_dir: Path) -> tuple[list[dict], list[str | None]]:
    """The default study's runs of its first `seeds` seeds, `updates` updates each, and the
    last checkpoint of each one's starting policy where `out_dir` holds the study's records
    (`make sweep`'s), else None: those runs start from scratch."""
    sys.path.insert(0, str(ROOT))
    from experiments.preset import preset_jobs
    from experiments.spec import RunSpec
    from experiments.validate import compose_run_config
    from experiments.warm_start import pretrain_spec
    from records.paths import PRETRAIN_SWEEP
    from records.record import Record

    configs, starts = [], []
    for job in preset_jobs("default"):
        spec = RunSpec.from_cfg(compose_run_config(job))
        if spec.config.seed > seeds:
            continue
        start = None
        if spec.config.warm_start is not None:
            start = Record(out_dir / PRETRAIN_SWEEP / pretrain_spec(spec).run_id).last_checkpoint()
        short = dataclasses.replace(spec.config, warm_start=None,
                                    total_steps=spec.config.batch_size * updates)  # fmt: skip
        configs.append(dataclasses.asdict(short))
        starts.append(str(start.resolve()) if start else None)
    return configs, starts


def measure(job: dict) -> float:
    if job["kind"] == "population":
        return population_rate(job["task"], job["members"], job["steps"], job["seed"])
    return study_rate(job["configs"], job["starts"])


def in_process(job: dict, code: Path) -> float:
    """`job` measured in a fresh process importing the project from `code`."""
    env = {**os.environ, "PYTHONPATH": str(code)}
    out = subprocess.run([sys.executable, __file__, "--one", json.dumps(job)], cwd=code, env=env,
                         check=True, capture_output=True, text=True).stdout  # fmt: skip
    return float(out.strip().splitlines()[-1])


@contextlib.contextmanager
def checkout(rev: str | None):
    """The project at `rev`, in a temporary git worktree (None: no checkout)."""
    if rev is None:
        yield None
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "before"
        subprocess.run(["git", "worktree", "add", "--detach", str(path), rev], cwd=ROOT,
                       check=True, capture_output=True)  # fmt: skip
        try:
            yield path
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(path)], cwd=ROOT,
                           check=True, capture_output=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=list(TASKS))
    parser.add_argument("--steps", type=int, default=8192, help="env steps per rate")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--before", default=BEFORE, help="a commit to compare with, or none")
    parser.add_argument("--seeds", type=int, default=3, help="study: seeds of each setting")
    parser.add_argument("--updates", type=int, default=5, help="study: updates of each run")
    parser.add_argument("--out-dir", default="runs",
                        help="study: where make sweep's records are (its starting policies)")  # fmt: skip
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(measure(json.loads(args.one)))
        return
    jobs = [({"kind": "population", "task": task, "members": n, "steps": args.steps,
              "seed": 0}, f"population {n}", task)
            for task in args.tasks for n in POPULATIONS]  # fmt: skip
    if "Hopper-v5" in args.tasks:  # the default study's task
        configs, starts = study_runs(args.seeds, args.updates, Path(args.out_dir))
        warm = sum(s is not None for s in starts)
        print(
            f"study: {len(configs)} runs of the default study, {warm} from their starting "
            f"policies in {args.out_dir}, {len(configs) - warm} from scratch",
            flush=True,
        )
        jobs.append(({"kind": "study", "configs": configs, "starts": starts}, "study", "Hopper-v5"))
    codes = {"now": ROOT}
    rates: dict[tuple, list[float]] = {}
    with checkout(None if args.before == "none" else args.before) as before:
        if before is not None:
            codes["before"] = before
        for round_ in range(args.rounds):
            print(f"round {round_ + 1}/{args.rounds}", flush=True)
            for task in args.tasks:
                rates.setdefault((task, "bare", "now"), []).append(
                    bare_rate(task, args.steps, round_)
                )
                rates.setdefault((task, "gymnasium", "now"), []).append(
                    gymnasium_rate(task, args.steps, round_))  # fmt: skip
            for job, name, task in jobs:
                for code, path in codes.items():
                    rate = in_process({**job, "seed": round_}, path)
                    rates.setdefault((task, name, code), []).append(rate)
                    print(f"  {task} {name} ({code}): {rate:,.0f} env steps/s", flush=True)
    table(rates, args)


def table(rates: dict, args: argparse.Namespace) -> None:
    """Each rate's median over rounds and its share of the task's bare rate; `now / before`
    is the median of the rounds' ratios, each round's two codes measured back to back."""
    import pandas as pd

    rows = []
    for (task, name, code), values in rates.items():
        before = rates.get((task, name, "before")) if code == "now" else None
        rows.append({"task": task, "measure": name, "code": code,
                     "env_steps_per_cpu_s": statistics.median(values), "rounds": len(values),
                     "now_over_before": statistics.median(a / b for a, b in zip(values, before, strict=True))
                     if before else np.nan})  # fmt: skip
    frame = pd.DataFrame(rows)
    bare = frame[frame.measure == "bare"].set_index("task")["env_steps_per_cpu_s"]
    frame["share_of_bare"] = frame["env_steps_per_cpu_s"] / frame["task"].map(bare)
    print(f"\nenv steps per CPU second, one thread, median of {args.rounds} round(s)"
          + (f"; before = {args.before}" if args.before != "none" else ""))  # fmt: skip
    compared = "before" in set(frame.code)
    print(f"{'task':<16}{'measure':<15}{'now':>9}{'of bare':>9}"
          + (f"{'before':>9}{'of bare':>9}{'now/before':>12}" if compared else ""))  # fmt: skip
    now = frame[frame.code == "now"]
    then = frame[frame.code == "before"].set_index(["task", "measure"])
    for row in now.itertuples():
        line = (f"{row.task:<16}{row.measure:<15}{row.env_steps_per_cpu_s:>9,.0f}"
                f"{row.share_of_bare:>9.0%}")  # fmt: skip
        if (row.task, row.measure) in then.index:
            old = then.loc[(row.task, row.measure)]
            line += (f"{old['env_steps_per_cpu_s']:>9,.0f}{old['share_of_bare']:>9.0%}"
                     f"{row.now_over_before:>11.2f}x")  # fmt: skip
        print(line)
    out = ROOT / "results" / "bench" / "physics.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out, index=False)
    print(f"table: {out}")


if __name__ == "__main__":
    main()
