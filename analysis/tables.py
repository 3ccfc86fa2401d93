"""Collapse-frequency table: per env × algo × step size, with its uncertainty.

Collapse frequency counts finished runs: `done` ones plus those that diverged (a
non-finite loss or parameter is the most complete collapse there is, so it counts as
collapsed). Runs that crashed for another reason or never finished are counted in
`excluded`, never mixed in.
"""

import numpy as np
import pandas as pd

from analysis.intervals import mean_interval, wilson_interval

GROUP = ["env", "variant", "algo", "step_size_key", "step_size"]


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
