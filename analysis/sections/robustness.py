"""Does the answer depend on the collapse definition? The per-update headline refitted
under neighbouring update-level definitions (analysis.robustness)."""

import numpy as np
import pandas as pd

from analysis import display
from analysis.section import Context, Finding, Part, Table

TITLE = "Robustness to the collapse definition"


def build(ctx: Context) -> Part:
    d, r, table = ctx.cfg.dose_response, ctx.cfg.robustness, ctx.robustness
    return Part(
        TITLE,
        data={"robustness": table},
        tables=[Table("robustness",
                      "The per-update headline under the report's definition of an update-level collapse "
                      "(first row) and its neighbours, one number changed at a time: the odds ratio per "
                      f"tenfold kl_mean (95% CI clustered by run), the kl_mean where the fitted risk crosses "
                      f"{d.level:.0%} ({r.bootstrap} run-level bootstrap resamples), and the zero-dose "
                      "control's share of updates followed by a 'collapse' under the same definition.",
                      display.robustness(table))],
        findings=[robustness_finding(table)],
    )  # fmt: skip


def odds_span(table: pd.DataFrame) -> tuple[float, float] | None:
    """The smallest and largest odds ratio per tenfold kl_mean over the definitions fitted."""
    fitted = table["odds_ratio"].astype(float).dropna()
    return (float(fitted.min()), float(fitted.max())) if len(fitted) else None


def robustness_finding(table: pd.DataFrame) -> Finding:
    fitted = table[np.isfinite(table["odds_ratio"].astype(float))]
    if fitted.empty:
        return Finding("Under no collapse definition tried can the data be fitted.", "robustness")
    crossing = fitted["crossing_kl"].dropna()
    span = (
        f"; the crossing KL from {crossing.min():.2g} to {crossing.max():.2g} nats"
        if len(crossing)
        else ""
    )
    return Finding(
        f"Across {len(table)} collapse definitions (drop_frac {', '.join(f'{v:g}' for v in sorted(table['drop_frac'].unique()))}; "
        f"horizon {', '.join(str(v) for v in sorted(table['horizon'].unique()))}), the odds ratio per tenfold "
        f"kl_mean runs from {fitted['odds_ratio'].min():.2g} to {fitted['odds_ratio'].max():.2g}{span}.",
        "robustness",
    )  # fmt: skip
