"""What reproducible mode costs in speed: the same runs natively and with the CPU kernels
pinned (records.numerics), alternated in one invocation, each in a process of its own.

A run's rate is its env steps over its rollout and update seconds (the record's rollout_s
and update_s: start-up left out). Writes results/bench/reproducible_cost.csv and prints the
median pinned / native rate per algo.

    python benchmarks/reproducible_cost.py --rounds 3
"""

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

from records.numerics import unpinned_environment
from records.paths import REPO_ROOT
from records.record import records_under

ALGOS = ("ppo", "trpo", "pg")
MODES = {"native": [], "pinned": ["reproducible=true"]}


def rate(algo: str, extra: list[str], env_id: str, steps: int) -> float:
    with tempfile.TemporaryDirectory() as out_dir:
        subprocess.run(
            [sys.executable, "experiments/run.py", f"algo={algo}", f"env={env_id}",
             f"total_steps={steps}", "wandb.mode=disabled", "progress=false", "compile=never",
             f"out_dir={out_dir}", *extra],
            cwd=REPO_ROOT, env=unpinned_environment(), check=True, capture_output=True,
        )  # fmt: skip
        (record,) = records_under(Path(out_dir) / "single")
        metrics = record.metrics(columns=["step", "rollout_s", "update_s"])
    return float(metrics["step"].iloc[-1] / (metrics["rollout_s"] + metrics["update_s"]).sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--env", default="Hopper-v5")
    parser.add_argument("--steps", type=int, default=20480)
    args = parser.parse_args()
    rows = []
    for round_ in range(1, args.rounds + 1):
        for algo in ALGOS:
            for mode, extra in MODES.items():
                steps_per_s = rate(algo, extra, args.env, args.steps)
                rows.append({"round": round_, "algo": algo, "mode": mode, "env": args.env,
                             "steps": args.steps, "steps_per_s": round(steps_per_s, 1)})  # fmt: skip
                print(f"round {round_} {algo} {mode}: {steps_per_s:,.0f} env steps/s", flush=True)
    frame = pd.DataFrame(rows)
    path = REPO_ROOT / "results" / "bench" / "reproducible_cost.csv"
    frame.to_csv(path, index=False)
    medians = frame.groupby(["algo", "mode"])["steps_per_s"].median().unstack()
    medians["pinned_over_native"] = (medians["pinned"] / medians["native"]).round(3)
    print(medians.to_string())
    print(f"rounds: {path}")


if __name__ == "__main__":
    main()
