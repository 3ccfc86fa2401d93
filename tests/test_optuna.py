"""An optimising sweep: a run returns its trial's number, computed from its record, and
hydra-optuna-sweeper's study (sqlite) runs, resumes, and averages each trial's seeds."""

import sqlite3
import subprocess
import sys

import numpy as np
import pytest

from analysis.objective import final_return, neg_collapsed
from experiments.run import run
from experiments.validate import compose_run_config
from records.record import records_under
from tests.conftest import ROOT, poisoned_step_together

TINY = ["env=InvertedPendulum-v5", "total_steps=1024", "train.horizon=128", "train.hidden=[8]",
        "wandb.mode=disabled", "algo=ppo"]  # fmt: skip


def test_final_return_is_the_mean_of_the_last_five_updates(tmp_path):
    assert run(compose_run_config([*TINY, f"out_dir={tmp_path}"]), show_progress=False) == "done"
    (record,) = records_under(tmp_path / "single")
    returns = record.metrics()["return_mean"].to_numpy()
    assert final_return(record.dir) == pytest.approx(np.mean(returns[-5:]))
    assert neg_collapsed(record.dir) in (0.0, -1.0)


def test_a_diverged_run_counts_as_collapsed_and_has_no_return(tmp_path, monkeypatch):
    from algos import ppo

    monkeypatch.setattr(ppo.PPOUpdate, "step_together", poisoned_step_together)
    assert run(compose_run_config([*TINY, f"out_dir={tmp_path}"]), show_progress=False) == "failed"
    (record,) = (tmp_path / "single").iterdir()
    assert neg_collapsed(record) == -1.0
    assert np.isnan(final_return(record))


def optuna_sweep(out_dir, trials: int) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "experiments/run.py", "-m", "sweep=optuna_example",
         "hydra/sweeper=optuna", f"hydra.sweeper.n_trials={trials}", "hydra.sweeper.n_jobs=1",
         "total_steps=512", "train.horizon=128", "wandb.mode=disabled", f"out_dir={out_dir}"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def trials(db) -> list[tuple[int, float]]:
    with sqlite3.connect(db) as connection:
        return connection.execute(
            "SELECT t.number, v.value FROM trials t JOIN trial_values v USING (trial_id) "
            "WHERE t.state = 'COMPLETE' ORDER BY t.number"
        ).fetchall()


def trial_params(db) -> dict[int, tuple]:
    with sqlite3.connect(db) as connection:
        rows = connection.execute(
            "SELECT t.number, p.param_name, p.param_value FROM trials t "
            "JOIN trial_params p USING (trial_id)"
        ).fetchall()
    params: dict[int, dict] = {}
    for number, name, value in rows:
        params.setdefault(number, {})[name] = value
    return {n: (p["epsilon"], p["lr"]) for n, p in params.items()}


def test_the_optuna_example_runs_resumes_and_averages_its_seeds(tmp_path):
    first = optuna_sweep(tmp_path, 1)
    assert first.returncode == 0, first.stderr[-2000:]
    db = tmp_path / "optuna_example" / "optuna.db"
    done = trials(db)
    assert [n for n, _ in done] == [0]
    records = records_under(tmp_path / "optuna_example")
    assert len(records) == 2  # 2 seeds, each its own record
    per_trial: dict[tuple, list[float]] = {}
    for record in records:
        config = record.config
        returns = record.metrics()["return_mean"].to_numpy()
        # the last 5 updates' mean return, an update with no finished episode (NaN) left out
        per_trial.setdefault((config["epsilon"], config["lr"]), []).append(np.nanmean(returns[-5:]))
    assert all(len(finals) == 2 for finals in per_trial.values())
    means = sorted(np.mean(finals) for finals in per_trial.values())
    assert sorted(v for _, v in done) == pytest.approx(means)
    again = optuna_sweep(tmp_path, 1)
    assert again.returncode == 0, again.stderr[-2000:]
    assert [n for n, _ in trials(db)] == [0, 1]  # the study went on from its first trial
    settings = set(trial_params(db).values())  # a setting tried twice is trained once
    assert len(list((tmp_path / "optuna_example").glob("ppo-*"))) == 2 * len(settings)
