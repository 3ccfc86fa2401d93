"""One answer across tasks? The per-update dose–response fitted on each task alone, and
whether its slope (the odds ratio per decade of KL) and its level (the risk at a given KL)
differ between tasks: cluster-robust Wald tests (statsmodels) of the task × log10 KL
interaction, and of the task effects in the model with one common slope."""

import numpy as np
import pandas as pd

from analysis.dose_response import (
    design,
    dummy,
    fit_logit,
    logistic_dose_response,
    strata_levels,
    with_log_kl,
)
from analysis.vocabulary import ALL

ALPHA = 0.05  # the level at which the transfer tests' Findings call a difference


def per_task_dose_response(
    trials: pd.DataFrame,
    level: float,
    progress: float,
    resamples: int,
    seed: int,
    pooled: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The pooled fit (task a covariate) and each task's own: logistic_dose_response's
    pooled row, with an `env` column (`all` for the pooled one). `pooled`: a
    logistic_dose_response of the same trials and settings already fitted (its `all` row is
    taken), so that the pooled fit and its bootstrap are not run twice."""
    if pooled is None:
        pooled = logistic_dose_response(trials, level, progress, resamples, seed, pooled_only=True)
    fits = [pooled[pooled["scope"] == ALL].assign(env=ALL)]
    fits += [
        logistic_dose_response(part, level, progress, resamples, seed, pooled_only=True).assign(
            env=env
        )
        for env, part in trials.groupby("env", sort=True)
    ]
    frame = pd.concat(fits, ignore_index=True)
    return frame[["env", *(c for c in frame.columns if c not in ("env", "scope"))]]


def wald(result, names: list[str]) -> tuple[float, float]:
    """χ² statistic and p-value of the joint test that the coefficients `names` are 0,
    with the fit's own (cluster-robust) covariance."""
    restriction = np.zeros((len(names), len(result.params)))
    for row, name in enumerate(names):
        restriction[row, result.params.index.get_loc(name)] = 1.0
    test = result.wald_test(restriction, scalar=True, use_f=False)
    return float(test.statistic), float(test.pvalue)


def task_interaction(trials: pd.DataFrame) -> dict:
    """Do the slope and the level of the dose–response differ between tasks? `slope_*`:
    the task × log10 KL terms, in the model that gives each task its own slope; `level_*`:
    the task effects, in the model with one common slope. Each a Wald χ² with its degrees
    of freedom (tasks − 1) and p-value, clustered by run; NaN with fewer than two tasks or
    when a model cannot be fitted."""
    data = with_log_kl(trials)
    levels = strata_levels(data)
    envs = levels.get("env", [])
    out = {"tasks": len(envs), "df": max(len(envs) - 1, 0), "slope_chi2": np.nan,
           "slope_p": np.nan, "level_chi2": np.nan, "level_p": np.nan}  # fmt: skip
    if len(envs) < 2:
        return out
    effects = [dummy("env", e) for e in envs[1:]]
    x = design(data, levels)
    slopes = [f"log10_kl:{name}" for name in effects]
    for name, slope in zip(effects, slopes, strict=True):
        x[slope] = x["log10_kl"] * x[name]
    own_slopes = fit_logit(data, levels, clustered=True, x=x)
    common_slope = fit_logit(data, levels, clustered=True)
    if own_slopes is not None:
        out["slope_chi2"], out["slope_p"] = wald(own_slopes, slopes)
    if common_slope is not None:
        out["level_chi2"], out["level_p"] = wald(common_slope, effects)
    return out
