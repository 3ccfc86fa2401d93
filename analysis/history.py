"""A study's headline across its runs on record: `results/<study>/headlines.csv` holds one
row per earlier `make sweep` of it, as that run's report stated it; this report's row is
computed from its own tables, so how far the headline moves between machines is in view."""

import re

import numpy as np
import pandas as pd

from analysis.bands import ZERO, safe_band
from analysis.cells import interval, pct
from records.paths import REPO_ROOT

HISTORY = "headlines.csv"
SAFE = "safe band up to (nats)"
BANDS = "per-update collapse rate by kl_mean band (zero dose)"
OLD = "crossing kl_mean, nats [95% CI]"


def earlier(sweep: str) -> pd.DataFrame | None:
    path = REPO_ROOT / "results" / sweep / HISTORY
    return pd.read_csv(path) if path.exists() else None


def leading_number(cell) -> float:
    """The estimate of a cell such as `2.5 [1.3, 6.4]` (NaN for `–` or none)."""
    match = re.match(r"\s*([-+0-9.e]+)", str(cell))
    return float(match.group(1)) if match else np.nan


def history_sentence(sweep: str, safe: pd.Series | None) -> str:
    """This run's safe band against the earlier runs of the study that stated one, and what
    the old headline (the fitted crossing KL) did across the runs that stated that."""
    rows = earlier(sweep)
    if rows is None or rows.empty:
        return ""
    parts = []
    if SAFE in rows:
        stated = (
            rows[SAFE].dropna().map(lambda cell: 0.0 if cell == "none" else leading_number(cell))
        )
        if len(stated):
            same = int((stated == (safe["kl_high"] if safe is not None else 0.0)).sum())
            parts.append(f"{same} of the {len(stated)} earlier runs on record put the safe band's edge where this "
                         "one does")  # fmt: skip
    crossings = rows[OLD].map(leading_number).dropna() if OLD in rows else pd.Series(dtype=float)
    if len(crossings) > 1:
        parts.append(f"the old headline, the KL where a fitted curve crossed 10 %, moved from {crossings.min():.2g} "
                     f"to {crossings.max():.2g} nats across {len(crossings)} earlier runs")  # fmt: skip
    elif len(crossings) == 1:
        parts.append(
            f"the earlier run led with the KL where a fitted curve crossed 10 %: {crossings.iloc[0]:.2g} nats"
        )
    return (f"On record ({HISTORY}): " + "; ".join(parts) + ".") if parts else ""


def headline_row(bands: pd.DataFrame, dose: pd.Series) -> dict:
    """This run's headline in the history's columns: the safe band, the band rates beside
    the zero dose's, and the old headline's odds ratio and crossing KL (`dose`: the pooled
    row of collapse_vs_kl)."""
    zero = bands[bands["band"] == ZERO].iloc[0]
    moved = bands[(bands["band"] != ZERO) & bands["enough"].astype(bool)]
    safe = safe_edge(bands)
    return {
        SAFE: "none" if safe is None else f"{safe:g}",
        BANDS: ", ".join(f"{r.band}: {pct(r.p)}" for r in moved.itertuples())
        + f" ({int(zero['collapses'])}/{int(zero['updates'])})",
        "odds ratio per 10× kl_mean [95% CI]": interval(dose["odds_ratio"], dose["odds_ratio_ci_low"],
                                                       dose["odds_ratio_ci_high"]),
        OLD: interval(dose["crossing_kl"], dose["crossing_ci_low"], dose["crossing_ci_high"], ".2g"),
    }  # fmt: skip


def safe_edge(bands: pd.DataFrame) -> float | None:
    """The safe band's upper edge from a written answer_bands table (analysis.bands.safe_band)."""
    safe = safe_band(
        bands.assign(above=bands["above"].astype(bool), enough=bands["enough"].astype(bool))
    )
    return None if safe is None else float(safe["kl_high"])
