"""Every mechanism on the measured-KL scale: at equal KL, does the mechanism matter; how
tightly does each setting hold its KL; where does the quadratic model of the KL break,
and is TRPO's line search then worth anything against NPG."""

import numpy as np
import pandas as pd

from algos.registry import ALGOS
from analysis import display, plots
from analysis.display import interval
from analysis.mechanisms import (
    MODEL_BAND,
    kl_control,
    line_search_worth,
    model_breaks_at,
    taylor_model,
)
from analysis.section import REFERENCE_MECHANISM as REFERENCE
from analysis.section import Context, Figure, Finding, Part, Table

TITLE = "Mechanisms on one scale"
WITH_SEARCH, WITHOUT_SEARCH = "trpo", "npg"


def build(ctx: Context) -> Part | None:
    horizon = ctx.cfg.update_collapse.horizon
    odds = ctx.mechanism_odds
    control = kl_control(ctx.done_updates, ctx.done)
    model = taylor_model(ctx.done_updates)
    worth = line_search_worth(ctx.collapse_table, WITH_SEARCH, WITHOUT_SEARCH)
    findings = [f for f in (odds_finding(odds), early_stop_finding(control), taylor_finding(model),
                            worth_finding(worth)) if f is not None]  # fmt: skip
    return Part(
        TITLE,
        data={"mechanism_odds": odds, "kl_control": control, "taylor_model": model,
              "line_search_worth": worth},
        tables=[
            Table("mechanism_odds",
                  f"At equal measured KL: the odds of a collapse within {horizon} updates under each "
                  f"mechanism against {REFERENCE}, from the pooled logistic regression on log10 kl_mean "
                  "and training progress with the mechanism as a covariate (95% CI clustered by run). "
                  "1 means the mechanism adds nothing beyond the size of its updates.",
                  display.mechanism_odds(odds)),
            Table("kl_control",
                  "How tightly each setting holds the KL of its updates: kl_mean's median and 5–95 % "
                  "range against its nominal target (TRPO's and NPG's δ, PPO's target_kl), and the "
                  "spread (95th over 5th percentile).",
                  display.kl_control(control)),
            Table("taylor_model",
                  "TRPO's and NPG's full natural-gradient step, sized so that its damped quadratic "
                  "model of the KL equals δ: its exact KL (kl_full_step) over δ. The model holds where "
                  f"this is within [{MODEL_BAND[0]:g}, {MODEL_BAND[1]:g}].",
                  display.taylor(model)),
            Table("line_search_worth",
                  f"The line search's worth: run-level collapse frequency of {WITH_SEARCH} (full step, "
                  f"then the line search on the exact KL) and {WITHOUT_SEARCH} (the same full step "
                  "taken as it is) at each δ both ran.",
                  display.line_search_worth(worth)),
        ],
        figures=[
            Figure("taylor_model", plots.taylor_model(ctx.done_updates, MODEL_BAND, ctx.figure_stem("taylor_model")),
                   "Exact over modelled KL of the full natural-gradient step, per δ: inside the band "
                   "the seed's second-order Taylor model holds; above it the full step moves the "
                   "policy further than δ promised."),
        ],
        findings=findings,
    )  # fmt: skip


def odds_finding(odds: pd.DataFrame) -> Finding | None:
    fitted = odds[np.isfinite(odds["odds_ratio"].astype(float))]
    if fitted.empty:
        return None
    apart = fitted[(fitted["ci_low"] > 1) | (fitted["ci_high"] < 1)]
    cells = "; ".join(
        f"{r.mechanism} {interval(r.odds_ratio, r.ci_low, r.ci_high)}" for r in fitted.itertuples()
    )
    apart_levels = odds[odds["separated"].astype(bool)]
    if len(apart_levels):
        cells += "; no odds ratio for " + ", ".join(
            f"{r.mechanism} ({r.collapses}/{r.updates})" for r in apart_levels.itertuples()
        )
    verdict = (f"{len(apart)} of {len(fitted)} differ from {ALGOS[REFERENCE].title} beyond their interval"
               if len(apart) else f"none differs from {ALGOS[REFERENCE].title} beyond its interval")  # fmt: skip
    return Finding(f"At equal kl_mean, the odds of a collapse against {ALGOS[REFERENCE].title}: {cells} ({verdict}).",
                   "mechanism_odds")  # fmt: skip


def early_stop_finding(control: pd.DataFrame) -> Finding | None:
    stop = control[control["step_size_key"] == "target_kl"]
    if stop.empty:
        return None
    tasks = stop["env"].nunique() > 1
    cells = "; ".join(f"{r.variant} target_kl {r.step_size:g}{f' on {r.env}' if tasks else ''}: median "
                      f"{r.median:.2g} [{r.q05:.2g}–{r.q95:.2g}] = {r.median_over_target:.2g}× target"
                      for r in stop.itertuples())  # fmt: skip
    return Finding(f"The KL early stop holds kl_mean at {cells} (median [5–95 %]).", "kl_control")


def taylor_finding(model: pd.DataFrame) -> Finding | None:
    if model.empty:
        return None
    breaks = model_breaks_at(model)
    low, high = MODEL_BAND
    pooled = model.groupby("step_size")["median"].median()
    cells = ", ".join(f"δ {d:g}: {m:.2g}" for d, m in pooled.items())
    where = (f"most full steps leave [{low:g}, {high:g}] from δ {breaks:g} on" if np.isfinite(breaks)
             else f"most full steps stay within [{low:g}, {high:g}] at every δ tried")  # fmt: skip
    return Finding(f"The quadratic model of the KL: exact over modelled KL of the full step, median {cells}; "
                   f"{where}.", "taylor_model")  # fmt: skip


def worth_finding(worth: pd.DataFrame) -> Finding | None:
    if worth.empty:
        return None
    cells = "; ".join(f"δ {r.step_size:g}: {r.without_collapsed}/{r.without_runs} without against "
                      f"{r.with_collapsed}/{r.with_runs} with ({interval(r.difference, r.ci_low, r.ci_high, '+.2f')})"
                      for r in worth.itertuples())  # fmt: skip
    return Finding(f"The line search's worth ({WITHOUT_SEARCH} against {WITH_SEARCH}, runs collapsed): {cells}.",
                   "line_search_worth")  # fmt: skip
