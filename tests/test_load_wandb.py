"""The W&B source gives the analysis the same frames as the local run records.

No network here, so both ends of W&B are stood in for: `wandb.init` by a recorder of
what our mirror sends (config, each logged row with its step, the summary, the exit
code), and `wandb.Api` by a reader of those recordings in the public API's shape
(`runs(path, filters)`, `config`, `summary`, `state`, `created_at`, `scan_history()`).
What this checks is our side: that the mirror sends everything the loader needs and
the loader maps it back to the record's frames. W&B's own storage is not exercised.
"""

import itertools

import pandas as pd
import pytest

from experiments import wandb_mirror
from experiments.run import run
from experiments.validate import compose_run_config
from records.load import RUN_COLUMNS, load_records, load_wandb
from tests.conftest import poisoned_step

TINY = ["env=InvertedPendulum-v5", "total_steps=512", "train.horizon=128", "train.hidden=[16,16]"]
CREATED = itertools.count()


class RecordedRun:
    """What one `wandb.init` received, readable back like `wandb.apis.public.Run`."""

    def __init__(self, config: dict, group: str, job_type: str, state: str = "running",
                 id: str | None = None, **_):  # fmt: skip
        self.config, self.group, self.job_type, self.state = config, group, job_type, state
        self.id = id or f"recorded-{next(CREATED)}"  # W&B's generated run id
        self.summary: dict = {}
        self.declared: dict[str, str | None] = {}  # define_metric: metric -> its step metric
        self.history: list[dict] = []
        self.created_at = f"2026-01-01T00:00:{next(CREATED):02d}"

    def define_metric(self, name: str, step_metric: str | None = None) -> None:
        self.declared[name] = step_metric

    def log(self, row: dict, step: int) -> None:
        self.history.append({**row, "_step": step, "_runtime": 0.5, "_timestamp": 1.7e9})

    def finish(self, exit_code: int) -> None:
        self.state = "finished" if exit_code == 0 else "failed"

    def scan_history(self):
        return iter(self.history)


class RecordedApi:
    def __init__(self, runs: list[RecordedRun]):
        self.recorded = runs

    def runs(self, path: str, filters: dict):
        return [
            r for r in self.recorded
            if r.job_type == filters["jobType"] and r.group == filters.get("group", r.group)
        ]  # fmt: skip


@pytest.fixture
def mirrored_sweep(tmp_path, monkeypatch):
    """Three tiny runs of one sweep (PPO done, TRPO done, PG diverged), each mirrored to the
    recorder; the PPO run also has an earlier attempt that was killed mid-run."""
    recorded: list[RecordedRun] = []

    def init(**kwargs):
        recorded.append(RecordedRun(**kwargs))
        return recorded[-1]

    monkeypatch.setattr(wandb_mirror.wandb, "init", init)
    common = [*TINY, f"out_dir={tmp_path}", "wandb.mode=offline", "sweep.name=mirrored"]
    for overrides in (["algo=ppo", "epsilon=0.1"], ["algo=trpo", "delta=0.02"]):
        status = run(compose_run_config([*overrides, *common]), show_progress=False)
        assert status == "done"
    killed = RecordedRun(recorded[0].config, "mirrored", "train", state="killed")
    killed.history = recorded[0].history[:2]
    recorded.insert(0, killed)

    from algos import pg

    monkeypatch.setattr(pg.PGUpdate, "step", poisoned_step)
    assert run(compose_run_config(["algo=pg", *common]), show_progress=False) == "failed"
    report = RecordedRun({"run_id": "report"}, "mirrored", "report", state="finished")
    return tmp_path, RecordedApi([*recorded, report])


def test_wandb_source_gives_the_records_frames(mirrored_sweep):
    out_dir, api = mirrored_sweep
    local = load_records(out_dir, "mirrored")
    remote = load_wandb("entity/trust-region", "mirrored", api=api)
    assert sorted(local.runs["status"]) == ["done", "done", "failed"]
    assert "kl_mean became nan" in local.runs.set_index("algo").loc["pg", "reason"]
    pd.testing.assert_frame_equal(remote.runs[list(RUN_COLUMNS)], local.runs[list(RUN_COLUMNS)])
    order = ["run_id", "update"]
    pd.testing.assert_frame_equal(
        remote.updates.sort_values(order, ignore_index=True)[local.updates.columns],
        local.updates.sort_values(order, ignore_index=True),
        check_dtype=False,
    )
    assert local.updates["clip_frac"].notna().any() and local.updates["ls_steps"].notna().any()


def test_wandb_run_killed_before_its_summary_counts_as_failed(mirrored_sweep):
    _, api = mirrored_sweep
    done_ppo = next(r for r in api.recorded if r.config.get("algo", {}).get("name") == "ppo"
                    and r.state == "finished")  # fmt: skip
    api.recorded.remove(done_ppo)
    runs = load_wandb("trust-region", "mirrored", api=api).runs.set_index("algo")
    assert runs.loc["ppo", "status"] == "failed"
    assert runs.loc["ppo", "reason"] == "W&B run state killed"
    assert runs.loc["ppo", "updates"] == 2


def test_every_metric_is_declared_on_global_step_the_env_steps(mirrored_sweep):
    """openrlbenchmark and CleanRL plot against `global_step`; ours is the record's `step`.
    openrlbenchmark names runs by a flat config key: `variant`, as the report names them."""
    _, api = mirrored_sweep
    trained = [r for r in api.recorded if r.job_type == "train" and r.declared]
    assert sorted(r.config["variant"] for r in trained) == ["pg", "ppo", "trpo"]
    for mirrored in trained:
        assert mirrored.declared == {"global_step": None, "*": "global_step"}
        steps = [row["global_step"] for row in mirrored.history]
        assert steps == [128, 256, 384, 512][: len(steps)]
        assert all(row["global_step"] == row["step"] == row["_step"] for row in mirrored.history)
