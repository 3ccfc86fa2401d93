"""Collapse detection: when a run that had learned falls back, and the KL of the updates
that took it there. Pure functions of one run's return curve (and its KL series).

Run-level: smooth return_mean with a trailing mean; once the smoothed return has gained at
least `min_gain` over the run's initial return (records.load.initial_return: the untrained
policy's), a collapse is the first update where it is more than `drop_frac` × (best −
initial) below its running best. The peak is where that best was set; the updates after
the peak up to the detection are the fall.

Update-level: update t is at risk when the run has gained (the mean return over the last
`updates_ahead` updates up to t, its level, is at least `min_gain` above the initial return) and
the policy making it still holds that level (its own return is not already more than
`drop_frac` of the gain below it); it collapses when the mean return over the next
`updates_ahead` updates falls below the level by more than `drop_frac` of the gain. Means over
`updates_ahead` batches, not single batches, so that one lucky or unlucky batch is not a collapse.

A warm-started run passes its starting policy's last returns as `history`: the level it
starts at, before its own first update.

Both rules are settings (collapse.rule, update_collapse.rule: `module:function`); a rule of
one's own is called exactly as the built-in one it replaces, positionally:

  run level     f(returns, rule, initial, history) -> Collapse          (detect_collapse)
  update level  f(returns, initial, rule, updates_ahead, history) -> (at_risk, collapse)
                                                                        (update_outcomes)

`rule` is the env's CollapseRule (min_gain, drop_frac, smooth_window, recover_frac); the
multiverse calls the update-level function under each of its drop_frac (in `rule`) and
updates_ahead. A Collapse gives, for a collapse, the update indices of the peak and of the
detection (the fall between them); at_risk and collapse are booleans, one per update.

min_gain is what makes a run one that had learned. An env with no value of its own in
collapse.min_gain_per_env takes collapse.min_gain_share of its runs' typical gain
(gain_scales); an env none of whose runs gained gets none (inf): no update of it is at
risk and no run of it collapses, it is left unjudged.
"""

from __future__ import annotations  # the rules annotate CollapseRule, whose defaults they are

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from records.load import initial_return

RUN_LEVEL_ARGUMENTS = ("returns", "rule", "initial", "history")
UPDATE_LEVEL_ARGUMENTS = ("returns", "initial", "rule", "updates_ahead", "history")


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
    returns: np.ndarray,
    rule: CollapseRule,
    initial: float | None = None,
    history: np.ndarray | None = None,
) -> Collapse:
    """The run-level rule; `initial` is the untrained return (default: the first one),
    `history` returns before the run's first update (smoothed into its first updates)."""
    prefix = np.asarray(history if history is not None else [], dtype=float)
    extended = np.concatenate([prefix, np.asarray(returns, dtype=float)])
    curve = smooth(extended, rule.smooth_window)[len(prefix) :]
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


def finite_mean(windows: np.ndarray) -> np.ndarray:
    """Mean of each row's finite values (NaN for a row with none)."""
    finite = np.isfinite(windows)
    counts = finite.sum(axis=1)
    with np.errstate(invalid="ignore"):
        return np.where(finite, windows, 0.0).sum(axis=1) / np.where(counts, counts, np.nan)


def update_windows(
    returns: np.ndarray,
    initial: float,
    updates_ahead: int,
    history: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per update: its level (mean return over the last `updates_ahead` updates up to it), the
    mean return over the next `updates_ahead` updates, and the gain (level − initial): what every
    update-level outcome is computed from, with no collapse definition in it."""
    r = np.asarray(returns, dtype=float)
    prefix = np.asarray(history if history is not None else [], dtype=float)
    past = np.concatenate([np.full(updates_ahead - 1, np.nan), prefix, r])
    level = finite_mean(np.lib.stride_tricks.sliding_window_view(past, updates_ahead))[
        len(prefix) :
    ]
    future = np.concatenate([r[1:], np.full(updates_ahead, np.nan)])
    ahead = finite_mean(np.lib.stride_tricks.sliding_window_view(future, updates_ahead)[: len(r)])
    return level, ahead, level - initial


def update_outcomes(
    returns: np.ndarray,
    initial: float,
    rule: CollapseRule,
    updates_ahead: int,
    history: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(at_risk, collapse) per update, the update-level rule of the module docstring."""
    r = np.asarray(returns, dtype=float)
    level, ahead, gain = update_windows(r, initial, updates_ahead, history)
    with np.errstate(invalid="ignore"):
        floor = level - rule.drop_frac * gain
        at_risk = (gain >= rule.min_gain) & (r >= floor)
        return at_risk, at_risk & (ahead < floor)


@dataclass(frozen=True)
class CollapseRule:
    """An env's collapse definition: its parameters and the two functions that apply them
    (the settings' collapse.rule and update_collapse.rule), so that every caller that is
    given the rule applies the configured functions."""

    smooth_window: int = 5
    min_gain: float = 100.0
    drop_frac: float = 0.5
    recover_frac: float = 0.9
    detect: Callable[..., Collapse] = detect_collapse  # the run-level rule
    outcomes: Callable[..., tuple[np.ndarray, np.ndarray]] = update_outcomes  # update level


def return_change(
    returns: np.ndarray,
    initial: float,
    updates_ahead: int,
    history: np.ndarray | None = None,
) -> np.ndarray:
    """Per update: the change of the mean return over the next `updates_ahead` updates from its
    level, as a fraction of the gain the run had (−1: the whole gain lost; 0: held)."""
    return share_of_gain(*update_windows(returns, initial, updates_ahead, history))


def share_of_gain(level: np.ndarray, ahead: np.ndarray, gain: np.ndarray) -> np.ndarray:
    """(ahead − level) / gain where the run had gained (update_windows' three arrays)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(gain > 0, (ahead - level) / gain, np.nan)


def run_collapses(
    updates: pd.DataFrame, rules: dict[str, CollapseRule], starts: pd.DataFrame | None = None
) -> pd.DataFrame:
    """One row per run: its initial return (`run_start`), run-level collapse fields (its
    rule's `detect`) and the KL of the fall.

    `rules` maps env id to its rule; `starts` (indexed by run_id: baseline_return,
    history_returns) gives a warm-started run's untrained return and starting history
    (`run_start`); other runs start untrained, their first return the baseline. KL of the
    fall: kl_mean and kl_max of the updates after the peak up to and including the
    detection (the ones that did the damage).
    """
    rows = []
    for run_id, run in updates.groupby("run_id", sort=False):
        run = run.sort_values("update")
        rule = rules[run["env"].iloc[0]]
        returns = run["return_mean"].to_numpy()
        initial, history = run_start(returns, starts, run_id)
        result = rule.detect(returns, rule, initial, history)
        row = {
            "run_id": run_id,
            "initial_return": initial,
            "collapsed": result.collapsed,
            "collapse_step": np.nan,
            "peak_step": np.nan,
            "drop": result.drop,
            "recovered": result.recovered,
            "fall_kl_mean": np.nan,
            "fall_kl_max": np.nan,
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


def run_start(
    returns: np.ndarray, starts: pd.DataFrame | None, run_id: str
) -> tuple[float, list | None]:
    """A run's initial return (records.load.initial_return) and the history before its
    first update: from `starts` (baseline_return, history_returns) for a warm-started run,
    else from its own returns and no history."""
    if starts is not None and run_id in starts.index:
        baseline = starts.at[run_id, "baseline_return"]
        if np.isfinite(baseline):
            return initial_return(returns, baseline), starts.at[run_id, "history_returns"]
    return initial_return(returns), None


def gain_scale(
    returns: np.ndarray, initial: float, history: np.ndarray | None, smooth_window: int
) -> float:
    """What a run had to lose: a warm-started run's starting policy's gain over its initial
    return (the mean of its `history`: the same for every run started from that policy, so
    the scale does not depend on what the updates under study did), else the best gain of
    its return smoothed over `smooth_window` updates (one lucky batch is not a gain). NaN
    for a run with no finite return."""
    history = np.asarray(history if history is not None else [], dtype=float)
    start = history[np.isfinite(history)]
    if len(start):
        return float(start.mean() - initial)
    curve = smooth(returns, smooth_window)
    curve = curve[np.isfinite(curve)]
    return float(curve.max() - initial) if len(curve) else float("nan")


def gain_scales(
    updates: pd.DataFrame, starts: pd.DataFrame | None, smooth_window: int
) -> pd.DataFrame:
    """Per env: `runs`, its runs that gained (gain_scale > 0), and `scale`, the median of
    their gains (NaN where none did). The median of the runs that gained, not their mean
    or best: a few runs that diverged to wild returns, or never learned, do not move it."""
    if updates.empty:  # no run has metrics yet
        return pd.DataFrame({"runs": pd.Series(dtype=int), "scale": pd.Series(dtype=float)},
                            index=pd.Index([], name="env"))  # fmt: skip
    rows = []
    for run_id, run in updates.groupby("run_id", sort=False):
        returns = run.sort_values("update")["return_mean"].to_numpy(dtype=float)
        initial, history = run_start(returns, starts, run_id)
        rows.append({"env": run["env"].iloc[0],
                     "gain": gain_scale(returns, initial, history, smooth_window)})  # fmt: skip
    gains = pd.DataFrame(rows, columns=["env", "gain"])
    gained = gains["gain"].where(gains["gain"] > 0)
    return gained.groupby(gains["env"]).agg(runs="count", scale="median")
