"""Does the answer depend on the collapse definition? The per-update headline (odds ratio
per decade of kl_mean, the KL where the fitted risk crosses the report's level) and the
zero-dose control's rate of update-level collapses, refitted under neighbouring
definitions of an update-level collapse: other drop fractions, other horizons."""

from dataclasses import replace

import pandas as pd

from analysis.collapse import CollapseRule
from analysis.dose_response import logistic_dose_response, update_trials
from analysis.intervals import wilson_interval
from analysis.vocabulary import ALL, CONTROLS


def definitions(drop_frac: float, horizon: int, drop_fracs, horizons) -> list[tuple[float, int]]:
    """The report's own definition first, then each neighbour varying one of its two numbers."""
    return [(drop_frac, horizon), *((d, horizon) for d in drop_fracs if d != drop_frac),
            *((drop_frac, h) for h in horizons if h != horizon)]  # fmt: skip


def definition_robustness(
    updates: pd.DataFrame,
    done: pd.DataFrame,
    rules: dict[str, CollapseRule],
    tried: list[tuple[float, int]],
    level: float,
    progress: float,
    resamples: int,
    seed: int,
) -> pd.DataFrame:
    """One row per (drop_frac, horizon) of `tried`: the updates at risk and their collapses
    (the moved ones, which the fit uses), the runs with at least one, the zero-dose rate with its Wilson interval, and
    the pooled fit's odds ratio and crossing KL with their intervals."""
    rows = []
    for drop_frac, horizon in tried:
        defined = {env: replace(rule, drop_frac=drop_frac) for env, rule in rules.items()}
        trials = update_trials(updates, done, defined, horizon)
        at_risk = trials[trials["at_risk"].astype(bool)]
        control = at_risk[at_risk["algo"].isin(CONTROLS)]
        moved = at_risk[~at_risk["algo"].isin(CONTROLS)]
        k, n = int(control["collapse"].sum()), len(control)
        zero_low, zero_high = wilson_interval(k, n)
        dose = logistic_dose_response(at_risk, level, progress, resamples, seed, pooled_only=True)
        pooled = dose.set_index("scope").loc[ALL]
        rows.append({
            "drop_frac": drop_frac, "horizon": horizon, "updates": int(pooled["updates"]),
            "collapses": int(pooled["collapses"]), "runs": int(pooled["runs"]),
            "collapsed_runs": moved.loc[moved["collapse"].astype(bool), "run_id"].nunique(),
            "zero_dose_updates": n, "zero_dose_collapses": k,
            "zero_dose_p": k / n if n else float("nan"), "zero_dose_ci_low": zero_low,
            "zero_dose_ci_high": zero_high,
            **{c: pooled[c] for c in ("odds_ratio", "odds_ratio_ci_low", "odds_ratio_ci_high",
                                      "crossing_kl", "crossing_ci_low", "crossing_ci_high")},
        })  # fmt: skip
    return pd.DataFrame(rows)
