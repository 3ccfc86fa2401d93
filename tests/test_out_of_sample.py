"""The out-of-sample check on synthetic updates: a fit on the step-size runs predicts
held-out runs well calibrated when their knob acts only through KL, and Cox's test flags
the prediction when the knob has an effect of its own; the leave-one-run-out baselines
against a direct count."""

import numpy as np
import pandas as pd
from scipy.special import expit

from analysis.out_of_sample import calibration, left_out_rates, per_setting, predictions, scores

INTERCEPT, SLOPE = -1.5, 0.8


def runs(rng, prefix: str, count: int, updates: int, low: float, high: float, effect: float,
         setting: str | None = None) -> pd.DataFrame:  # fmt: skip
    """`count` runs, each with its own typical log10 KL in [low, high];
    P(collapse) = expit(INTERCEPT + SLOPE log10 KL + effect)."""
    log_kl = np.repeat(rng.uniform(low, high, count), updates) + rng.normal(0, 0.4, count * updates)
    p = expit(INTERCEPT + SLOPE * log_kl + effect)
    return pd.DataFrame({
        "run_id": np.repeat([f"{prefix}{i}" for i in range(count)], updates),
        "variant": "ppo", "env": "E", "setting": setting or "grid",
        "progress": np.tile(np.arange(1, updates + 1) / updates, count),
        "kl_mean": 10.0**log_kl, "collapse": rng.random(len(p)) < p, "p_true": p,
    })  # fmt: skip


def study(
    seed: int, own_effect: float, grid_runs: int = 60, updates: int = 40, held_runs: int = 10
):
    """Step-size runs over a wide KL range; held-out runs at two settings of a knob that
    moves their KL up, with `own_effect` on the logit beside what KL does: the grid's runs
    and the held-out runs with their predictions."""
    rng = np.random.default_rng(seed)
    fitted = runs(rng, "g", grid_runs, updates, -3.0, 1.0, 0.0)
    held = pd.concat([runs(rng, "a", held_runs, updates, -1.0, 0.0, own_effect, "knob=1"),
                      runs(rng, "b", held_runs, updates, 0.0, 1.0, own_effect, "knob=2")])  # fmt: skip
    return fitted, predictions(fitted, held)


def flagged(seed: int, own_effect: float) -> bool:
    fitted, scored = study(seed, own_effect, grid_runs=40, updates=30)
    return calibration(fitted, scored, resamples=50, seed=seed)["miscalibrated"]


def test_calibrated_when_the_knob_acts_only_through_kl_and_flagged_when_it_has_its_own_effect():
    calibrated = sum(flagged(seed, 0.0) for seed in range(16))
    biased = sum(flagged(100 + seed, 1.0) for seed in range(16))
    assert calibrated <= 3  # nominal 5% of 16 = 0.8; P(≥ 4 | 5%) ≈ 0.7%
    assert biased >= 14


def test_per_setting_predictions_match_the_true_risk_when_calibrated():
    for seed in range(7, 11):
        _, scored = study(seed, 0.0, held_runs=30)
        table = per_setting(scored, pd.Series(dtype=bool), resamples=100, seed=0)
        assert list(table["setting"]) == ["knob=1", "knob=2"]
        truth = scored.groupby("setting")["p_true"].mean().to_numpy()
        assert np.allclose(table["predicted_rate"], truth, atol=0.03)  # the fit's own error
        assert table.loc[1, "predicted_rate"] > table.loc[0, "predicted_rate"]  # more KL, more risk


def test_the_baselines_leave_the_scored_run_out():
    scored = pd.DataFrame({
        "run_id": ["r1", "r1", "r2", "r3", "r3", "r4"], "setting": ["x", "x", "x", "y", "y", "x"],
        "env": ["A", "A", "A", "A", "A", "B"], "collapse": [True, False, True, False, False, True],
    })  # fmt: skip
    # base rate for r1: the other runs' 2 of 4, (2 + ½)/(4 + 1); knob for r1: r2's 1 of 1 (r4 is on B)
    assert np.allclose(
        left_out_rates(scored, []), [2.5 / 5, 2.5 / 5, 2.5 / 6, 3.5 / 5, 3.5 / 5, 2.5 / 6]
    )
    assert np.allclose(left_out_rates(scored, ["env", "setting"]),
                       [1.5 / 2, 1.5 / 2, 1.5 / 3, 0.5, 0.5, 0.5])  # fmt: skip


def test_a_prediction_from_kl_beats_the_base_rate_when_kl_carries_the_risk():
    table = scores(study(3, 0.0)[1], resamples=100, seed=0).set_index("predictor")
    base = table.loc["base rate (the other held-out runs)"]
    assert base["brier_gap_low"] > 0 and base["log_loss_gap_low"] > 0
