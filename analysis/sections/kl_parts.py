"""Which part of the KL carries the risk? For a diagonal Gaussian, an update's
KL(π_old‖π_new) is the part spent moving the action mean (kl_shift) plus the part spent
changing its spread (kl_scale), in closed form (algos.kl.gaussian_kl_parts); only for
records that log both. Two fits of the per-update dose–response say whether the split
matters:

- both parts as doses (log10 of each, with the strata and progress): each part's odds
  ratio per decade at fixed other part;
- the total as the dose plus the share spent moving the mean (kl_shift / kl_mean): does
  the risk at equal KL depend on where the KL went?
"""

import numpy as np
import pandas as pd

from analysis.cells import interval, p_text
from analysis.dose_response import design, fit_logit, strata_levels
from analysis.section import Context, Finding, Part, Table, skipped

TITLE = "Which part of the KL carries the risk"
PARTS = ("kl_shift", "kl_scale")


def build(ctx: Context) -> Part | None:
    odds = part_odds_ratios(ctx.at_risk)
    if odds.empty:
        return skipped(TITLE, "no fit: the updates at risk lack kl_shift and kl_scale, or "
                              "the dose–response could not be fitted")  # fmt: skip
    shares = shift_share_summary(ctx.at_risk)
    updates_ahead = ctx.cfg.update_collapse.updates_ahead
    return Part(
        TITLE,
        data={"kl_parts": odds, "kl_shift_share": shares},
        tables=[
            Table("kl_parts",
                  f"KL(π_old‖π_new) = kl_shift (moving the action mean) + kl_scale (changing its spread). "
                  f"Logistic regressions of 'a collapse follows within {updates_ahead} updates' with the mechanism, "
                  "task and training progress: on both parts at once, and on the total with the share spent "
                  "on the shift (95% CIs clustered by run).",
                  shown_odds(odds)),
            Table("kl_shift_share", "Where each update rule spends its KL: the share of kl_mean that is kl_shift.",
                  shown_shares(shares)),
        ],
        findings=[parts_finding(odds, shares)],
    )  # fmt: skip


def shown_odds(table: pd.DataFrame) -> pd.DataFrame:
    terms = {"log10_kl_shift": "per 10× kl_shift (at fixed kl_scale)",
             "log10_kl_scale": "per 10× kl_scale (at fixed kl_shift)",
             "log10_kl": "per 10× kl_mean (at fixed share)",
             "shift_share": "share spent on the shift, {share_from:.2f} → {share_to:.2f} (its 5th to 95th "
                            "percentile, at fixed kl_mean)"}  # fmt: skip
    return pd.DataFrame(
        {
            "model": table["model"],
            "odds ratio": [terms[r.term].format(share_from=r.share_from, share_to=r.share_to)
                           for r in table.itertuples()],  # fmt: skip
            "[95% CI, clustered by run]": [interval(r.odds_ratio, r.ci_low, r.ci_high, ".3g")
                                           for r in table.itertuples()],  # fmt: skip
            "p": table["p_value"].map(p_text),
            "updates at risk (runs)": [f"{r.updates} ({r.runs})" for r in table.itertuples()],
        }
    )  # fmt: skip


def shown_shares(table: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "update rule": table["variant"],
            "updates at risk": table["updates"],
            "kl_shift / kl_mean: median (5–95 %)": [
                f"{r.shift_share_median:.2f} ({r.shift_share_p05:.2f}–{r.shift_share_p95:.2f})"
                for r in table.itertuples()
            ],
        }
    )


def parts_finding(odds, shares) -> Finding:
    terms = odds.set_index("term")
    if not np.isfinite(terms["odds_ratio"].astype(float)).all():
        return Finding(
            "The parts of the KL cannot be told apart in these data (no fit).", "kl_parts"
        )

    def text(term: str) -> str:
        r = terms.loc[term]
        return interval(r["odds_ratio"], r["ci_low"], r["ci_high"], ".3g")

    share = terms.loc["shift_share"]
    matters = share["ci_low"] > 1 or share["ci_high"] < 1
    where = ", ".join(f"{r.variant} {r.shift_share_median:.2f}" for r in shares.itertuples())
    return Finding(
        f"Per tenfold kl_shift the odds of a collapse change ×{text('log10_kl_shift')} and per tenfold "
        f"kl_scale ×{text('log10_kl_scale')}, each at the other fixed. At equal kl_mean, an update that "
        f"spends {share['share_to']:.2f} of its KL on the shift rather than {share['share_from']:.2f} (the "
        f"share's 95th and 5th percentiles) has its odds changed ×{text('shift_share')}: where the KL goes "
        f"{'matters' if matters else 'does not matter detectably'}. Median share on the shift: {where}.",
        "kl_parts",
    )  # fmt: skip


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
