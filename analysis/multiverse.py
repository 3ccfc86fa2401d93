"""Every reasonable definition at once: the answer's band rates, its safe band and the odds
ratio per decade of KL, recomputed under a grid of update-level collapse definitions
(drop_frac × updates_ahead). The first screen quotes what holds across the whole grid and says
how far the rest moves; the specification curve (analysis.sections.multiverse) shows all of it.
`study_multiverse` is a study's grid, computed once for both. A definition's updates_ahead
is the column `horizon` (AHEAD) of its table, the name multiverse.csv has always had.
"""

from dataclasses import replace

import numpy as np
import pandas as pd

from analysis.bands import (
    ZERO,
    Evidence,
    band_rates,
    evidence,
    first_above,
    is_control,
    safe_band,
)
from analysis.collapse import CollapseRule
from analysis.dose_response import logistic_dose_response, update_trials
from analysis.per_study import once_per_study
from analysis.section import Context
from analysis.vocabulary import ALL

AHEAD = "horizon"  # the column of a definition's updates_ahead
DEFINITION = ["drop_frac", AHEAD]  # the columns that name a definition


def definition_grid(drop_fracs, updates_ahead) -> list[tuple[float, int]]:
    return [(float(d), int(h)) for h in updates_ahead for d in drop_fracs]


def multiverse(
    updates: pd.DataFrame,
    done: pd.DataFrame,
    rules: dict[str, CollapseRule],
    grid: list[tuple[float, int]],
    edges,
    evidence: Evidence,
) -> pd.DataFrame:
    """One row per definition × band (the zero dose's first): band_rates' columns, with the
    moved runs that had at least one collapse, the definition's safe band (its upper edge,
    NaN for none), the first band above the zero dose, and the pooled odds ratio per tenfold
    kl_mean (NaN where the fit is degenerate). Each definition applies each env's own
    update-level rule (`rule.outcomes`, the configured one) at its drop_frac and updates_ahead."""
    frames = []
    for drop_frac, updates_ahead in grid:
        defined = {env: replace(rule, drop_frac=drop_frac) for env, rule in rules.items()}
        trials = update_trials(updates, done, defined, updates_ahead)
        at_risk = trials[trials["at_risk"].astype(bool)]
        rates = band_rates(at_risk, edges, evidence)
        safe, above = safe_band(rates), first_above(rates)
        pooled = logistic_dose_response(at_risk, resamples=0, pooled_only=True).set_index("scope")
        moved = at_risk[~is_control(at_risk)]
        frames.append(rates.assign(
            drop_frac=drop_frac, **{AHEAD: updates_ahead},
            collapsed_runs=moved.loc[moved["collapse"].astype(bool), "run_id"].nunique(),
            safe_kl=np.nan if safe is None else safe["kl_high"],
            first_above_kl=np.nan if above is None else above["kl_low"],
            odds_ratio=pooled.at[ALL, "odds_ratio"] if ALL in pooled.index else np.nan,
        ))  # fmt: skip
    data = pd.concat(frames, ignore_index=True)
    return data[DEFINITION + [c for c in data.columns if c not in DEFINITION]]


@once_per_study
def study_multiverse(ctx: Context) -> pd.DataFrame:
    """The study's answer (band rates) under every collapse definition of the grid."""
    m = ctx.cfg.multiverse
    return multiverse(ctx.updates, ctx.done, ctx.rules, definition_grid(m.drop_fracs, m.updates_ahead),
                      ctx.cfg.answer.bands, evidence(ctx.cfg))  # fmt: skip


def across(table: pd.DataFrame) -> pd.DataFrame:
    """Per band (the zero dose first): over the definitions, how many there are, in how
    many the band holds the evidence, in how many it is above the zero dose, and the range
    of its rate and of its ratio to the zero dose's."""
    rows = []
    for band, part in table.groupby("band", sort=False):
        ratios = part["ratio"][np.isfinite(part["ratio"])] if band != ZERO else part["ratio"][:0]
        rows.append({"band": band, "definitions": len(part), "enough": int(part["enough"].sum()),
                     "above": int((part["above"] & part["enough"]).sum()) if band != ZERO else 0,
                     "p_min": part["p"].min(), "p_max": part["p"].max(),
                     "ratio_min": ratios.min() if len(ratios) else np.nan,
                     "ratio_max": ratios.max() if len(ratios) else np.nan,
                     "zero_rate_definitions": int((part["p"] == 0).sum()) if band == ZERO else 0})  # fmt: skip
    return pd.DataFrame(rows)


def per_definition(table: pd.DataFrame) -> pd.DataFrame:
    """One row per definition: its moved runs with a collapse, its safe band's edge, its
    first band above the zero dose and its odds ratio per tenfold kl_mean."""
    return (
        table.groupby(DEFINITION, sort=False)[
            ["collapsed_runs", "safe_kl", "first_above_kl", "odds_ratio"]
        ]
        .first()
        .reset_index()
    )
