"""Run records -> two tidy frames: `runs` (one row per run) and `updates` (one row per update).

The local records are the default source, so results never depend on a network. The
W&B mirror of the same runs (same config, same metric names) is a second source, for
studies whose records stayed on a cluster and were only synced to W&B. A record that
cannot be read (corrupt, half-written, missing files) is skipped and listed with the
reason; unfinished and failed runs stay in `runs` with their status, so every table can
say how many there were instead of mixing them in.
"""

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from algos.registry import variant
from records.implementation import implementation
from records.record import Record, records_under
from records.schema import METRICS, RUN_COLUMNS, STATUS_FIELDS, UPDATE_LABELS


@dataclass
class Records:
    runs: pd.DataFrame
    updates: pd.DataFrame
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (record path, why)


def read_record(path: Path) -> tuple[dict, pd.DataFrame]:
    """One record's run row and its metrics; raises on anything unreadable."""
    record = Record(path)
    status, config = record.read_status(), record.config
    metrics = record.metrics() if record.has_metrics() else pd.DataFrame()
    if status["status"] == "done" and metrics.empty:
        raise ValueError("status done but no metrics")
    return run_row(config, status, metrics), metrics


def run_row(config: dict, status: dict, metrics: pd.DataFrame) -> dict:
    """A run's row from its resolved config, its status fields and its per-update metrics,
    whichever store they were read from."""
    reason = status.get("reason") or ""
    return {
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
        "baseline_return": float(  # warm starts only; an untrained return of exactly 0 too
            config["baseline_return"] if config.get("baseline_return") is not None else "nan"
        ),
        "history_returns": config.get("history_returns"),
        "warm_start_run": config.get("warm_start_run"),
        "impl": config["source"]["library"]
        if "source" in config
        else implementation(config.get("train") or {}, config["algo"]),
        "wall_s": status.get("wall_s"),
        "git_sha": status.get("git_sha"),
        "versions": ", ".join(f"{k} {v}" for k, v in (status.get("versions") or {}).items()),
    }


def load_records(out_dir: str | Path, sweep: str | None = None) -> Records:
    """Every record under <out_dir>/<sweep>/ (all sweeps when `sweep` is None)."""
    found = records_under(Path(out_dir) / sweep) if sweep else records_under(out_dir, depth=2)
    read, skipped = [], []
    for record in found:
        try:
            read.append(read_record(record.dir))
        except Exception as error:  # any unreadable record is reported, not fatal
            skipped.append((str(record.dir), f"{type(error).__name__}: {error}"))
    return tidy(read, skipped)


def load_wandb(path: str, sweep: str | None = None, api=None) -> Records:
    """The same frames from the training runs mirrored to W&B project `path` (entity/project),
    restricted to group `sweep`. Needs the network and a login (`wandb login`).

    A run redone after a failure or a kill is several W&B runs with one run_id: the done one
    is kept, else the newest. A W&B run that ended without our status (killed, crashed) is
    `failed` with W&B's state as the reason.
    """
    if api is None:
        import wandb

        api = wandb.Api()
    filters = {"jobType": "train", **({"group": sweep} if sweep else {})}
    latest: dict[str, tuple] = {}
    for run in api.runs(path, filters=filters):
        status = wandb_status(run)
        key = (status["status"] == "done", run.created_at)
        run_id = run.config["run_id"]
        if run_id not in latest or key > latest[run_id][0]:
            latest[run_id] = (key, run, status)
    read = []
    for _, run, status in latest.values():
        metrics = pd.DataFrame(list(run.scan_history()), columns=list(METRICS))  # NaN: not logged
        if len(metrics):
            metrics = metrics.sort_values("update", ignore_index=True)
        read.append((run_row(dict(run.config), status, metrics), metrics))
    return tidy(sorted(read, key=lambda pair: pair[0]["run_id"]), skipped=[])


def wandb_status(run) -> dict:
    """Our status fields from a W&B run's summary (written by the mirror when the run ends)."""
    summary = run.summary
    if "status" in summary:
        return {k: summary.get(k) for k in STATUS_FIELDS}
    if run.state == "running":
        return {"status": "running"}
    return {"status": "failed", "reason": f"W&B run state {run.state}"}


def tidy(read: list[tuple[dict, pd.DataFrame]], skipped: list[tuple[str, str]]) -> Records:
    """Run rows and their metrics -> the two frames, each update labelled with its run."""
    runs = pd.DataFrame([row for row, _ in read], columns=list(RUN_COLUMNS))
    frames = [metrics.assign(run_id=row["run_id"]) for row, metrics in read if len(metrics)]
    updates = pd.DataFrame()
    if frames:
        labels = runs[list(UPDATE_LABELS)]
        updates = pd.concat(frames, ignore_index=True).merge(labels, on="run_id", how="left")
    return Records(runs=runs, updates=updates, skipped=skipped)


def load(cfg, sweep: str | None) -> Records:
    """Records of `sweep` from the source the analysis config names: `records` (the local
    run records under out_dir, the default) or `wandb` (the project wandb.entity/wandb.project)."""
    if cfg.source == "records":
        return load_records(cfg.out_dir, sweep)
    if cfg.source == "wandb":
        return load_wandb(wandb_path(cfg), sweep)
    raise SystemExit(f"error: source={cfg.source!r} is not one of: records, wandb")


def wandb_path(cfg) -> str:
    """The W&B project the analysis config names: `entity/project`, or `project` alone."""
    return f"{cfg.wandb.entity}/{cfg.wandb.project}" if cfg.wandb.entity else cfg.wandb.project


def load_sweeps(cfg, sweeps: list[str]) -> Records:
    """Records of several sweeps as one set. The same science has the same run_id, so a run
    found in two sweeps (e.g. the ablation's runs that are also Table 1's cells) counts once:
    the done record is kept, else the one with more updates, else the first sweep's."""
    parts = [load(cfg, sweep) for sweep in sweeps]
    runs = pd.concat([p.runs for p in parts], ignore_index=True)
    if runs.empty:
        return Records(
            runs=runs, updates=pd.DataFrame(), skipped=[s for p in parts for s in p.skipped]
        )
    runs["order"] = range(len(runs))
    chosen = (
        runs.assign(done=runs["status"].eq("done"))
        .sort_values(["done", "updates", "order"], ascending=[False, False, True])
        .drop_duplicates("run_id")
    )
    keep = set(zip(chosen["run_id"], chosen["sweep"], strict=True))
    frames = [p.updates.assign(sweep=sweep) for p, sweep in zip(parts, sweeps, strict=True)
              if len(p.updates)]  # fmt: skip
    updates = (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame(columns=["run_id", "sweep"])
    )
    kept = [(r, s) in keep for r, s in zip(updates["run_id"], updates["sweep"], strict=True)]
    return Records(
        runs=chosen.sort_values("order").drop(columns=["order", "done"]).reset_index(drop=True),
        updates=updates[kept].drop(columns="sweep").reset_index(drop=True),
        skipped=[s for p in parts for s in p.skipped],
    )


def initial_return(returns, baseline: float = float("nan")) -> float:
    """The untrained policy's return, what a run's gain is measured from: a warm-started
    run's `baseline_return` (its starting policy before that was trained), else the run's
    own first finite return_mean (NaN if it has none)."""
    if np.isfinite(baseline):
        return float(baseline)
    returns = np.asarray(returns, dtype=float)
    finite = returns[np.isfinite(returns)]
    return float(finite[0]) if len(finite) else float("nan")
