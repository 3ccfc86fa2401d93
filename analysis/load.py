"""Run records -> two tidy frames: `runs` (one row per run) and `updates` (one row per update).

Only records are read, never W&B: results do not depend on a network. A record that
cannot be read (corrupt, half-written, missing files) is skipped and listed with the
reason; unfinished and failed runs stay in `runs` with their status, so every table can
say how many there were instead of mixing them in.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's: same result, ~10x faster

RUN_COLUMNS = [
    "run_id", "sweep", "algo", "variant", "env", "seed", "step_size_key", "step_size", "total_steps",
    "status", "reason", "diverged", "updates", "steps", "wall_s", "git_sha", "versions",
]  # fmt: skip


@dataclass
class Records:
    runs: pd.DataFrame
    updates: pd.DataFrame
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (record path, why)


def read_record(path: Path) -> tuple[dict, pd.DataFrame]:
    """One record's run row and its metrics; raises on anything unreadable."""
    status = json.loads((path / "status.json").read_text())
    config = yaml.load((path / "config.yaml").read_text(), Loader=SAFE_LOADER)
    metrics_file = path / "metrics.parquet"
    metrics = pd.read_parquet(metrics_file) if metrics_file.exists() else pd.DataFrame()
    if status["status"] == "done" and metrics.empty:
        raise ValueError("status done but no metrics")
    reason = status.get("reason") or ""
    row = {
        "run_id": config["run_id"],
        "sweep": config["sweep"]["name"],
        "algo": config["algo"]["name"],
        "variant": variant(config["algo"]),
        "env": config["env"],
        "seed": config["seed"],
        "step_size_key": config["step_size_key"],
        "step_size": float(config["step_size"]),
        "total_steps": config["total_steps"],
        "status": status["status"],
        "reason": reason,
        "diverged": status["status"] == "failed" and reason.startswith("DivergenceError"),
        "updates": len(metrics),
        "steps": int(metrics["step"].iloc[-1]) if len(metrics) else 0,
        "wall_s": status.get("wall_s"),
        "git_sha": status.get("git_sha"),
        "versions": ", ".join(f"{k} {v}" for k, v in status.get("versions", {}).items()),
    }
    return row, metrics


def variant(algo: dict) -> str:
    """The update rule as a researcher names it: the algo, plus PPO's objective and its
    coefficient when it is not the clipped default (the PPO paper's Table 1 rows)."""
    objective = algo.get("objective", "clip")
    if algo["name"] != "ppo" or objective == "clip":
        return algo["name"]
    coefficient = {"kl_fixed": "kl_coef", "kl_adaptive": "kl_target"}.get(objective)
    return f"ppo_{objective}" + (f"({coefficient}={algo[coefficient]:g})" if coefficient else "")


def load_records(out_dir: str | Path, sweep: str | None = None) -> Records:
    """Every record under <out_dir>/<sweep>/ (all sweeps when `sweep` is None)."""
    root = Path(out_dir)
    pattern = f"{sweep}/*/status.json" if sweep else "*/*/status.json"
    rows, frames, skipped = [], [], []
    for status_file in sorted(root.glob(pattern)):
        try:
            row, metrics = read_record(status_file.parent)
        except Exception as error:  # any unreadable record is reported, not fatal
            skipped.append((str(status_file.parent), f"{type(error).__name__}: {error}"))
            continue
        rows.append(row)
        if len(metrics):
            frames.append(metrics.assign(run_id=row["run_id"]))
    runs = pd.DataFrame(rows, columns=RUN_COLUMNS)
    updates = pd.DataFrame()
    if frames:
        labels = runs[["run_id", "algo", "env", "seed", "step_size"]]
        updates = pd.concat(frames, ignore_index=True).merge(labels, on="run_id", how="left")
    return Records(runs=runs, updates=updates, skipped=skipped)
