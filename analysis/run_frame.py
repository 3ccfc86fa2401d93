"""One row per run: where it started, ended and peaked, whether and how it collapsed, and
how large its updates were. Every section of the report reads these columns; each is
defined once, in FRAME_COLUMNS.
"""

import numpy as np
import pandas as pd

from analysis.collapse import CollapseRule, run_collapses, smooth
from records.load import initial_return

FRAME_COLUMNS = {
    "initial_return": "the untrained policy's return (records.load.initial_return)",
    "collapsed": "whether the run-level collapse rule (collapse.rule) fired",
    "collapse_step": "env step at which it fired (NaN: no collapse)",
    "peak_step": "env step of the running best the run fell from",
    "drop": "(best − lowest smoothed return after it) / (best − initial_return)",
    "recovered": "whether its smoothed return came back to recover_frac of the gain afterwards",
    "fall_kl_mean": "mean kl_mean of the updates from the peak to the detection",
    "fall_kl_max": "largest kl_max of those updates",
    "final_return": "mean return_mean over the run's last `final_window` updates",
    "best_return": "the highest return_mean smoothed over `smooth_window` updates",
    "run_kl_mean": "mean of its updates' kl_mean",
    "run_kl_median": "median of its updates' kl_mean",
    "run_kl_max": "largest kl_max of its updates",
    "run_kl_mean_max": "largest kl_mean of its updates",
}


def per_run_returns(updates: pd.DataFrame, final_window: int, smooth_window: int) -> pd.DataFrame:
    """final_return and best_return per run."""
    rows = []
    for run_id, run in updates.groupby("run_id", sort=False):
        returns = run.sort_values("update")["return_mean"].to_numpy()
        rows.append(
            {
                "run_id": run_id,
                "final_return": np.nanmean(returns[-final_window:]),
                "best_return": np.nanmax(smooth(returns, smooth_window)),
            }
        )
    return pd.DataFrame(rows, columns=["run_id", "final_return", "best_return"])


def final_episode_return(updates: pd.DataFrame, episodes: int) -> pd.Series:
    """Per run: episode-weighted mean return_mean over its last updates covering `episodes`."""

    def last(run: pd.DataFrame) -> float:
        run = run.sort_values("update", ascending=False)
        count = run["episodes"].fillna(0).to_numpy()
        covered = np.cumsum(count) - count < episodes  # updates needed to reach `episodes`
        used = run[covered & (count > 0)]
        return (
            float(np.average(used["return_mean"], weights=used["episodes"]))
            if len(used)
            else np.nan
        )

    return updates.groupby("run_id").apply(last, include_groups=False)


def update_sizes(updates: pd.DataFrame) -> pd.DataFrame:
    """Per run: the mean, median and max of its updates' kl_mean and the max of their kl_max."""
    return updates.groupby("run_id").agg(
        run_kl_mean=("kl_mean", "mean"), run_kl_median=("kl_mean", "median"),
        run_kl_max=("kl_max", "max"), run_kl_mean_max=("kl_mean", "max"),
    )  # fmt: skip


def run_frame(
    runs: pd.DataFrame,
    updates: pd.DataFrame,
    rules: dict[str, CollapseRule],
    final_window: int,
    smooth_window: int,
) -> pd.DataFrame:
    """The per-run frame of every run with updates (run_id, then the columns above), the
    collapse columns by each env's rule in `rules` (its configured functions)."""
    starts = runs.set_index("run_id")[["baseline_return", "history_returns"]]
    collapses = run_collapses(updates, rules, starts)
    returns = per_run_returns(updates, final_window, smooth_window)
    return collapses.merge(returns, on="run_id").merge(
        update_sizes(updates), on="run_id", how="left"
    )


def initial_returns(runs: pd.DataFrame, updates: pd.DataFrame) -> pd.Series:
    """initial_return per run_id, for analyses that need no other column of the frame."""
    indexed = runs.set_index("run_id")
    baselines = indexed["baseline_return"].astype(float) if "baseline_return" in indexed else {}
    ordered = updates.sort_values("update")
    return ordered.groupby("run_id")["return_mean"].apply(
        lambda returns: initial_return(returns.to_numpy(), baselines.get(returns.name, np.nan))
    )
