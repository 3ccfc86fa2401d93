"""The answer's bands against counts and tests worked out by hand, and the odds ratio that a
separation leaves undefined."""

import numpy as np
import pandas as pd
import pytest
from scipy.stats import fisher_exact

from analysis.bands import (
    ZERO,
    Evidence,
    band_rates,
    replication,
    runs_kept_under,
    safe_band,
)
from analysis.dose_response import logistic_dose_response, mechanism_odds_ratios
from analysis.sections.mechanisms import shown_odds

EDGES = [0.01, 0.1, 1.0]
EVIDENCE = Evidence(min_updates=50, min_runs=2, alpha=0.05)
# per band: (kl of its updates, collapses per run), 4 runs of 100 updates each
DESIGN = {
    "hold": (0.0, [1, 0, 1, 0]),  # the zero dose: 2/400
    "small": (0.01, [0, 1, 1, 0]),  # on the edge: ≤ 0.01, 2/400, as the zero dose
    "mid": (0.1, [1, 1, 0, 1]),  # on the edge: 0.01–0.1, 3/400, not detectably above
    "large": (0.3, [5, 6, 4, 5]),  # 0.1–1: 20/400, above
}


def study(design: dict = DESIGN) -> pd.DataFrame:
    frames = []
    for name, (kl, collapses) in design.items():
        for seed, k in enumerate(collapses):
            outcome = np.zeros(100, bool)
            outcome[:k] = True
            frames.append(pd.DataFrame({"run_id": f"{name}-{seed}", "algo": "hold" if name == "hold" else "trpo",
                                        "variant": name, "env": "Hopper-v5", "step_size": kl, "kl_mean": kl,
                                        "collapse": outcome, "at_risk": True}))  # fmt: skip
    return pd.concat(frames, ignore_index=True)


def test_band_rates_are_the_counts_and_fishers_test_against_the_zero_dose():
    rates = band_rates(study(), EDGES, EVIDENCE).set_index("band")
    assert list(rates.index) == [ZERO, "≤ 0.01", "0.01–0.1", "0.1–1", "> 1"]
    assert (rates.at[ZERO, "collapses"], rates.at[ZERO, "updates"], rates.at[ZERO, "runs"]) == (
        2,
        400,
        4,
    )
    assert (rates.at["0.1–1", "collapses"], rates.at["0.1–1", "updates"]) == (20, 400)
    assert rates.at["0.1–1", "ratio"] == pytest.approx(10.0)
    expected = fisher_exact([[20, 380], [2, 398]], alternative="greater")[1]
    assert rates.at["0.1–1", "p_value"] == pytest.approx(expected)
    assert rates.at["0.1–1", "above"] and not rates.at["0.01–0.1", "above"]
    assert rates.at["> 1", "updates"] == 0 and not rates.at["> 1", "enough"]


def test_the_safe_band_ends_before_the_first_band_above_and_runs_kept_in_it_are_counted_once():
    rates = band_rates(study(), EDGES, EVIDENCE)
    safe = safe_band(rates)
    assert safe["band"] == "0.01–0.1"
    kept = runs_kept_under(study(), safe["kl_high"])
    # small and mid runs (8) stayed ≤ 0.1 nats; those with any collapse: 2 + 3; the zero dose: 2 of 4
    assert kept == {"runs": 8, "collapsed": 5, "zero_runs": 4, "zero_collapsed": 2}


def test_a_zero_dose_with_too_few_updates_gives_no_safe_band():
    thin = study()
    thin = thin[
        (thin["variant"] != "hold") | (thin["run_id"] == "hold-0")
    ]  # 100 updates from 1 run
    assert safe_band(band_rates(thin, EDGES, EVIDENCE)) is None


def test_a_band_without_the_evidence_ends_the_safe_band():
    strict = Evidence(min_updates=50, min_runs=5, alpha=0.05)  # 4 runs a band: never enough
    assert safe_band(band_rates(study(), EDGES, strict)) is None


def test_identical_seeds_replicate_every_statement():
    data = study()
    same = data[data["run_id"].str.endswith("-0")].copy()  # seed 0 of each setting, repeated
    copies = pd.concat(
        [same.assign(run_id=same["run_id"] + f"#{i}") for i in range(4)], ignore_index=True
    )
    shares = replication(copies, EDGES, EVIDENCE, 20, 0).set_index("band")
    assert shares.at["0.1–1", "above_share"] == 1.0
    assert shares.loc[:, "safe_edge_share"].sum() == 1.0


def separated_study() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frames = []
    for variant, rate in [("trpo", 0.05), ("pg", 0.1), ("ppo", 0.0)]:  # ppo: no collapse at all
        for seed in range(6):
            kl = 10 ** rng.uniform(-3, 0, 200)
            frames.append(pd.DataFrame({"run_id": f"{variant}-{seed}", "algo": variant, "variant": variant,
                                        "env": "Hopper-v5", "kl_mean": kl, "progress": np.linspace(0, 1, 200),
                                        "collapse": rng.random(200) < rate * (1 + np.log10(kl) / 4)}))  # fmt: skip
    return pd.concat(frames, ignore_index=True)


def test_a_separated_mechanism_gets_no_odds_ratio():
    odds = mechanism_odds_ratios(separated_study(), "trpo").set_index("mechanism")
    assert odds.at["ppo", "separated"] and np.isnan(odds.at["ppo", "odds_ratio"])
    assert np.isfinite(odds.at["pg", "odds_ratio"])
    shown = shown_odds(odds.reset_index()).iloc[:, 3].tolist()
    assert any(cell.startswith("no odds ratio: none observed (0/1200") for cell in shown)


def test_complete_separation_on_kl_prints_no_odds_ratio():
    data = separated_study()
    data["collapse"] = data["kl_mean"] > 0.1  # every update above 0.1 nats, none below
    pooled = logistic_dose_response(data, resamples=0, pooled_only=True).iloc[0]
    assert np.isnan(pooled["odds_ratio"]) and np.isnan(pooled["crossing_kl"])
