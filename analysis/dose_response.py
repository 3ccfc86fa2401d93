"""Dose–response: how the size of an update (its measured KL) relates to collapse.

Per update: every update of a finished run is one trial, its dose the update's kl_mean
(exact KL(π_old‖π_new) over the batch's states), its outcome the update-level collapse
rule of analysis.collapse (the return falls by more than drop_frac of the run's gain
within `updates_ahead` updates). Binned on half-decades of KL with Wilson intervals, and a
logistic regression of the outcome on log10 kl_mean with the mechanism (variant), the
task (env, with several) and training progress as covariates, its standard errors
clustered by run (updates of one run are not independent).
A run-level bootstrap gives the interval of the KL at which P(collapse) crosses a level.

Per run: the run-level collapse frequency by quantile bins of each run's median and
maximum kl_mean: the same question with runs, not updates, as the unit.

A study's pooled and per-algo fit (`study_dose_response`) is computed once for the
sections that use it.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy.special import expit, logit

from analysis.collapse import CollapseRule, run_start, share_of_gain, update_windows
from analysis.intervals import (
    bootstrap_over_runs,
    over_resamples,
    percentile_interval,
    wilson_interval,
)
from analysis.per_study import once_per_study
from analysis.vocabulary import ALL

if TYPE_CHECKING:  # the Context is built on update_trials, below
    from analysis.section import Context


def update_trials(
    updates: pd.DataFrame,
    runs: pd.DataFrame,
    rules: dict[str, CollapseRule],
    updates_ahead: int,
) -> pd.DataFrame:
    """One row per update of the runs in `runs` (run_id, updates, baseline_return and
    history_returns: see analysis.collapse.run_start): run_id, algo, env, kl_mean, kl_max,
    progress (update / the run's number of updates), `at_risk` and `collapse` (the
    update-level rule: its env's `rule.outcomes`, the configured one), `gained` (the run
    had gained at least the rule's min_gain: the updates whose `return_change`,
    analysis.collapse.return_change, is a share of a real gain), and kl_shift, kl_scale,
    kl_behaviour and kl_normaliser where the records have them (NaN where not). Only updates
    at risk are trials: one made after the policy has already fallen cannot collapse it
    again, whatever its size."""
    info = runs.set_index("run_id")
    frames = []
    for run_id, run in updates[updates["run_id"].isin(info.index)].groupby("run_id", sort=False):
        run = run.sort_values("update")
        returns = run["return_mean"].to_numpy(dtype=float)
        initial, history = run_start(returns, info, run_id)
        rule = rules[run["env"].iloc[0]]
        at_risk, collapse = rule.outcomes(returns, initial, rule, updates_ahead, history)
        level, ahead, gain = update_windows(returns, initial, updates_ahead, history)
        change = share_of_gain(level, ahead, gain)
        frames.append(
            pd.DataFrame(
                {
                    "run_id": run_id,
                    "algo": run["algo"].to_numpy(),
                    "variant": run["variant"].to_numpy(),
                    "env": run["env"].to_numpy(),
                    "step_size": run["step_size"].to_numpy(dtype=float)
                    if "step_size" in run
                    else np.nan,
                    "update": run["update"].to_numpy(),
                    "kl_mean": run["kl_mean"].to_numpy(dtype=float),
                    "kl_max": run["kl_max"].to_numpy(dtype=float),
                    **{
                        part: run[part].to_numpy(dtype=float) if part in run else np.nan
                        for part in OPTIONAL_DOSES
                    },  # fmt: skip
                    "progress": run["update"].to_numpy() / max(info.at[run_id, "updates"], 1),
                    "at_risk": at_risk,
                    "collapse": collapse,
                    "return_change": change,
                    "gained": np.isfinite(change) & (gain >= rule.min_gain),
                }
            )
        )
    columns = ["run_id", "algo", "variant", "env", "step_size", "update", "kl_mean", "kl_max", *OPTIONAL_DOSES,
               "progress", "at_risk", "collapse", "return_change", "gained"]  # fmt: skip
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


OPTIONAL_DOSES = ("kl_shift", "kl_scale", "kl_behaviour", "kl_normaliser")  # not in every record


def with_log_kl(trials: pd.DataFrame, column: str = "kl_mean") -> pd.DataFrame:
    """Trials whose update moved the policy (KL > 0), with log10 of the KL. An update of
    exactly zero KL (TRPO's line search kept θ_old) has no place on a log axis."""
    moved = trials[trials[column] > 0]
    return moved.assign(log10_kl=np.log10(moved[column].to_numpy(dtype=float)))


def kl_bins(
    trials: pd.DataFrame, column: str = "kl_mean", per_decade: int = 2, min_updates: int = 30
) -> pd.DataFrame:
    """P(collapse | KL bin) per algo and pooled (`all`): bins of 1/per_decade decade of
    `column`, with 95% Wilson intervals; `shown` marks bins with at least `min_updates`."""
    data = with_log_kl(trials, column)
    data = data.assign(bin=np.floor(data["log10_kl"] * per_decade).astype(int))
    rows = []
    for scope, part in [(ALL, data), *data.groupby("algo", sort=True)]:
        for k, in_bin in part.groupby("bin", sort=True):
            n, hits = len(in_bin), int(in_bin["collapse"].sum())
            low, high = wilson_interval(hits, n)
            rows.append(
                {
                    "scope": scope,
                    "kl_low": 10.0 ** (k / per_decade),
                    "kl_high": 10.0 ** ((k + 1) / per_decade),
                    "kl_center": 10.0 ** ((k + 0.5) / per_decade),
                    "updates": n,
                    "collapses": hits,
                    "p_collapse": hits / n,
                    "ci_low": low,
                    "ci_high": high,
                    "runs": in_bin["run_id"].nunique(),
                    "shown": n >= min_updates,
                }
            )
    return pd.DataFrame(rows, columns=BIN_COLUMNS)


BIN_COLUMNS = ["scope", "kl_low", "kl_high", "kl_center", "updates", "collapses", "p_collapse",
               "ci_low", "ci_high", "runs", "shown"]  # fmt: skip


MECHANISM = "variant"  # the covariate beside KL: the update rule as a researcher names it
STRATA = (MECHANISM, "env")  # the categorical covariates: mechanism and task, where present


def strata_levels(data: pd.DataFrame, reference: str | None = None) -> dict[str, list[str]]:
    """Each stratum's levels in `data`, the first the reference level (`reference` for the
    mechanism when given, else the first in order); a stratum with one level has no dummy."""
    levels = {c: sorted(data[c].unique()) for c in STRATA if c in data}
    if reference is not None:
        levels[MECHANISM] = [reference, *(m for m in levels[MECHANISM] if m != reference)]
    return levels


def dummy(column: str, level: str) -> str:
    """The regressor of one stratum level, e.g. variant[pg], env[Walker2d-v5]."""
    return f"{column}[{level}]"


def design(data: pd.DataFrame, levels: dict[str, list[str]]) -> pd.DataFrame:
    """Regressors: intercept, log10 KL, training progress and one dummy per stratum level
    beyond its first (the reference level)."""
    x = pd.DataFrame(
        {"const": 1.0, "log10_kl": data["log10_kl"], "progress": data["progress"]},
        index=data.index,
    )
    for column, values in levels.items():
        for value in values[1:]:
            x[dummy(column, value)] = (data[column] == value).astype(float)
    return x


def level_shares(data: pd.DataFrame, levels: dict[str, list[str]]) -> dict[str, float]:
    """Each dummy's share of the updates: where the crossing and the curve are evaluated
    (an average update of the data, not one of its reference levels)."""
    return {dummy(c, v): float((data[c] == v).mean()) for c, vs in levels.items() for v in vs[1:]}


MAX_LOGIT = 25.0  # |linear predictor| beyond this (P < 1e-11): the fit ran off to a separation


def separated(data: pd.DataFrame) -> pd.DataFrame:
    """The mechanisms whose updates all had one outcome (quasi-complete separation: their
    odds ratio has no finite estimate), each with its collapses and updates."""
    if data.empty:
        return pd.DataFrame(columns=[MECHANISM, "collapses", "updates"])
    outcome = data.groupby(MECHANISM, sort=True)["collapse"].agg(["sum", "size"])
    one = outcome[(outcome["sum"] == 0) | (outcome["sum"] == outcome["size"])]
    return pd.DataFrame({MECHANISM: one.index, "collapses": one["sum"].astype(int).to_numpy(),
                         "updates": one["size"].to_numpy()})  # fmt: skip


def without_separated(data: pd.DataFrame) -> pd.DataFrame:
    """`data` without the updates of separated mechanisms: for the other parameters their
    maximum-likelihood fit is the one that leaves those updates out."""
    return data[~data[MECHANISM].isin(separated(data)[MECHANISM])]


def fit_logit(data: pd.DataFrame, levels: dict[str, list[str]], clustered: bool, start=None,
              x: pd.DataFrame | None = None):  # fmt: skip
    """statsmodels' Logit of `collapse` on design() (or on `x`); with clustered=True its
    covariance is the cluster-robust sandwich with runs as clusters. None when it cannot be
    fitted or its estimate is degenerate (one outcome only, or a separation that drives a
    fitted probability to 0 or 1: no finite odds ratio exists). `start`: Newton's starting
    point (a bootstrap refit starts from the full fit, which it is near)."""
    y = data["collapse"].astype(float)
    if y.nunique() < 2:
        return None
    kwargs = (
        {"cov_type": "cluster", "cov_kwds": {"groups": pd.factorize(data["run_id"])[0]}}
        if clustered
        else {}
    )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = sm.Logit(y, design(data, levels) if x is None else x).fit(
                disp=0, maxiter=200, start_params=start, **kwargs
            )
    except (
        np.linalg.LinAlgError,
        ValueError,
        ZeroDivisionError,
        sm.tools.sm_exceptions.PerfectSeparationError,
    ):  # one run only: no clustered covariance
        return None
    if not np.all(np.isfinite(result.params)):
        return None
    return None if np.abs(result.fittedvalues).max() > MAX_LOGIT else result


def crossing_kl(params: pd.Series, level: float, progress: float, shares: dict) -> float:
    """The KL at which the fitted P(collapse) equals `level`, at training progress
    `progress` and the strata dummies at `shares`; NaN when P does not rise with KL."""
    slope = params["log10_kl"]
    if not slope > 0:
        return float("nan")
    rest = params["const"] + params["progress"] * progress
    rest += sum(params[name] * share for name, share in shares.items())
    return float(10.0 ** ((logit(level) - rest) / slope))


def logistic_dose_response(
    trials: pd.DataFrame,
    level: float = 0.1,
    progress: float = 0.5,
    resamples: int = 200,
    seed: int = 0,
    column: str = "kl_mean",
    pooled_only: bool = False,
) -> pd.DataFrame:
    """Per scope (all algos pooled, then each algo unless `pooled_only`): the odds ratio of collapse per tenfold
    increase of `column` with its cluster-robust 95% CI and p-value, and the KL at which
    the fitted P(collapse) crosses `level` (at training progress `progress`; mechanism
    and task effects weighted by their share of updates) with a 95% percentile interval
    from `resamples` bootstrap resamples of whole runs. The mechanism (variant) and, with
    several tasks, the task (env) are covariates."""
    data = with_log_kl(trials, column)
    rng = np.random.default_rng(seed)
    rows = []
    scopes = [(ALL, data)] + ([] if pooled_only else list(data.groupby("algo", sort=True)))
    for scope, part in scopes:
        part = without_separated(part) if part[MECHANISM].nunique() > 1 else part
        levels = strata_levels(part)
        shares = level_shares(part, levels)
        row = {
            "scope": scope,
            "updates": len(part),
            "collapses": int(part["collapse"].sum()),
            "runs": part["run_id"].nunique(),
            "kl_observed_low": float(part[column].min()) if len(part) else np.nan,
            "kl_observed_high": float(part[column].max()) if len(part) else np.nan,
            "odds_ratio": np.nan,
            "odds_ratio_ci_low": np.nan,
            "odds_ratio_ci_high": np.nan,
            "p_value": np.nan,
            "crossing_kl": np.nan,
            "crossing_ci_low": np.nan,
            "crossing_ci_high": np.nan,
            "crossing_resamples": 0,
        }
        result = fit_logit(part, levels, clustered=True)
        if result is not None:
            low, high = result.conf_int().loc["log10_kl"]
            row.update(
                odds_ratio=float(np.exp(result.params["log10_kl"])),
                odds_ratio_ci_low=float(np.exp(low)),
                odds_ratio_ci_high=float(np.exp(high)),
                p_value=float(result.pvalues["log10_kl"]),
                crossing_kl=crossing_kl(result.params, level, progress, shares),
            )
            crossings = bootstrap_crossings(part, levels, level, progress, shares, resamples, rng,
                                            result.params.to_numpy())  # fmt: skip
            low, high = percentile_interval(crossings)
            if np.isfinite(low):
                row.update(crossing_ci_low=low, crossing_ci_high=high,
                           crossing_resamples=len(crossings))  # fmt: skip
        rows.append(row)
    return pd.DataFrame(rows)


@once_per_study
def study_dose_response(ctx: Context) -> pd.DataFrame:
    """The study's per-update logistic dose–response on kl_mean (pooled, then per algo)."""
    d = ctx.cfg.dose_response
    return logistic_dose_response(ctx.at_risk, d.level, d.progress, d.bootstrap, ctx.cfg.seed)


def bootstrap_crossings(
    data: pd.DataFrame,
    levels: dict[str, list[str]],
    level: float,
    progress: float,
    shares: dict,
    resamples: int,
    rng: np.random.Generator,
    start: np.ndarray | None = None,
) -> np.ndarray:
    """Crossing KLs refitted on resamples of whole runs (finite ones only), each refit
    starting from `start`."""
    positions = list(data.groupby("run_id").indices.values())  # row positions of each run

    def crossing(picked: np.ndarray) -> float:
        index = np.concatenate([positions[i] for i in picked])
        result = fit_logit(
            data.iloc[index].reset_index(drop=True), levels, clustered=False, start=start
        )
        return np.nan if result is None else crossing_kl(result.params, level, progress, shares)

    return bootstrap_over_runs(crossing, len(positions), resamples, rng)


def fitted_curve(
    trials: pd.DataFrame, kl: np.ndarray, progress: float, resamples: int, seed: int
) -> pd.DataFrame:
    """The pooled fit's P(collapse) at each `kl` (training progress `progress`, mechanisms
    and tasks at their shares of updates) with a 95% percentile band from refits on
    resamples of whole runs; empty when the fit fails."""
    data = with_log_kl(trials)
    data = without_separated(data) if data[MECHANISM].nunique() > 1 else data
    levels = strata_levels(data)
    shares = level_shares(data, levels)

    def curve(result) -> np.ndarray:
        params = result.params
        rest = params["const"] + params["progress"] * progress
        rest += sum(params[name] * share for name, share in shares.items())
        return expit(rest + params["log10_kl"] * np.log10(kl))

    result = fit_logit(data, levels, clustered=False)
    if result is None:
        return pd.DataFrame(columns=["kl", "p", "low", "high"])
    positions = list(data.groupby("run_id").indices.values())

    def refitted(picked: np.ndarray) -> np.ndarray | None:
        index = np.concatenate([positions[i] for i in picked])
        refit = fit_logit(data.iloc[index].reset_index(drop=True), levels, clustered=False,
                          start=result.params.to_numpy())  # fmt: skip
        return None if refit is None else curve(refit)

    resampled = over_resamples(refitted, len(positions), resamples, np.random.default_rng(seed))
    curves = [c for c in resampled if c is not None]
    low, high = (np.percentile(curves, [2.5, 97.5], axis=0) if curves
                 else (np.full(len(kl), np.nan), np.full(len(kl), np.nan)))  # fmt: skip
    return pd.DataFrame({"kl": kl, "p": curve(result), "low": low, "high": high})


def mechanism_odds_ratios(trials: pd.DataFrame, reference: str) -> pd.DataFrame:
    """At equal measured KL (and training progress): the odds of a collapse under each
    mechanism against `reference`, from the pooled logistic fit, cluster-robust 95% CIs."""
    data = with_log_kl(trials)
    apart = set(separated(data)[MECHANISM])
    if reference not in set(data[MECHANISM]) or reference in apart:
        return pd.DataFrame(columns=MECHANISM_COLUMNS)
    levels = strata_levels(data, reference)
    kept = {**levels, MECHANISM: [m for m in levels[MECHANISM] if m not in apart]}
    result = fit_logit(data[~data[MECHANISM].isin(apart)], kept, clustered=True)
    rows = []
    for m in levels[MECHANISM][1:]:
        part = data[data[MECHANISM] == m]
        row = {"mechanism": m, "reference": reference, "updates": len(part),
               "collapses": int(part["collapse"].sum()), "runs": part["run_id"].nunique(),
               "odds_ratio": np.nan, "ci_low": np.nan, "ci_high": np.nan, "p_value": np.nan,
               "separated": m in apart}  # fmt: skip
        if result is not None and m not in apart:
            name = dummy(MECHANISM, m)
            low, high = result.conf_int().loc[name]
            row.update(odds_ratio=float(np.exp(result.params[name])),
                       ci_low=float(np.exp(low)), ci_high=float(np.exp(high)),
                       p_value=float(result.pvalues[name]))  # fmt: skip
        rows.append(row)
    return pd.DataFrame(rows, columns=MECHANISM_COLUMNS)


MECHANISM_COLUMNS = ["mechanism", "reference", "updates", "collapses", "runs", "odds_ratio",
                     "ci_low", "ci_high", "p_value", "separated"]  # fmt: skip


def collapse_by_run_kl(per_run: pd.DataFrame, quantiles: int = 4) -> pd.DataFrame:
    """Run-level collapse frequency in `quantiles` equal-count bins of each run's median
    and maximum kl_mean (`per_run`: run_id, algo, collapsed, run_kl_median, run_kl_max),
    pooled over algos, with 95% Wilson intervals."""
    rows = []
    for measure in ("run_kl_median", "run_kl_max"):
        data = per_run.dropna(subset=[measure])
        if data.empty:
            continue
        bins = pd.qcut(data[measure], min(quantiles, data[measure].nunique()), duplicates="drop")
        for _, part in data.groupby(bins, observed=True, sort=True):
            n, hits = len(part), int(part["collapsed"].sum())
            low, high = wilson_interval(hits, n)
            rows.append(
                {
                    "measure": measure,
                    "kl_low": float(part[measure].min()),
                    "kl_high": float(part[measure].max()),
                    "runs": n,
                    "collapsed": hits,
                    "collapse_freq": hits / n,
                    "ci_low": low,
                    "ci_high": high,
                    "algos": ", ".join(
                        f"{a} {c}" for a, c in part["algo"].value_counts().sort_index().items()
                    ),
                }
            )
    return pd.DataFrame(rows, columns=RUN_BIN_COLUMNS)


RUN_BIN_COLUMNS = ["measure", "kl_low", "kl_high", "runs", "collapsed", "collapse_freq", "ci_low",
                   "ci_high", "algos"]  # fmt: skip
