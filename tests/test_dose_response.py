"""The per-update dose–response against known answers: synthetic updates drawn from a
known logistic relation between log10 KL and collapse, and bins and Wilson intervals
computed independently with numpy and statsmodels."""

import numpy as np
import pandas as pd
from scipy.special import expit, logit
from statsmodels.stats.proportion import proportion_confint

from analysis.dose_response import (
    collapse_by_run_kl,
    fitted_curve,
    kl_bins,
    logistic_dose_response,
    mechanism_odds_ratios,
)

SLOPE, INTERCEPT, PROGRESS_EFFECT = 0.8, -1.5, -0.6  # per decade of KL: odds × e^0.8 ≈ 2.23
ALGO_EFFECT = {"pg": 0.0, "ppo": -0.4, "trpo": 0.3}


def synthetic_trials(seed: int, runs: int = 60, updates: int = 80) -> pd.DataFrame:
    """Updates of `runs` runs; P(collapse) = expit(INTERCEPT + SLOPE log10 KL +
    PROGRESS_EFFECT progress + ALGO_EFFECT[algo]); each run has its own typical KL."""
    rng = np.random.default_rng(seed)
    algos = np.array(list(ALGO_EFFECT))[np.arange(runs) % 3]
    run_log_kl = rng.uniform(-3.0, 1.0, runs)
    frame = pd.DataFrame(
        {
            "run_id": np.repeat([f"r{i}" for i in range(runs)], updates),
            "algo": np.repeat(algos, updates),
            "progress": np.tile(np.arange(1, updates + 1) / updates, runs),
        }
    )
    log_kl = np.repeat(run_log_kl, updates) + rng.normal(0.0, 0.5, len(frame))
    effect = frame["algo"].map(ALGO_EFFECT).to_numpy()
    p = expit(INTERCEPT + SLOPE * log_kl + PROGRESS_EFFECT * frame["progress"] + effect)
    return frame.assign(variant=frame["algo"], kl_mean=10.0**log_kl,
                        collapse=rng.random(len(frame)) < p)  # fmt: skip


def test_odds_ratio_ci_covers_the_true_one_in_at_least_90_percent_of_replicates():
    covered = 0
    for seed in range(50):
        pooled = logistic_dose_response(synthetic_trials(seed), resamples=0).iloc[0]
        assert pooled["scope"] == "all"
        covered += pooled["odds_ratio_ci_low"] <= np.exp(SLOPE) <= pooled["odds_ratio_ci_high"]
    assert covered >= 45


def test_per_algo_odds_ratio_cis_cover_the_common_slope_in_at_least_85_percent():
    covered = []
    for seed in range(20):
        dose = logistic_dose_response(synthetic_trials(100 + seed), resamples=0)
        per_algo = dose[dose["scope"] != "all"]
        covered += list(
            (per_algo["odds_ratio_ci_low"] <= np.exp(SLOPE))
            & (np.exp(SLOPE) <= per_algo["odds_ratio_ci_high"])
        )
    assert len(covered) == 60 and np.mean(covered) >= 0.85


def test_crossing_kl_matches_the_true_model_and_its_bootstrap_interval_covers_it():
    dose = logistic_dose_response(synthetic_trials(1, runs=120), level=0.1, progress=0.5,
                                  resamples=100, seed=0).set_index("scope")  # fmt: skip
    true_log_kl = (logit(0.1) - INTERCEPT - PROGRESS_EFFECT * 0.5 - ALGO_EFFECT["trpo"]) / SLOPE
    assert abs(np.log10(dose.at["trpo", "crossing_kl"]) - true_log_kl) < 0.5
    assert (
        dose.at["trpo", "crossing_ci_low"]
        <= 10.0**true_log_kl
        <= dose.at["trpo", "crossing_ci_high"]
    )


def test_bins_and_wilson_intervals_equal_numpy_and_statsmodels():
    trials = synthetic_trials(2)
    bins = kl_bins(trials, per_decade=2, min_updates=30)
    pooled = bins[bins["scope"] == "all"]
    edges = 10.0 ** (np.arange(-10, 6) / 2)
    counts, _ = np.histogram(trials["kl_mean"], edges)
    hits, _ = np.histogram(trials.loc[trials["collapse"], "kl_mean"], edges)
    expected = pd.DataFrame({"kl_low": edges[:-1], "updates": counts, "collapses": hits})
    expected = expected[expected["updates"] > 0].reset_index(drop=True)
    np.testing.assert_allclose(pooled["kl_low"], expected["kl_low"])
    np.testing.assert_array_equal(pooled["updates"], expected["updates"])
    np.testing.assert_array_equal(pooled["collapses"], expected["collapses"])
    low, high = proportion_confint(expected["collapses"], expected["updates"], method="wilson")
    np.testing.assert_allclose(pooled["ci_low"], low, atol=1e-12)
    np.testing.assert_allclose(pooled["ci_high"], high, atol=1e-12)
    assert (pooled["shown"] == (pooled["updates"] >= 30)).all()


def test_zero_kl_updates_are_left_out_of_the_log_scale():
    trials = synthetic_trials(3).assign(kl_mean=lambda f: f["kl_mean"].where(f.index % 10 > 0, 0.0))
    bins = kl_bins(trials)
    assert bins.loc[bins["scope"] == "all", "updates"].sum() == (trials["kl_mean"] > 0).sum()


def test_run_level_quantile_bins_hold_every_run_once_with_wilson_intervals():
    rng = np.random.default_rng(0)
    size = 10.0 ** rng.uniform(-3, 1, 40)
    per_run = pd.DataFrame({"run_id": range(40), "algo": "pg", "run_kl_median": size,
                            "run_kl_max": size * 5, "collapsed": size > 0.3})  # fmt: skip
    table = collapse_by_run_kl(per_run, quantiles=4)
    assert set(table["measure"]) == {"run_kl_median", "run_kl_max"}
    for _, rows in table.groupby("measure"):
        assert rows["runs"].sum() == 40 and len(rows) == 4
    low, high = proportion_confint(table["collapsed"], table["runs"], method="wilson")
    np.testing.assert_allclose(table["ci_low"], low, atol=1e-12)
    np.testing.assert_allclose(table["ci_high"], high, atol=1e-12)


def test_mechanism_odds_ratios_at_matched_kl_cover_the_true_effects():
    covered, excluded_one = [], 0
    for seed in range(20):
        ratios = mechanism_odds_ratios(synthetic_trials(200 + seed, runs=90), "trpo")
        assert list(ratios["mechanism"]) == ["pg", "ppo"]
        truth = np.exp([ALGO_EFFECT[m] - ALGO_EFFECT["trpo"] for m in ratios["mechanism"]])
        covered += list((ratios["ci_low"] <= truth) & (truth <= ratios["ci_high"]))
        row = ratios.set_index("mechanism").loc["ppo"]  # true OR e^-0.7 ≈ 0.50
        excluded_one += row["ci_high"] < 1.0
    assert np.mean(covered) >= 0.85
    assert excluded_one >= 10  # and the test has the power to see a real difference


def test_fitted_curve_band_covers_the_true_pooled_curve():
    trials = synthetic_trials(3, runs=120)
    kl = np.logspace(-2.5, 0.5, 7)
    curve = fitted_curve(trials, kl, progress=0.5, resamples=100, seed=0)
    shares = trials["algo"].value_counts(normalize=True)
    effect = sum(ALGO_EFFECT[a] * shares[a] for a in ALGO_EFFECT)
    truth = expit(INTERCEPT + SLOPE * np.log10(kl) + PROGRESS_EFFECT * 0.5 + effect)
    assert np.all((curve["low"] <= truth) & (truth <= curve["high"]))
    assert np.all(np.diff(curve["p"]) > 0) and np.all(curve["high"] - curve["low"] < 0.2)
