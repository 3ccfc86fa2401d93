"""rliable's aggregates on score matrices whose answers are known by hand."""

import numpy as np
import pandas as pd

from analysis.aggregate import interval_estimates, score_matrix
from analysis.intervals import mean_interval


def test_iqm_of_a_known_score_matrix_equals_the_hand_computed_one():
    scores = np.arange(1.0, 9.0)[:, None]  # 8 runs, 1 task: IQM = mean of the middle half
    table = interval_estimates({"x": scores}, reps=200).iloc[0]
    assert table["iqm"] == np.mean([3.0, 4.0, 5.0, 6.0])
    assert table["mean"] == 4.5
    assert table["iqm_ci_low"] <= 4.5 <= table["iqm_ci_high"]


def test_iqm_discards_an_outlying_run_that_the_mean_keeps():
    scores = np.array([[10.0], [11.0], [12.0], [13.0], [1000.0], [9.0], [11.0], [12.0]])
    row = interval_estimates({"x": scores}, reps=200).iloc[0]
    assert row["iqm"] == np.mean(np.sort(scores[:, 0])[2:6])
    assert row["mean"] == scores.mean()


def test_score_matrix_has_one_row_per_seed_and_one_column_per_env():
    scores = pd.DataFrame({"seed": [0, 0, 1, 1, 2], "env": ["A", "B", "A", "B", "A"],
                           "score": [1.0, 2.0, 3.0, 4.0, 5.0]})  # fmt: skip
    np.testing.assert_array_equal(score_matrix(scores), [[1.0, 2.0], [3.0, 4.0]])


def test_mean_interval_brackets_the_mean_and_is_degenerate_for_one_run():
    low, high = mean_interval(np.array([1.0, 2.0, 3.0, 4.0]), reps=500)
    assert low <= 2.5 <= high
    assert mean_interval(np.array([7.0])) == (7.0, 7.0)


def test_a_bootstrap_interval_depends_on_its_seed_alone():
    """rliable resamples from NumPy's global generator; whatever state that is in, the same
    seed gives the same interval, and the caller's global state is left as it was."""
    scores = np.array([1.0, 5.0, 2.0, 8.0, 3.0, 9.0, 4.0])
    np.random.seed(1)
    first = mean_interval(scores, seed=0)
    after = np.random.random()
    np.random.seed(2)
    np.random.random(100)
    assert mean_interval(scores, seed=0) == first
    np.random.seed(1)
    mean_interval(scores, seed=0)
    assert np.random.random() == after  # the global generator is put back
