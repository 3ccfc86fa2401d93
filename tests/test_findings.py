"""Findings are computed (each by its section, analysis/sections/): synthetic sweeps with different outcomes give different
sentences, and one without collapses says it cannot tell and how many runs would."""

from dataclasses import asdict

import numpy as np
import pandas as pd

from analysis.collapse import CollapseRule, run_collapses
from analysis.dose_response import logistic_dose_response, update_trials
from analysis.intervals import runs_needed
from analysis.run_frame import per_run_returns
from analysis.sections.per_update import crossing_finding, odds_ratio_finding
from analysis.sections.step_sizes import step_size_finding
from analysis.sections.update_sizes import bound_finding
from analysis.sections.warning import kl_warning, label_updates, warning_finding
from analysis.tables import collapse_table

RULE = CollapseRule(smooth_window=3, min_gain=100.0, drop_frac=0.5, recover_frac=0.9)
ENV = "Hopper-v5"


def synthetic_run(run_id: str, lr: float, crash_at: int | None, seed: int) -> pd.DataFrame:
    """60 updates: learns to ~1000 over 20, then holds; from `crash_at` on it falls to ~20,
    the update before the fall being a large one (kl_mean 3 instead of ~0.01)."""
    rng = np.random.default_rng(seed)
    returns = np.concatenate([np.linspace(10, 1000, 20), np.full(40, 1000.0)])
    returns += rng.normal(0, 20, 60)
    kl = 10.0 ** rng.normal(-2, 0.3, 60)
    if crash_at is not None:
        returns[crash_at:] = 20.0 + rng.normal(0, 5, 60 - crash_at)
        kl[crash_at - 1] = 3.0
    return pd.DataFrame(
        {
            "run_id": run_id,
            "update": np.arange(1, 61),
            "step": np.arange(1, 61) * 1000,
            "return_mean": returns,
            "kl_mean": kl,
            "kl_max": kl * 4,
            "ratio_max": 1 + kl,
            "algo": "pg",
            "variant": "pg",
            "env": ENV,
            "step_size": lr,
        }  # fmt: skip
    )


def sweep_findings(crashes: dict[float, list[int | None]]) -> list[str]:
    """Findings of a sweep with, per lr, one run per entry (its crash update or None)."""
    frames, rows = [], []
    for lr, crash_list in crashes.items():
        for i, crash_at in enumerate(crash_list):
            run_id = f"pg-lr{lr}-s{i}"
            frames.append(synthetic_run(run_id, lr, crash_at, seed=len(frames)))
            rows.append({"run_id": run_id, "env": ENV, "algo": "pg", "variant": "pg",
                         "step_size_key": "lr", "step_size": lr, "status": "done",
                         "diverged": False, "updates": 60, "baseline_return": np.nan,
                         "history_returns": None})  # fmt: skip
    updates, runs = pd.concat(frames, ignore_index=True), pd.DataFrame(rows)
    collapses = run_collapses(updates, {ENV: RULE})
    per_run = collapses.merge(per_run_returns(updates, 5, 3), on="run_id")
    table = collapse_table(runs, per_run, updates)
    trials = update_trials(updates, runs, {ENV: RULE}, updates_ahead=3)
    dose = logistic_dose_response(trials[trials["at_risk"]], resamples=20)
    results, _ = kl_warning(label_updates(updates, collapses, 5), 0.8, 5, 3, 50, 0)
    warning = pd.DataFrame([asdict(r) for r in results])
    found = [step_size_finding(table), odds_ratio_finding(dose, 3), crossing_finding(dose, 0.1),
             warning_finding(warning, 5), bound_finding(updates)]  # fmt: skip
    return [f.text for f in found if f is not None]


def test_sweeps_with_different_outcomes_give_different_findings():
    many = sweep_findings({0.001: [None] * 8, 0.1: [30, 35, 40, 30, 45, 38, 33, None]})
    few = sweep_findings({0.001: [None] * 8, 0.1: [None] * 6 + [30, 40]})
    assert many[0] != few[0]
    assert "lr 0.1" in many[0] and "7/8 = 0.88" in many[0] and "2/8 = 0.25" in few[0]
    assert "AUC" in many[3]


def test_a_sweep_without_collapses_says_it_cannot_tell_and_how_many_runs_would():
    texts = sweep_findings({0.001: [None] * 5, 0.1: [None] * 5})
    assert "cannot tell" in texts[1]
    assert "cannot tell" in texts[3] and f"about {runs_needed(0, 10)} runs" in texts[3]
    assert f"up to {runs_needed(0, 5)} runs per step size" in texts[0]


def test_runs_needed_follows_the_normal_approximation_at_the_agresti_coull_centre():
    p = (3 + 2) / (10 + 4)
    assert runs_needed(3, 10) == int(np.ceil(1.96**2 * p * (1 - p) / 0.01))
    assert runs_needed(0, 100) > 0
