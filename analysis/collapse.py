"""Collapse detection: when a run that had learned falls back, and the KL of the updates
that took it there. Pure functions of one run's return curve (and its KL series).

Run-level (DESIGN.md): smooth return_mean with a trailing mean; once the smoothed
return has gained at least `min_gain` over the run's initial return (the untrained,
near-random policy: the run's first return, or for a warm-started run the return its
starting policy had before it was trained, its `baseline_return`), a collapse is the first update where it is more than
`drop_frac` × (best − initial) below its running best. The peak is where that best was
set; the updates after the peak up to the detection are the fall.

Update-level: update t collapses when, within the next `horizon` updates, the raw
return_mean drops below its value at t by more than `drop_frac` of the gain at t.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class CollapseRule:
    smooth_window: int = 5
    min_gain: float = 100.0
    drop_frac: float = 0.5
    recover_frac: float = 0.9


@dataclass
class Collapse:
    collapsed: bool
    peak_index: int | None = None  # update index (0-based) where the running best was set
    index: int | None = None  # update index where the collapse was detected
    drop: float = float("nan")  # (peak − lowest smoothed after it) / (peak − initial)
    recovered: bool = False


def smooth(returns: np.ndarray, window: int) -> np.ndarray:
    """Trailing mean over `window` updates, ignoring updates with no finished episode."""
    return pd.Series(returns).rolling(window, min_periods=1).mean().to_numpy()


def detect_collapse(
    returns: np.ndarray, rule: CollapseRule, initial: float | None = None
) -> Collapse:
    """The run-level rule; `initial` is the untrained return (default: the first one)."""
    curve = smooth(np.asarray(returns, dtype=float), rule.smooth_window)
    finite = np.flatnonzero(np.isfinite(curve))
    if len(finite) == 0:
        return Collapse(False)
    values = curve[finite]
    initial = values[0] if initial is None or not np.isfinite(initial) else initial
    best = np.maximum.accumulate(values)  # the running best, as a vector
    gain = best - initial
    hits = np.flatnonzero((gain >= rule.min_gain) & (values < best - rule.drop_frac * gain))
    if len(hits) == 0:
        return Collapse(False)
    i = hits[0]
    peak = finite[np.flatnonzero(values[: i + 1] == best[i])[0]]  # where that best was first set
    after = values[i:]
    recovered = bool(np.any(after >= initial + rule.recover_frac * gain[i]))
    drop = float((best[i] - after.min()) / gain[i])
    return Collapse(True, int(peak), int(finite[i]), drop, recovered)


def update_collapses(
    returns: np.ndarray, initial: float, rule: CollapseRule, horizon: int
) -> np.ndarray:
    """Boolean per update: followed within `horizon` updates by a drop of more than
    drop_frac of the gain (over `initial`) the run had at that update."""
    r = np.asarray(returns, dtype=float)
    padded = np.concatenate([r[1:], np.full(horizon, np.nan)])
    windows = np.lib.stride_tricks.sliding_window_view(padded, horizon)[: len(r)]
    finite = np.isfinite(windows)
    future_min = np.where(finite, windows, np.inf).min(axis=1)
    gain = r - initial
    with np.errstate(invalid="ignore"):
        drops = future_min < r - rule.drop_frac * gain
        return (gain >= rule.min_gain) & finite.any(axis=1) & drops


def run_collapses(
    updates: pd.DataFrame,
    rules: dict[str, CollapseRule],
    horizon: int,
    baselines: dict[str, float] | None = None,
) -> pd.DataFrame:
    """One row per run: run-level collapse fields and the KL of the fall.

    `rules` maps env id to its rule; `baselines` run_id to the untrained return of a
    warm-started run (others start untrained: their first return is the baseline). KL of the fall: kl_mean and kl_max of the updates
    after the peak up to and including the detection (the ones that did the damage).
    """
    rows = []
    for run_id, run in updates.groupby("run_id", sort=False):
        run = run.sort_values("update")
        rule = rules[run["env"].iloc[0]]
        returns = run["return_mean"].to_numpy()
        baseline = (baselines or {}).get(run_id, np.nan)
        initial = baseline if np.isfinite(baseline) else returns[0]
        result = detect_collapse(returns, rule, initial)
        row = {
            "run_id": run_id,
            "collapsed": result.collapsed,
            "collapse_step": np.nan,
            "peak_step": np.nan,
            "drop": result.drop,
            "recovered": result.recovered,
            "fall_kl_mean": np.nan,
            "fall_kl_max": np.nan,
            "update_collapses": int(update_collapses(returns, initial, rule, horizon).sum()),
        }
        if result.collapsed:
            fall = run.iloc[result.peak_index + 1 : result.index + 1]
            row.update(
                collapse_step=run["step"].iloc[result.index],
                peak_step=run["step"].iloc[result.peak_index],
                fall_kl_mean=fall["kl_mean"].mean(),
                fall_kl_max=fall["kl_max"].max(),
            )
        rows.append(row)
    return pd.DataFrame(rows)
