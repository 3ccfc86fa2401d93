"""The report's first screen: the answer in plain words, the headline figure (the risk of
a collapse against the size of an update, per mechanism, with the fitted curve, its band
and the zero-dose rate) and at most five one-line Findings, each linking to its details.
Every number comes from the computations the sections below show in full."""

import numpy as np
import pandas as pd

from algos.registry import ALGOS
from analysis import plots
from analysis.display import interval
from analysis.dose_response import fitted_curve, kl_bins
from analysis.intervals import wilson_interval
from analysis.section import REFERENCE_MECHANISM, Context, Figure, Finding, Part
from analysis.sections.per_update import kl_interval
from analysis.sections.robustness import odds_span
from analysis.tasks import ALPHA
from analysis.vocabulary import ALL

TITLE = "The answer"
CURVE_POINTS = 60


def zero_dose(ctx: Context) -> dict:
    """The zero-dose control's collapses over every task: runs (run level) and updates at
    risk (update level)."""
    per_task = ctx.zero_dose_by_task
    runs, runs_k = int(per_task["runs_n"].sum()), int(per_task["runs_k"].sum())
    n, k = int(per_task["updates_n"].sum()), int(per_task["updates_k"].sum())
    return {"runs": runs, "runs_collapsed": runs_k, "runs_ci": wilson_interval(runs_k, runs),
            "updates": n, "collapses": k, "p": k / n if n else np.nan, "ci": wilson_interval(k, n)}  # fmt: skip


def build(ctx: Context) -> Part:
    d, horizon = ctx.cfg.dose_response, ctx.cfg.update_collapse.horizon
    dose = ctx.dose.set_index("scope")
    pooled = dose.loc[ALL] if ALL in dose.index else None
    control = zero_dose(ctx)
    moved = ctx.at_risk[ctx.at_risk["kl_mean"] > 0]
    if len(moved):
        kl = np.logspace(
            np.log10(moved["kl_mean"].min()), np.log10(moved["kl_mean"].max()), CURVE_POINTS
        )
        curve = fitted_curve(ctx.at_risk, kl, d.progress, d.bootstrap, ctx.cfg.seed)
    else:
        curve = pd.DataFrame(columns=["kl", "p", "low", "high"])
    bins = kl_bins(ctx.at_risk, "kl_mean", d.bins_per_decade, d.min_updates)
    figure = plots.headline(bins[bins["scope"] != ALL], curve, control, horizon, d.min_updates,
                            ctx.figure_stem("headline"))  # fmt: skip
    return Part(
        TITLE,
        data={"headline_curve": curve},
        figures=[Figure("headline", figure,
                        f"The answer: P(a collapse follows within {horizon} updates) against the update's "
                        f"kl_mean. Points: half-decade bins per update rule (≥ {d.min_updates} updates at "
                        f"risk, 95% Wilson intervals); line and band: the pooled logistic fit for an update "
                        f"{d.progress:.0%} through its run, 95% run-level bootstrap band; grey: the zero-dose "
                        "control (no update at all), its rate and Wilson interval.")],
        findings=short_findings(ctx, pooled, control),
        answer=answer(pooled, control, d.level, horizon),
    )  # fmt: skip


def answer(pooled, control: dict, level: float, horizon: int) -> str:
    if pooled is None or not np.isfinite(pooled["odds_ratio"]):
        return ("The data cannot yet tell how the size of an update relates to collapse: too few "
                "updates were followed by a collapse to fit the dose–response.")  # fmt: skip
    crossing = pooled["crossing_kl"]
    where = (f"Collapses follow updates above about {crossing:.2g} nats of KL(π_old‖π_new), where the "
             f"fitted risk of a collapse within {horizon} updates passes {level:.0%}; "
             if np.isfinite(crossing) else "")  # fmt: skip
    text = (f"{where}each tenfold larger update multiplies the odds of a collapse by about "
            f"{pooled['odds_ratio']:.2g}.")  # fmt: skip
    text = text[0].upper() + text[1:]
    if control["updates"]:
        text += (f" A policy that never moved was followed by a 'collapse' after {control['collapses']} of "
                 f"its {control['updates']} updates: the collapse rule's false-alarm rate.")  # fmt: skip
    return text


def transfer_finding(fits: pd.DataFrame, tests: dict, level: str) -> Finding:
    """One line: each task's crossing KL and whether the slope transfers."""
    per_task = fits[fits["env"] != ALL]
    crossings = ", ".join(
        f"{r.env.split('-')[0]} {r.crossing_kl:.2g}" for r in per_task.itertuples()
    )
    slope = "differs between tasks" if tests["slope_p"] < ALPHA else "transfers"
    return Finding(f"Per task the risk crosses {level} at kl_mean {crossings} nats; the slope {slope} "
                   f"(p = {tests['slope_p']:.2g}).", "per_task")  # fmt: skip


def short_findings(ctx: Context, pooled, control: dict) -> list[Finding]:
    level = f"{ctx.cfg.dose_response.level:.0%}"
    found = []
    if pooled is not None and np.isfinite(pooled["odds_ratio"]):
        found.append(Finding(
            f"Odds of a collapse ×{interval(pooled['odds_ratio'], pooled['odds_ratio_ci_low'], pooled['odds_ratio_ci_high'])} "
            f"per tenfold kl_mean ({int(pooled['updates'])} updates at risk, {int(pooled['runs'])} runs).",
            "collapse_vs_kl"))  # fmt: skip
        if np.isfinite(pooled["crossing_kl"]):
            bounds = kl_interval(
                pooled["crossing_ci_low"], pooled["crossing_ci_high"], pooled["kl_observed_high"]
            )
            found.append(Finding(f"The fitted risk crosses {level} at kl_mean {pooled['crossing_kl']:.2g}{bounds} nats.",
                                 "collapse_vs_kl"))  # fmt: skip
    if len(ctx.tasks) > 1:
        found.append(transfer_finding(ctx.per_task, ctx.task_tests, level))
    if control["runs"]:
        low, high = control["runs_ci"]
        found.append(Finding(
            f"No update at all: {control['runs_collapsed']}/{control['runs']} runs collapsed [{low:.2f}, {high:.2f}], "
            f"{control['collapses']}/{control['updates']} updates: the baseline of every frequency.",
            "collapse_frequency"))  # fmt: skip
    span = odds_span(ctx.robustness)
    if span is not None:
        found.append(Finding(
            f"Under the report's collapse definition and {len(ctx.robustness) - 1} neighbours, the odds ratio "
            f"per tenfold kl_mean stays within {span[0]:.2g}–{span[1]:.2g}.", "robustness"))  # fmt: skip
    odds = ctx.mechanism_odds[np.isfinite(ctx.mechanism_odds["odds_ratio"].astype(float))]
    if len(odds):
        apart = odds[(odds["ci_low"] > 1) | (odds["ci_high"] < 1)]
        found.append(Finding(
            f"At equal kl_mean, {len(apart)} of {len(odds)} mechanisms differ from {ALGOS[REFERENCE_MECHANISM].title} beyond "
            f"their interval (odds ratios {odds['odds_ratio'].min():.2g}–{odds['odds_ratio'].max():.2g}).",
            "mechanism_odds"))  # fmt: skip
    return found[:5]
