"""Collapse detection on synthetic return curves whose answer is known."""

import numpy as np

from analysis.collapse import CollapseRule, detect_collapse, update_outcomes

RULE = CollapseRule(smooth_window=3, min_gain=100.0, drop_frac=0.5, recover_frac=0.9)


def test_monotone_rise_does_not_collapse():
    assert not detect_collapse(np.linspace(10, 1000, 60), RULE).collapsed


def test_rise_then_crash_collapses_at_the_right_update():
    returns = np.concatenate([np.linspace(10, 1010, 30), np.full(20, 20.0)])
    result = detect_collapse(returns, RULE)
    assert result.collapsed and not result.recovered
    assert result.peak_index == 29
    # smoothed over 3: at update 30 the mean is (975.5+1010+20)/3 ≈ 668 > 510; at 31 it is ≈ 350
    assert result.index == 31
    assert result.drop > 0.95


def test_noisy_plateau_does_not_collapse():
    rng = np.random.default_rng(0)
    returns = np.concatenate([np.linspace(10, 800, 20), 800 + rng.normal(0, 60, 200)])
    assert not detect_collapse(returns, RULE).collapsed


def test_crash_and_recovery_is_a_collapse_that_recovered():
    returns = np.concatenate(
        [np.linspace(10, 1010, 20), np.full(10, 50.0), np.linspace(50, 1000, 20)]
    )
    result = detect_collapse(returns, RULE)
    assert result.collapsed and result.recovered


def test_never_learning_is_not_a_collapse():
    returns = np.array([10, 60, 15, 70, 5, 80, 12] * 5, dtype=float)  # gains < min_gain
    assert not detect_collapse(returns, RULE).collapsed


def test_update_level_collapse_flags_the_update_whose_next_batches_fell():
    # row t's return is the policy before update t; rows 5-7 are the policy after update 4
    returns = np.array([10, 200, 400, 600, 600, 100, 100, 100], dtype=float)
    flags = update_outcomes(returns, initial=10.0, rule=RULE, updates_ahead=2)[1]
    assert flags.tolist() == [False, False, False, False, True, False, False, False]


def test_update_after_the_fall_is_not_at_risk():
    returns = np.array([10, 600, 600, 600, 100, 100, 100], dtype=float)
    at_risk, collapse = update_outcomes(returns, 10.0, RULE, updates_ahead=2)
    assert at_risk.tolist() == [False, True, True, True, False, False, False]
    assert collapse.tolist() == [False, False, False, True, False, False, False]


def test_warm_start_history_sets_the_level_of_the_first_update():
    history = np.full(5, 1000.0)  # the starting policy's returns before the run's first update
    crash = np.array([1000, 20, 20, 20], dtype=float)
    assert update_outcomes(crash, 10.0, RULE, updates_ahead=2, history=history)[1][0]
    lucky_first_batch = np.array([2000, 1000, 1000, 1000], dtype=float)
    _, lucky_collapses = update_outcomes(
        lucky_first_batch, 10.0, RULE, updates_ahead=2, history=history
    )
    assert not lucky_collapses.any()


def test_run_level_history_keeps_a_lucky_first_batch_from_being_the_peak():
    returns = np.concatenate([[3000.0], np.full(30, 1000.0)])
    assert detect_collapse(returns, RULE, initial=10.0).collapsed  # 3000 alone looks like a peak
    assert not detect_collapse(returns, RULE, initial=10.0, history=np.full(5, 1000.0)).collapsed


def test_update_level_ignores_small_dips_and_unlearned_runs():
    returns = np.array([10, 500, 400, 500, 450, 500], dtype=float)
    assert not update_outcomes(returns, 10.0, RULE, updates_ahead=2)[1].any()
    assert not update_outcomes(np.array([10, 50, 0, 40.0]), 10.0, RULE, updates_ahead=2)[1].any()
