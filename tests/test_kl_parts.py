"""Which part of the KL carries the risk, on synthetic updates whose risk depends on the
mean-shift part only: its odds ratio is recovered, the scale part's is 1, and at equal
total KL a larger share spent on the shift is riskier."""

import numpy as np
import pandas as pd
from scipy.special import expit

from analysis.sections.kl_parts import part_odds_ratios, with_parts

SLOPE = 0.9


def shift_driven(seed: int, runs: int = 80, updates: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = runs * updates
    log_shift = np.repeat(rng.uniform(-3.0, 1.0, runs), updates) + rng.normal(0, 0.4, n)
    log_scale = np.repeat(rng.uniform(-3.0, 1.0, runs), updates) + rng.normal(0, 0.4, n)
    p = expit(-1.5 + SLOPE * log_shift)
    return pd.DataFrame({
        "run_id": np.repeat([f"r{i}" for i in range(runs)], updates), "variant": "pg", "env": "E",
        "progress": np.tile(np.arange(1, updates + 1) / updates, runs),
        "kl_shift": 10.0**log_shift, "kl_scale": 10.0**log_scale,
        "kl_mean": 10.0**log_shift + 10.0**log_scale, "collapse": rng.random(n) < p,
    })  # fmt: skip


def test_the_part_that_carries_the_risk_is_found_and_the_other_is_not():
    table = part_odds_ratios(shift_driven(0)).set_index(["model", "term"])
    shift = table.loc[("both parts", "log10_kl_shift")]
    scale = table.loc[("both parts", "log10_kl_scale")]
    assert shift["ci_low"] <= np.exp(SLOPE) <= shift["ci_high"]
    assert scale["ci_low"] <= 1.0 <= scale["ci_high"]
    assert table.loc[("total and share", "shift_share"), "ci_low"] > 1.0


def test_records_without_the_parts_give_no_rows():
    trials = shift_driven(1).assign(kl_shift=np.nan, kl_scale=np.nan)
    assert with_parts(trials).empty and part_odds_ratios(trials).empty
