"""One answer across tasks? The per-update dose–response fitted on each task alone and
pooled with the task as a stratum, the zero-dose control's false alarms per task, and
whether the slope (the odds ratio per decade of KL) and the level (the risk at a given KL)
transfer between tasks: cluster-robust Wald tests (statsmodels) of the task × log10 KL
interaction, and of the task effects in the model with one common slope. Only for a study
of several tasks."""

import numpy as np
import pandas as pd

from analysis.cells import frequency, interval, p_text
from analysis.dose_response import (
    design,
    dummy,
    fit_logit,
    logistic_dose_response,
    strata_levels,
    study_dose_response,
    with_log_kl,
)
from analysis.intervals import wilson_interval
from analysis.section import Context, Finding, Part, Table, skipped
from analysis.tables import zero_dose_by_task
from analysis.vocabulary import ALL

TITLE = "One answer across tasks"
ALPHA = 0.05  # the level at which the transfer tests' Findings call a difference


def build(ctx: Context) -> Part | None:
    if len(ctx.tasks) < 2:
        return skipped(TITLE, "one task: there is nothing to compare across tasks")
    d, updates_ahead = ctx.cfg.dose_response, ctx.cfg.update_collapse.updates_ahead
    fits = per_task_dose_response(ctx.at_risk, d.level, d.progress, d.bootstrap, ctx.cfg.seed,
                                  pooled=study_dose_response(ctx))  # fmt: skip
    tests = task_interaction(ctx.at_risk)
    controls = zero_dose_by_task(ctx)
    level = f"{d.level:.0%}"
    return Part(
        TITLE,
        data={"per_task": fits, "task_tests": pd.DataFrame([tests]), "zero_dose_by_task": controls},
        tables=[
            Table("per_task",
                  f"Per task: the logistic regression of 'a collapse follows within {updates_ahead} updates' on "
                  f"log10 kl_mean with the mechanism and training progress (and, pooled, the task) as "
                  f"covariates, 95% CIs clustered by run; the kl_mean where the fitted risk crosses {level} "
                  f"({d.bootstrap} run-level bootstrap resamples); beside it the zero-dose control on the "
                  "same task (the collapse rules' false alarms).",
                  shown_fits(fits, controls).rename(columns=lambda c: c.replace("level", level))),
            Table("task_tests",
                  "Does the dose–response transfer between tasks? Cluster-robust Wald tests (statsmodels) of "
                  "the task × log10 kl_mean terms in the model that gives each task its own slope, and of the "
                  "task effects in the model with one common slope.",
                  shown_tests(tests)),
        ],
        findings=[transfer_finding(fits, tests, level), zero_dose_finding(controls)],
    )  # fmt: skip


def shown_fits(fits: pd.DataFrame, controls: pd.DataFrame) -> pd.DataFrame:
    """Per task (and pooled): the dose–response's odds ratio and crossing KL beside the
    zero-dose control's false alarms on that task."""
    zero = controls.set_index("env")

    def control_cell(env: str, kind: str) -> str:
        """The task's zero-dose counts; pooled over tasks on the pooled row."""
        rows = zero if env == "all" else zero.loc[[env]] if env in zero.index else zero.iloc[:0]
        k, n = int(rows[f"{kind}_k"].sum()), int(rows[f"{kind}_n"].sum())
        return frequency(k, n, *wilson_interval(k, n)) if n else "no zero-dose run"

    return pd.DataFrame(
        {
            "task": fits["env"],
            "updates at risk (runs)": [f"{r.updates} ({r.runs})" for r in fits.itertuples()],
            "followed by a collapse": fits["collapses"],
            "odds ratio per 10× kl_mean [95% CI, clustered by run]": [
                interval(r.odds_ratio, r.odds_ratio_ci_low, r.odds_ratio_ci_high)
                for r in fits.itertuples()
            ],
            "kl_mean where P(collapse) = level [95% bootstrap CI]": [
                interval(r.crossing_kl, r.crossing_ci_low, r.crossing_ci_high, ".2g")
                for r in fits.itertuples()
            ],
            "zero dose: runs collapsed": [control_cell(e, "runs") for e in fits["env"]],
            "zero dose: updates followed by a 'collapse'": [control_cell(e, "updates") for e in fits["env"]],
        }
    )  # fmt: skip


def shown_tests(tests: dict) -> pd.DataFrame:
    """The two transfer tests: does the slope differ between tasks, does the level."""
    return pd.DataFrame(
        {
            "question": ["does the slope (odds ratio per 10× kl_mean) differ between tasks?",
                         "does the level (the risk at a given kl_mean) differ, with one common slope?"],
            "Wald χ² (df)": [f"{tests['slope_chi2']:.3g} ({tests['df']})",
                             f"{tests['level_chi2']:.3g} ({tests['df']})"],
            "p": [p_text(tests["slope_p"]), p_text(tests["level_p"])],
        }
    )  # fmt: skip


def transfer_finding(fits: pd.DataFrame, tests: dict, level: str) -> Finding:
    per_task = fits[fits["env"] != ALL]
    fitted = per_task[np.isfinite(per_task["odds_ratio"].astype(float))]
    rising = fitted[fitted["odds_ratio_ci_low"] > 1]
    ors = "; ".join(f"{r.env} {interval(r.odds_ratio, r.odds_ratio_ci_low, r.odds_ratio_ci_high)}"
                    for r in fitted.itertuples())  # fmt: skip
    crossings = "; ".join(
        f"{r.env} {interval(r.crossing_kl, r.crossing_ci_low, r.crossing_ci_high, '.2g')}"
        for r in per_task.itertuples()
    )
    common = (f"On every one of the {len(per_task)} tasks the odds of a collapse rise with kl_mean"
              if len(rising) == len(per_task)
              else f"The odds of a collapse rise with kl_mean beyond their interval on {len(rising)} of "
                   f"{len(per_task)} tasks ({', '.join(rising['env']) or 'none'})")  # fmt: skip
    slope = "differs between tasks" if tests["slope_p"] < ALPHA else "does not differ detectably"
    level_text = "differs" if tests["level_p"] < ALPHA else "does not differ detectably"
    return Finding(
        f"{common}: odds ratio per tenfold kl_mean {ors}. The slope {slope} (task × log10 kl_mean, "
        f"Wald p = {p_text(tests['slope_p'])}); at one common slope the level {level_text} "
        f"(p = {p_text(tests['level_p'])}). The fitted risk crosses {level} at kl_mean {crossings} "
        "nats (95% run-level bootstrap intervals).",
        "per_task",
    )  # fmt: skip


def zero_dose_finding(controls: pd.DataFrame) -> Finding:
    parts = [f"{r.env} {r.runs_k}/{r.runs_n} runs, {r.updates_k}/{r.updates_n} updates"
             for r in controls.itertuples() if r.runs_n]  # fmt: skip
    if not parts:
        return Finding(
            "No task has a zero-dose control run: the false-alarm rate is unknown.", "per_task"
        )
    return Finding(
        "With no update at all (the zero-dose control), the collapse rules fired on "
        + "; ".join(parts)
        + ": the false-alarm rate of every frequency on that task.",
        "per_task",
    )


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
