"""The multiverse on synthetic return curves whose collapses each definition must find."""

import numpy as np
import pandas as pd

from analysis.bands import ZERO, Evidence
from analysis.collapse import CollapseRule
from analysis.multiverse import AHEAD, DEFINITION, definition_grid, multiverse, per_definition

# Every curve holds 1,000 (a gain of 1,000 over its initial return 0) for 20 updates, then:
SHAPES = {
    "sustained_40": [600.0] * 20,  # falls by 40% of the gain for good
    "sustained_60": [400.0] * 20,
    "sustained_80": [200.0] * 20,
    "dip_1": [0.0] + [1000.0] * 19,  # one batch at 0, then back
    "dip_2": [0.0, 0.0] + [1000.0] * 18,  # two batches at 0
}
GRID = definition_grid([0.3, 0.4, 0.5, 0.6, 0.7], [1, 2, 3, 5, 8])


def collapses_by_hand(drop_frac: float, updates_ahead: int) -> set[str]:
    """The update before the fall sees the most of it: it collapses when the mean of the
    next `updates_ahead` batches is below 1,000 − drop_frac × 1,000."""
    return {
        name
        for name, tail in SHAPES.items()
        if np.mean(tail[:updates_ahead]) < 1000 * (1 - drop_frac)
    }


def synthetic_study() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(0)
    frames, runs = [], []
    for name, tail in [*SHAPES.items(), ("control", SHAPES["dip_1"])]:
        returns = np.array([1000.0] * 20 + tail)
        algo = "hold" if name == "control" else "trpo"
        kl = 0.0 if algo == "hold" else 10.0 ** rng.uniform(-3, 0, len(returns))
        frames.append(pd.DataFrame({"run_id": name, "algo": algo, "variant": algo, "env": "Hopper-v5",
                                    "step_size": 0.0, "update": np.arange(1, len(returns) + 1),
                                    "return_mean": returns, "kl_mean": kl, "kl_max": kl}))  # fmt: skip
        runs.append({"run_id": name, "updates": len(returns), "baseline_return": 0.0,
                     "history_returns": None})  # fmt: skip
    return pd.concat(frames, ignore_index=True), pd.DataFrame(runs)


def test_every_definition_finds_exactly_its_own_collapses():
    updates, done = synthetic_study()
    rules = {"Hopper-v5": CollapseRule(min_gain=500.0)}
    table = multiverse(updates, done, rules, GRID, [0.01, 0.1], Evidence(1, 1, 0.05))
    definitions = per_definition(table).set_index(DEFINITION)
    assert len(definitions) == 25
    found = set()
    for definition in GRID:
        expected = collapses_by_hand(*definition)
        found |= {len(expected)}
        assert definitions.at[definition, "collapsed_runs"] == len(expected), definition
        zero = table[(table["drop_frac"] == definition[0]) & (table[AHEAD] == definition[1])
                     & (table["band"] == ZERO)].iloc[0]  # fmt: skip
        # the zero-dose run has the shape of dip_1: a false alarm exactly where dip_1 collapses
        assert (zero["collapses"] > 0) == ("dip_1" in expected), definition
    assert len(found) >= 4  # the grid separates the shapes, it does not find the same everywhere
