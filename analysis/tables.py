"""Collapse-frequency table: per env × algo × step size, with its uncertainty.

Collapse frequency counts finished runs: `done` ones plus those that diverged (a
non-finite loss or parameter is the most complete collapse there is, so it counts as
collapsed). Runs that crashed for another reason or never finished are counted in
`excluded`, never mixed in. A study's table (`study_collapse_table`) and its zero-dose
control per task (`zero_dose_by_task`) are computed once for the sections that use them.
"""

import numpy as np
import pandas as pd

from analysis.intervals import mean_interval, wilson_interval
from analysis.per_study import once_per_study
from analysis.section import Context
from analysis.vocabulary import CONTROLS

GROUP = ["env", "variant", "algo", "step_size_key", "step_size"]
ZERO_DOSE_COLUMNS = ["env", "runs_k", "runs_n", "runs_low", "runs_high", "updates_k", "updates_n",
                     "updates_low", "updates_high"]  # fmt: skip


def collapse_table(
    runs: pd.DataFrame,
    per_run: pd.DataFrame,
    updates: pd.DataFrame,
    seed: int = 0,
    group: list[str] = GROUP,
) -> pd.DataFrame:
    """`per_run` holds run_id, collapsed, final_return, best_return for finished runs; one
    row per `group` (by default env × update rule × step size; + impl for the ablation)."""
    runs = runs.merge(per_run, on="run_id", how="left")
    finished = runs["status"].eq("done") | runs["diverged"]
    runs = runs.assign(
        finished=finished,
        counted_collapse=finished
        & (runs["collapsed"].fillna(False).astype(bool) | runs["diverged"]),
    )
    kl = updates.groupby("run_id")["kl_mean"] if len(updates) else None
    rows = []
    for key, members in runs.groupby(group, sort=True):
        done = members[members["finished"]]
        n, k = len(done), int(done["counted_collapse"].sum())
        low, high = wilson_interval(k, n)
        sizes = (
            updates.loc[updates["run_id"].isin(done["run_id"]), ["kl_mean", "ratio_max"]]
            if kl is not None
            else pd.DataFrame(columns=["kl_mean", "ratio_max"], dtype=float)
        )
        kls = sizes["kl_mean"].dropna()
        finals = done.loc[done["status"].eq("done"), "final_return"].to_numpy(dtype=float)
        final_low, final_high = mean_interval(finals, seed=seed)
        rows.append(
            {
                **dict(zip(group, key, strict=True)),
                "runs": n,
                "collapsed": k,
                "diverged": int(done["diverged"].sum()),
                "recovered": int(done["recovered"].fillna(False).astype(bool).sum()),
                "excluded": int((~members["finished"]).sum()),
                "collapse_freq": k / n if n else np.nan,
                "collapse_ci_low": low,
                "collapse_ci_high": high,
                "kl_mean_median": kls.median() if len(kls) else np.nan,
                "kl_mean_q25": kls.quantile(0.25) if len(kls) else np.nan,
                "kl_mean_q75": kls.quantile(0.75) if len(kls) else np.nan,
                "kl_mean_q95": kls.quantile(0.95) if len(kls) else np.nan,
                "ratio_max_q95": sizes["ratio_max"].quantile(0.95) if len(kls) else np.nan,
                "final_return": np.nanmean(finals) if len(finals) else np.nan,
                "final_return_ci_low": final_low,
                "final_return_ci_high": final_high,
                "best_return": done["best_return"].mean() if n else np.nan,
            }
        )
    return pd.DataFrame(rows)


@once_per_study
def study_collapse_table(ctx: Context) -> pd.DataFrame:
    """The study's collapse table (its step-size runs)."""
    return collapse_table(ctx.runs, ctx.frame, ctx.updates, ctx.cfg.seed)


@once_per_study
def zero_dose_by_task(ctx: Context) -> pd.DataFrame:
    """Per task: the zero-dose runs that collapsed and the zero-dose updates at risk
    followed by a 'collapse', with Wilson intervals (the collapse rules' false alarms)."""
    table = study_collapse_table(ctx)
    table = table[table["variant"].isin(CONTROLS)]
    updates = ctx.at_risk[ctx.at_risk["algo"].isin(CONTROLS)]
    rows = []
    for env in sorted(set(ctx.tasks) | set(table.loc[table["runs"] > 0, "env"])):
        runs = table[table["env"] == env]
        rk, rn = int(runs["collapsed"].sum()), int(runs["runs"].sum())
        part = updates[updates["env"] == env]
        uk, un = int(part["collapse"].sum()), len(part)
        (runs_low, runs_high), (updates_low, updates_high) = (
            wilson_interval(rk, rn),
            wilson_interval(uk, un),
        )
        rows.append({"env": env, "runs_k": rk, "runs_n": rn, "runs_low": runs_low, "runs_high": runs_high,
                     "updates_k": uk, "updates_n": un, "updates_low": updates_low,
                     "updates_high": updates_high})  # fmt: skip
    return pd.DataFrame(rows, columns=ZERO_DOSE_COLUMNS)
