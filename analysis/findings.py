"""Findings: the few sentences a report opens with, each computed from the study's data
with its interval and the figure that shows it. No number is written here; where the data
cannot tell, the sentence says so and how many runs would (see `runs_needed`).
"""

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.display import frequency, interval
from analysis.dose_response import ALL

HALF_WIDTH = 0.1  # the CI half-width `runs_needed` plans for
Z = 1.96


@dataclass(frozen=True)
class Finding:
    text: str
    figure: str  # the figure (report anchor / file stem) that shows it


def runs_needed(collapsed: int, runs: int, half_width: float = HALF_WIDTH) -> int:
    """Runs for a 95% CI of ±half_width around a collapse frequency, from the observed rate
    (its Agresti–Coull centre (k+2)/(n+4), which is never 0 or 1): n = z² p(1−p) / w²."""
    p = (collapsed + 2) / (runs + 4)
    return math.ceil(Z**2 * p * (1 - p) / half_width**2)


def collapse_cell(row) -> str:
    """A collapse-table row's `k/n = p [low, high]`, as the report's tables write it."""
    return frequency(row.collapsed, row.runs, row.collapse_ci_low, row.collapse_ci_high)


def or_text(row) -> str:
    """An odds ratio with its CI (from a dose-response row, Series or tuple)."""
    return interval(row.odds_ratio, row.odds_ratio_ci_low, row.odds_ratio_ci_high)


def step_size_finding(table: pd.DataFrame) -> Finding:
    """Collapse frequency at each update rule's smallest and largest step size."""
    parts, unclear = [], []
    for variant, rows in table[table["runs"] > 0].groupby("variant", sort=False):
        rows = rows.sort_values("step_size")
        small, large = rows.iloc[0], rows.iloc[-1]
        key = small["step_size_key"]
        if len(rows) == 1:
            parts.append(f"{variant} {collapse_cell(large)}")
        else:
            parts.append(
                f"{variant} {collapse_cell(small)} at {key} {small.step_size:g} → "
                f"{collapse_cell(large)} at {key} {large.step_size:g}"
            )
        for r in (small, large):
            if r.collapse_ci_high - r.collapse_ci_low > 2 * HALF_WIDTH:
                unclear.append(runs_needed(int(r.collapsed), int(r.runs)))
    text = (
        "Share of runs that collapsed, smallest → largest step size [95% Wilson CI]: "
        + "; ".join(parts)
        + "."
    )
    if unclear:
        text += (
            f" These intervals are wider than ±{HALF_WIDTH:g}: at the observed rates that takes up to "
            f"{max(unclear)} runs per step size."
        )
    return Finding(text, "collapse_frequency")


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
        "(logistic regression with algo and training progress, 95% CI clustered by run)"
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


def warning_finding(warning_table: pd.DataFrame, horizon: int) -> Finding:
    """Does an update's KL warn of a run-level collapse? AUC, threshold, false alarms."""
    rows = warning_table[(warning_table["algo"] == ALL) & (warning_table["score"] == "kl_max")]
    if rows.empty or rows.iloc[0]["verdict"].startswith("too few"):
        r = rows.iloc[0] if len(rows) else None
        collapsed, runs = (int(r.collapsed_runs), int(r.runs)) if r is not None else (0, 0)
        positives = int(r.positives) if r is not None else 0
        return Finding(
            f"Whether KL warns before a collapse, the data cannot tell: {collapsed} collapsed runs "
            f"with {positives} updates in the {horizon} before a collapse began; at the observed "
            f"rate of {collapsed} collapsed in {runs} runs, about {runs_needed(collapsed, runs)} "
            f"runs would pin the collapse rate to ±{HALF_WIDTH:g}.",
            "kl_warning_roc",
        )
    r = rows.iloc[0]
    per_algo = warning_table[(warning_table["algo"] != ALL) & (warning_table["score"] == "kl_max")]
    told = [
        f"{a.algo} {a.auc:.2f}"
        for a in per_algo.itertuples()
        if not a.verdict.startswith("too few")
    ]
    untold = [a.algo for a in per_algo.itertuples() if a.verdict.startswith("too few")]
    detail = "; per algo: " + ", ".join(told) if told else ""
    detail += f"; too few collapses to tell for {', '.join(untold)}" if untold else ""
    return Finding(
        f"An update's kl_max warns of a run-level collapse beginning within {horizon} updates "
        f"with ROC AUC {r.auc:.2f} [{r.auc_ci_low:.2f}, {r.auc_ci_high:.2f}] (all algos, "
        f"{r.collapsed_runs} collapsed runs{detail}); flagging updates with kl_max ≥ "
        f"{r.threshold:.2g} catches {r.flag_share:.0%} of the pre-collapse updates at a "
        f"false-alarm rate of {r.false_alarm_rate:.2f}.",
        "kl_warning_roc",
    )


def bound_finding(updates: pd.DataFrame) -> Finding | None:
    """TRPO's largest update KL against δ, and PPO's largest ratio and KL against ε."""
    parts = []
    trpo = updates[(updates["variant"] == "trpo") & np.isfinite(updates["kl_mean"])]
    if len(trpo):
        excess = (trpo["kl_mean"] / trpo["step_size"]).max()
        largest = trpo.loc[trpo["kl_mean"].idxmax()]
        verb = "held every update within δ" if excess <= 1 else "let updates exceed δ"
        parts.append(
            f"TRPO {verb}: over {len(trpo)} updates the largest kl_mean / δ was {excess:.3g} "
            f"(largest kl_mean {largest['kl_mean']:.3g} nats, at δ {largest['step_size']:g})"
        )
    ppo = updates[(updates["variant"] == "ppo") & np.isfinite(updates["ratio_max"])]
    if len(ppo):
        per_eps = ppo.groupby("step_size").agg(
            ratio_max=("ratio_max", "max"), kl=("kl_mean", "max")
        )
        described = [
            f"at ε {eps:g} (ratios clipped at {1 + eps:g}; KL of order ε²/2 = {eps**2 / 2:.2g}) the "
            f"largest ratio was {row.ratio_max:.3g} and the largest kl_mean {row.kl:.3g}"
            for eps, row in per_eps.iterrows()
        ]
        parts.append("PPO's clip bounds the incentive, not the step: " + "; ".join(described))
    none = updates[(updates["variant"] == "ppo_none") & np.isfinite(updates["kl_mean"])]
    if len(none):
        parts.append(
            f"with no clipping, kl_mean reached {none['kl_mean'].max():.3g} (median {none['kl_mean'].median():.3g})"
        )
    if not parts:
        return None
    return Finding("; ".join(parts) + ".", "kl_curves")


def findings(
    table: pd.DataFrame,
    dose: pd.DataFrame,
    warning_table: pd.DataFrame,
    updates: pd.DataFrame,
    level: float,
    update_horizon: int,
    warning_horizon: int,
) -> list[Finding]:
    found = [
        step_size_finding(table),
        odds_ratio_finding(dose, update_horizon),
        crossing_finding(dose, level),
        warning_finding(warning_table, warning_horizon),
        bound_finding(updates),
    ]
    return [f for f in found if f is not None]
