"""The robustness table on synthetic return curves whose collapses are known by hand."""

import numpy as np
import pandas as pd
import pytest

from analysis.collapse import CollapseRule
from analysis.robustness import definition_robustness, definitions

# Every curve holds 1,000 (a gain of 1,000 over its initial return 0) for 20 updates, then:
SHAPES = {
    "sustained_40": [600.0] * 20,  # falls by 40% of the gain for good
    "sustained_60": [400.0] * 20,
    "sustained_80": [200.0] * 20,
    "dip_1": [0.0] + [1000.0] * 19,  # one batch at 0, then back
    "dip_2": [0.0, 0.0] + [1000.0] * 18,  # two batches at 0
}
# By hand, the mean over the next h batches after update 20 against the floor 1,000 − f·1,000:
EXPECTED_RUNS = {
    (0.5, 3): {"sustained_60", "sustained_80", "dip_2"},  # dip_1: 667 > 500
    (0.3, 3): set(SHAPES),  # dip_1: 667 < 700
    (0.7, 3): {"sustained_80"},  # dip_2: 333 > 300
    (0.5, 1): {"sustained_60", "sustained_80", "dip_1", "dip_2"},
    (0.5, 5): {"sustained_60", "sustained_80"},  # dip_2: 600 > 500
}


def synthetic_study() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(0)
    frames, runs = [], []
    for name, tail in [*SHAPES.items(), ("control", SHAPES["dip_1"])]:
        returns = np.array([1000.0] * 20 + tail)
        algo = "hold" if name == "control" else "trpo"
        kl = 0.0 if algo == "hold" else 10.0 ** rng.uniform(-3, 0, len(returns))
        frames.append(pd.DataFrame({"run_id": name, "algo": algo, "variant": algo, "env": "Hopper-v5",
                                    "update": np.arange(1, len(returns) + 1), "return_mean": returns,
                                    "kl_mean": kl, "kl_max": kl}))  # fmt: skip
        runs.append({"run_id": name, "updates": len(returns), "baseline_return": 0.0,
                     "history_returns": None})  # fmt: skip
    return pd.concat(frames, ignore_index=True), pd.DataFrame(runs)


def test_each_definition_finds_exactly_the_collapses_it_should():
    updates, done = synthetic_study()
    tried = definitions(0.5, 3, [0.3, 0.7], [1, 5])
    assert tried == list(EXPECTED_RUNS)
    rules = {"Hopper-v5": CollapseRule(min_gain=500.0)}
    table = definition_robustness(updates, done, rules, tried, 0.1, 0.5, 0, 0).set_index(
        ["drop_frac", "horizon"]
    )
    for definition, expected in EXPECTED_RUNS.items():
        assert table.at[definition, "collapsed_runs"] == len(expected), definition
    # the zero-dose run has the shape of dip_1: a false alarm exactly where dip_1 collapses
    for definition, expected in EXPECTED_RUNS.items():
        assert (table.at[definition, "zero_dose_collapses"] > 0) == ("dip_1" in expected)
    assert (table["zero_dose_updates"] > 0).all()


@pytest.mark.parametrize(("drop_frac", "horizon"), [(0.3, 3), (0.5, 1)])
def test_the_reports_own_definition_comes_first_and_is_not_repeated(drop_frac, horizon):
    tried = definitions(drop_frac, horizon, [0.3, 0.7], [1, 5])
    assert tried[0] == (drop_frac, horizon) and len(tried) == len(set(tried)) == 4
