"""The probe's analysis on frames with known answers, and its section in the report."""

import shutil

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis.report import main as report_main
from analysis.sections.probe.effects import (
    direction_differences,
    first_majority,
    ladder_table,
    with_gain,
)
from experiments.probe import main as probe_main
from tests.conftest import run_cli

SMALL_PROBE = ["episodes=2", "targets=[0.01,1.0]", "bootstrap=50", "jobs=1", "select=done",
               "checkpoints=1", "knobs.pg_lr=[0.1]", "knobs.pg_sgd_lr=[]",
               "knobs.trpo_delta=[0.01]", "knobs.ppo_epsilon=[none]", "knobs.npg_delta=[]",
               "knobs.ppo_target_kl=[]"]  # fmt: skip


def probe_rows(checkpoint: str, arm: str, target, change, low, high, predicted, control=1000.0):
    return {"run_id": checkpoint[:1], "env_id": "Hopper-v5", "checkpoint": checkpoint, "arm": arm,
            "target_kl": target, "knob_value": None, "kl_mean": target, "control_return": control,
            "baseline_return": 0.0, "return_change": change, "return_change_ci_low": low,
            "return_change_ci_high": high, "predicted_change": predicted}  # fmt: skip


def test_verdicts_are_fractions_of_the_gain_and_a_checkpoint_without_one_is_left_out():
    probe = pd.DataFrame([
        probe_rows("a1", "natural", 1.0, -600.0, -700.0, -500.0, 50.0),  # destroyed, damaged, parted
        probe_rows("a2", "natural", 1.0, -400.0, -700.0, 10.0, 5.0),  # none: CI covers 0 and the prediction
        probe_rows("b1", "natural", 1.0, -900.0, -950.0, -850.0, 0.0, control=300.0),  # gain 300 < 500
    ])  # fmt: skip
    frame = with_gain(probe, {"Hopper-v5": 500.0}, drop_frac=0.5)
    assert list(frame["checkpoint"]) == ["a1", "a2"]
    assert list(frame["destroyed"]) == [True, False]
    assert list(frame["damaged"]) == [True, False]
    assert list(frame["parted"]) == [True, False]
    assert frame["change_frac"].tolist() == [-0.6, -0.4]
    row = ladder_table(frame).iloc[0]
    assert (row.checkpoints, row.destroyed, row.damaged, row.parted) == (2, 1, 1, 1)


def test_first_majority_is_the_smallest_kl_where_more_than_half_the_checkpoints_qualify():
    ladder = pd.DataFrame({"env_id": "E", "arm": "natural", "target_kl": [0.1, 1.0, 3.0, 10.0],
                           "checkpoints": 4, "destroyed": [0, 2, 3, 4]})  # fmt: skip
    (hit,) = first_majority(ladder, "destroyed").itertuples()
    assert hit.target_kl == 3.0  # 2 of 4 is half, not most
    assert first_majority(ladder.assign(destroyed=[0, 1, 2, 2]), "destroyed").empty


def test_direction_differences_are_paired_by_checkpoint_with_a_t_interval():
    rows = []
    for i, (vanilla, gap) in enumerate([(-0.5, 0.1), (0.2, 0.2), (-0.9, 0.3)]):
        for arm, change in (("vanilla", vanilla), ("natural", vanilla - gap)):
            rows.append(probe_rows(f"c{i}", arm, 1.0, 1000.0 * change, np.nan, np.nan, 0.0))
    frame = with_gain(pd.DataFrame(rows), {"Hopper-v5": 500.0}, 0.5)
    (row,) = direction_differences(frame).itertuples()
    half = stats.t.ppf(0.975, 2) * 0.1 / np.sqrt(3)  # sd of (0.1, 0.2, 0.3) is 0.1
    assert row.difference_frac == pytest.approx(-0.2)
    assert (row.difference_frac_ci_low, row.difference_frac_ci_high) == pytest.approx(
        (-0.2 - half, -0.2 + half)
    )


def test_the_report_shows_the_probe_with_its_figures_tables_and_findings(
    smoke_sweep, tmp_path, monkeypatch
):
    out = tmp_path / "runs"
    shutil.copytree(smoke_sweep, out)
    run_cli(probe_main, monkeypatch, "sweep=smoke", f"out_dir={out}", *SMALL_PROBE)
    assert len(list(out.glob("smoke/*/probe/probe.yaml"))) == 16
    run_cli(report_main, monkeypatch, f"out_dir={out}", "sweep=smoke",
            f"report_dir={tmp_path / 'reports'}", "collapse.min_gain_per_env.InvertedPendulum-v5=0")  # fmt: skip
    report = tmp_path / "reports" / "smoke"
    index, readme = (report / "index.html").read_text(), (report / "README.md").read_text()
    for name in ("probe_return_vs_kl", "probe_surrogate_vs_actual", "probe_direction_at_equal_kl"):
        assert (report / f"{name}.png").stat().st_size > 1000
        assert f"id='{name}'" in index and f"({name}.png)" in readme
    for name in ("probe_return_vs_kl", "probe_knobs", "probe_direction_at_equal_kl"):
        assert (report / f"{name}.csv").exists() and (report / f"{name}.md").exists()
    probed = pd.concat(pd.read_csv(f) for f in out.glob("smoke/*/probe/probe.csv"))
    control = probed[probed["arm"] == "control"]
    gained = control[control["control_return"] >= control["baseline_return"]]  # min_gain 0
    n, runs = len(gained), gained["run_id"].nunique()
    assert n >= 6  # most smoke policies improved on their first batch
    ladder = pd.read_csv(report / "probe_return_vs_kl.csv")
    assert (
        set(ladder["arm"]) == {"vanilla", "natural", "ppo"} and (ladder["checkpoints"] == n).all()
    )
    assert f"One update of a controlled size (the probe: {n} checkpoints of {runs} runs" in readme
    assert "One update of a controlled size (the probe)" in index  # its section
