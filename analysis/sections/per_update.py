"""Per update: does a larger update (its measured kl_mean) make a collapse within the next
few updates more likely? Binned probabilities and a logistic dose–response on log10 KL
(analysis.dose_response), with the KL where the fitted risk crosses the report's level."""

import numpy as np
import pandas as pd

from analysis import display, plots
from analysis.display import interval
from analysis.dose_response import kl_bins, logistic_dose_response
from analysis.section import Context, Figure, Finding, Part, Table
from analysis.vocabulary import ALL

TITLE = "Update size and collapse, per update"


def build(ctx: Context) -> Part:
    cfg, d, horizon = ctx.cfg, ctx.cfg.dose_response, ctx.cfg.update_collapse.horizon
    at_risk, dose = ctx.at_risk, ctx.dose
    bins = kl_bins(at_risk, "kl_mean", d.bins_per_decade, d.min_updates)
    dose_kl_max = logistic_dose_response(at_risk, d.level, d.progress, 0, cfg.seed, "kl_max")
    level = f"{d.level:.0%}"
    return Part(
        TITLE,
        data={"collapse_vs_kl_bins": bins,
              "collapse_vs_kl": pd.concat([dose.assign(dose="kl_mean"),
                                           dose_kl_max.assign(dose="kl_max")])},
        tables=[
            Table("collapse_vs_kl",
                  f"Per update: logistic regression of 'a collapse follows within {horizon} updates' on "
                  f"log10 kl_mean, with the mechanism (update rule and variant) and training progress as covariates (statsmodels; standard "
                  f"errors clustered by run); 'all' pools the algos. Level = {level}, for an update "
                  f"{d.progress:.0%} of the way through its run; its interval is a percentile bootstrap "
                  f"over runs ({d.bootstrap} resamples).",
                  display.dose_response(dose).rename(columns=lambda c: c.replace("level", level))),
            Table("collapse_vs_kl_bins",
                  f"Per update: P(collapse) in half-decade bins of kl_mean (bins with ≥ {d.min_updates} "
                  "updates at risk), 95% Wilson intervals.",
                  display.kl_bins(bins)),
            Table("collapse_vs_kl_max",
                  "The same regression on log10 kl_max (the largest per-state KL of the update) "
                  "instead of kl_mean (no bootstrap for its crossing).",
                  display.dose_response(dose_kl_max).rename(
                      columns=lambda c: c.replace("kl_mean", "kl_max").replace("level", level)),
                  csv="collapse_vs_kl"),
        ],
        figures=[
            Figure("collapse_vs_kl",
                   plots.collapse_vs_kl(figure_bins(ctx), ctx.kl_bounds, d.min_updates, ctx.figure_stem("collapse_vs_kl"),
                                        ctx.zero_dose_by_task if len(ctx.tasks) > 1 else None),
                   f"The answer per update: P(a collapse follows within {horizon} updates) for "
                   f"half-decade bins of the update's kl_mean, per algo (dashed) and pooled (solid), 95% "
                   f"Wilson intervals. Only updates made while the policy still had a gain to lose "
                   f"count; bins with fewer than {d.min_updates} such updates are not drawn. Dotted: "
                   f"{plots.bound_label(ctx.kl_bounds)} values."
                   + (" One panel per task; grey band: the zero-dose control's rate on the task, 95% "
                      "Wilson interval." if len(ctx.tasks) > 1 else "")),
        ],
        findings=[odds_ratio_finding(dose, horizon), crossing_finding(dose, d.level)],
        wandb={"collapse_vs_kl": dose},
    )  # fmt: skip


def figure_bins(ctx: Context) -> pd.DataFrame:
    """The figure's bins: pooled over tasks, or each task's own (an `env` column)."""
    d = ctx.cfg.dose_response
    if len(ctx.tasks) < 2:
        return kl_bins(ctx.at_risk, "kl_mean", d.bins_per_decade, d.min_updates)
    return pd.concat([kl_bins(part, "kl_mean", d.bins_per_decade, d.min_updates).assign(env=env)
                      for env, part in ctx.at_risk.groupby("env", sort=True)], ignore_index=True)  # fmt: skip


def or_text(row) -> str:
    """An odds ratio with its CI (from a dose-response row, Series or tuple)."""
    return interval(row.odds_ratio, row.odds_ratio_ci_low, row.odds_ratio_ci_high)


def odds_ratio_finding(dose: pd.DataFrame, horizon: int) -> Finding:
    """The odds ratio of an update-level collapse per tenfold kl_mean, pooled and per algo."""
    pooled = dose.set_index("scope").loc[ALL] if ALL in set(dose["scope"]) else None
    if pooled is None or not np.isfinite(pooled["odds_ratio"]):
        n = int(pooled["collapses"]) if pooled is not None else 0
        return Finding(
            f"Per update, the data cannot tell how KL relates to collapse: {n} update-level "
            "collapses, too few (or too cleanly separated) to fit the logistic regression.",
            "collapse_vs_kl",
        )
    per_algo = [
        f"{r.scope} {or_text(r)}"
        for r in dose[dose["scope"] != ALL].itertuples()
        if np.isfinite(r.odds_ratio)
    ]
    no_fit = [
        r.scope for r in dose[dose["scope"] != ALL].itertuples() if not np.isfinite(r.odds_ratio)
    ]
    text = (
        f"Per update ({int(pooled['updates'])} updates at risk in {int(pooled['runs'])} runs, "
        f"{int(pooled['collapses'])} followed by a collapse within {horizon} updates), each tenfold "
        f"increase of kl_mean multiplies the odds of a collapse by {or_text(pooled)} "
        "(logistic regression with the mechanism and training progress, 95% CI clustered by run)"
    )
    if per_algo:
        text += "; per algo: " + ", ".join(per_algo)
    if no_fit:
        text += f"; {', '.join(no_fit)}: too few collapses to fit"
    return Finding(text + ".", "collapse_vs_kl")


def kl_interval(low: float, high: float, observed_high: float) -> str:
    """A crossing's bootstrap interval, its ends past 100× the largest KL seen written as such."""
    if not np.isfinite(low):
        return " (no bootstrap interval: too few resamples could be fitted)"
    upper = "far beyond the KL observed" if high > 100 * observed_high else f"{high:.2g}"
    return f" [{low:.2g}, {upper}]"


def crossing_finding(dose: pd.DataFrame, level: float) -> Finding:
    """The KL where the fitted P(collapse) crosses `level`, pooled and per algo."""
    parts = []
    for r in dose.itertuples():
        if not np.isfinite(r.crossing_kl):
            parts.append(f"{r.scope}: not estimable (P does not rise with KL, or no fit)")
            continue
        where = (
            f"beyond the largest kl_mean observed ({r.kl_observed_high:.2g})"
            if r.crossing_kl > r.kl_observed_high
            else f"below the smallest observed ({r.kl_observed_low:.2g})"
            if r.crossing_kl < r.kl_observed_low
            else "within the observed range"
        )
        interval = kl_interval(r.crossing_ci_low, r.crossing_ci_high, r.kl_observed_high)
        parts.append(f"{r.scope} {r.crossing_kl:.2g} nats{interval}, {where}")
    return Finding(
        f"The fitted P(collapse) of an update halfway through a run crosses {level:.0%} at "
        "kl_mean ≈ " + "; ".join(parts) + " (95% intervals from a bootstrap over runs).",
        "collapse_vs_kl",
    )
