"""Tables and the KL-warning statistics on synthetic data with known answers."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

from analysis.intervals import wilson_interval
from analysis.sections.warning import RankedScores
from analysis.tables import collapse_table


def synthetic_runs(
    n: int, collapsed: int, diverged: int = 0, crashed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    ids = [f"r{i}" for i in range(n + crashed)]
    status = ["done"] * (n - diverged) + ["failed"] * (diverged + crashed)
    reasons = (
        [""] * (n - diverged) + ["DivergenceError: nan"] * diverged + ["OSError: disk"] * crashed
    )
    runs = pd.DataFrame(
        {
            "run_id": ids, "env": "Hopper-v5", "algo": "pg", "variant": "pg", "step_size_key": "lr", "step_size": 0.01,
            "status": status, "reason": reasons, "diverged": [r.startswith("Divergence") for r in reasons],
        }
    )  # fmt: skip
    per_run = pd.DataFrame(
        {
            "run_id": ids,
            "collapsed": [i < collapsed for i in range(n + crashed)],
            "recovered": False,
            "final_return": np.arange(n + crashed, dtype=float),
            "best_return": 100.0,
        }
    )
    return runs, per_run


def test_three_of_ten_collapses_gives_point_three_with_scipy_wilson_bounds():
    runs, per_run = synthetic_runs(10, collapsed=3)
    table = collapse_table(runs, per_run, pd.DataFrame({"run_id": [], "kl_mean": []}))
    (row,) = table.to_dict("records")
    expected = stats.binomtest(3, 10).proportion_ci(0.95, method="wilson")
    assert row["runs"] == 10 and row["collapsed"] == 3 and row["collapse_freq"] == 0.3
    assert row["collapse_ci_low"] == pytest.approx(expected.low)
    assert row["collapse_ci_high"] == pytest.approx(expected.high)
    assert row["collapse_ci_low"] == pytest.approx(0.1078, abs=1e-4)  # textbook Wilson for 3/10
    assert row["final_return"] == pytest.approx(4.5)


def test_diverged_runs_count_as_collapsed_and_crashes_are_excluded():
    runs, per_run = synthetic_runs(10, collapsed=2, diverged=1, crashed=2)
    (row,) = collapse_table(runs, per_run, pd.DataFrame({"run_id": [], "kl_mean": []})).to_dict(
        "records"
    )
    assert (
        row["runs"] == 10
        and row["collapsed"] == 3
        and row["diverged"] == 1
        and row["excluded"] == 2
    )


def test_wilson_interval_of_no_trials_is_undefined():
    assert all(np.isnan(wilson_interval(0, 0)))


def test_run_weighted_auc_matches_mann_whitney_and_sklearn_with_ties():
    """The bootstrap's AUC against two independent ones: Mann–Whitney U (scipy) with every
    run weighted 1, and sklearn's roc_auc_score with each example weighted by its run's
    resample count."""
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 5, 300).astype(float)
    positive = rng.random(300) < 0.3
    run_index = rng.integers(0, 20, 300)
    ranked = RankedScores(scores, positive, run_index)
    u = stats.mannwhitneyu(scores[positive], scores[~positive]).statistic
    assert ranked.auc(np.ones(20)) == pytest.approx(u / (positive.sum() * (~positive).sum()))
    for _ in range(5):
        counts = np.bincount(rng.integers(0, 20, 20), minlength=20)
        expected = roc_auc_score(positive, scores, sample_weight=counts[run_index])
        assert ranked.auc(counts) == pytest.approx(expected, rel=1e-12)
