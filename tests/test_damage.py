"""Damage quantiles: the return change recovered from synthetic runs whose change
distribution per KL is known, and the return change of a curve worked out by hand."""

import numpy as np
import pandas as pd
import pytest

from analysis.collapse import return_change
from analysis.damage import ZERO_BIN, damage_quantiles

# per dose: the return change of every update, uniform on (low, high)
KNOWN = {0.0: (-0.05, 0.05), 0.003: (-0.1, 0.1), 3.0: (-0.9, 0.1)}


def synthetic(runs: int = 20, updates: int = 100) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frames = []
    for kl, (low, high) in KNOWN.items():
        for seed in range(runs):
            frames.append(pd.DataFrame({"run_id": f"{kl}-{seed}", "algo": "hold" if kl == 0 else "pg",
                                        "kl_mean": kl, "gained": True,
                                        "return_change": rng.uniform(low, high, updates)}))  # fmt: skip
    return pd.concat(frames, ignore_index=True)


def test_the_quantiles_of_a_known_distribution_are_recovered():
    table = damage_quantiles(synthetic(), resamples=50)
    for kl, (low, high) in KNOWN.items():
        rows = (
            table[table["bin"] == ZERO_BIN]
            if kl == 0
            else table[(table["kl_low"] <= kl) & (kl < table["kl_high"])]
        )
        assert set(rows["updates"]) == {2000}
        for row in rows.itertuples():
            assert row.return_change == pytest.approx(low + row.quantile * (high - low), abs=0.03)
            assert row.ci_low <= row.return_change <= row.ci_high


def test_updates_without_a_gain_are_left_out():
    data = synthetic()
    data.loc[data["kl_mean"] == 3.0, "gained"] = False
    table = damage_quantiles(data, resamples=0)
    assert not (table["kl_low"] > 1).any()
    assert set(table["updates"]) == {2000}  # the zero dose and the small dose stay
    assert (table["bin"] == ZERO_BIN).sum() == 3 and len(table) == 6


def test_the_bands_resample_runs_not_updates():
    """Each run's updates share one return change: ten runs are ten observations, and the
    median's interval is as wide as ten draws make it (resampling updates would make it narrow)."""
    values = np.linspace(-0.5, 0.5, 10)
    data = pd.DataFrame({"run_id": np.repeat(np.arange(10), 100), "algo": "pg", "kl_mean": 0.003,
                         "gained": True, "return_change": np.repeat(values, 100)})  # fmt: skip
    median = damage_quantiles(data, quantiles=(0.5,), resamples=200).iloc[-1]
    assert median["ci_high"] - median["ci_low"] > 0.3


def test_return_change_is_the_next_mean_against_the_last_as_a_share_of_the_gain():
    returns = np.array([100.0, 100.0, 40.0, 40.0, 100.0])
    change = return_change(returns, initial=0.0, updates_ahead=2)
    # update 2: level (100 + 100) / 2, next two (40 + 40) / 2, gain 100: −60 %
    assert change[1] == pytest.approx(-0.6)
    # update 3: level 70, next (40 + 100) / 2 = 70: no change
    assert change[2] == pytest.approx(0.0)
    assert np.isnan(change[-1])  # nothing after the last update
