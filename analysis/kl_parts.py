"""Which part of the KL carries the risk? For a diagonal Gaussian, an update's
KL(π_old‖π_new) is the part spent moving the action mean (kl_shift) plus the part spent
changing its spread (kl_scale), in closed form (algos.kl.gaussian_kl_parts). Two fits of
the per-update dose–response say whether the split matters:

- both parts as doses (log10 of each, with the strata and progress): each part's odds
  ratio per decade at fixed other part;
- the total as the dose plus the share spent moving the mean (kl_shift / kl_mean): does
  the risk at equal KL depend on where the KL went?
"""

import numpy as np
import pandas as pd

from analysis.dose_response import design, fit_logit, strata_levels

PARTS = ("kl_shift", "kl_scale")


def with_parts(trials: pd.DataFrame) -> pd.DataFrame:
    """Trials whose update moved both parts (both > 0, as logged by records that have them),
    with log10 of each, the shift's share of the KL, and log10_kl of the total."""
    have = trials.dropna(subset=list(PARTS))
    moved = have[(have["kl_shift"] > 0) & (have["kl_scale"] > 0) & (have["kl_mean"] > 0)]
    return moved.assign(
        log10_kl=np.log10(moved["kl_mean"].to_numpy(dtype=float)),
        log10_kl_shift=np.log10(moved["kl_shift"].to_numpy(dtype=float)),
        log10_kl_scale=np.log10(moved["kl_scale"].to_numpy(dtype=float)),
        shift_share=(moved["kl_shift"] / moved["kl_mean"]).to_numpy(dtype=float),
    )


def part_odds_ratios(trials: pd.DataFrame) -> pd.DataFrame:
    """One row per term: the odds ratio per decade of kl_shift and of kl_scale (fitted
    together), then of the shift's share at equal total KL, from its 5th to its 95th
    percentile (`share_from`, `share_to`: the range the data have, not an extrapolation to
    0 → 1), each with its 95% CI and p-value clustered by run; empty when there are no
    parts or no fit."""
    data = with_parts(trials)
    rows = []
    if data.empty:
        return pd.DataFrame(rows, columns=PART_COLUMNS)
    levels = strata_levels(data)
    both = design(data, levels).drop(columns="log10_kl")
    both = both.assign(log10_kl_shift=data["log10_kl_shift"], log10_kl_scale=data["log10_kl_scale"])
    share = design(data, levels).assign(shift_share=data["shift_share"])
    share_from, share_to = data["shift_share"].quantile([0.05, 0.95])
    for model, x, terms in (("both parts", both, ["log10_kl_shift", "log10_kl_scale"]),
                            ("total and share", share, ["log10_kl", "shift_share"])):  # fmt: skip
        result = fit_logit(data, levels, clustered=True, x=x)
        for term in terms:
            span = share_to - share_from if term == "shift_share" else 1.0
            row = {"model": model, "term": term, "updates": len(data),
                   "collapses": int(data["collapse"].sum()), "runs": data["run_id"].nunique(),
                   "share_from": share_from if term == "shift_share" else np.nan,
                   "share_to": share_to if term == "shift_share" else np.nan,
                   "odds_ratio": np.nan, "ci_low": np.nan, "ci_high": np.nan, "p_value": np.nan}  # fmt: skip
            if result is not None:
                low, high = result.conf_int().loc[term] * span
                row |= {"odds_ratio": float(np.exp(result.params[term] * span)), "ci_low": float(np.exp(low)),
                        "ci_high": float(np.exp(high)), "p_value": float(result.pvalues[term])}  # fmt: skip
            rows.append(row)
    return pd.DataFrame(rows, columns=PART_COLUMNS)


PART_COLUMNS = ["model", "term", "updates", "collapses", "runs", "share_from", "share_to", "odds_ratio",
                "ci_low", "ci_high", "p_value"]  # fmt: skip


def shift_share_summary(trials: pd.DataFrame) -> pd.DataFrame:
    """Per mechanism: the median share of its updates' KL spent moving the mean (5-95%)."""
    data = with_parts(trials)
    rows = [{"variant": v, "updates": len(part), "shift_share_median": part["shift_share"].median(),
             "shift_share_p05": part["shift_share"].quantile(0.05),
             "shift_share_p95": part["shift_share"].quantile(0.95)}
            for v, part in data.groupby("variant", sort=True)]  # fmt: skip
    return pd.DataFrame(rows, columns=["variant", "updates", "shift_share_median", "shift_share_p05",
                                       "shift_share_p95"])  # fmt: skip
