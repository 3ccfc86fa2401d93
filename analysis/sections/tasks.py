"""One answer across tasks? The per-update dose–response on each task alone and pooled
with the task as a stratum, the zero-dose control's false alarms per task, and whether
the slope and the level transfer between tasks (analysis.tasks). Only for a study of
several tasks."""

import numpy as np
import pandas as pd

from analysis import display
from analysis.display import interval
from analysis.section import Context, Finding, Part, Table, skipped
from analysis.tasks import ALPHA
from analysis.vocabulary import ALL

TITLE = "One answer across tasks"


def build(ctx: Context) -> Part | None:
    if len(ctx.tasks) < 2:
        return skipped(TITLE, "one task: there is nothing to compare across tasks")
    d, horizon = ctx.cfg.dose_response, ctx.cfg.update_collapse.horizon
    fits, tests = ctx.per_task, ctx.task_tests
    controls = ctx.zero_dose_by_task
    level = f"{d.level:.0%}"
    return Part(
        TITLE,
        data={"per_task": fits, "task_tests": pd.DataFrame([tests]), "zero_dose_by_task": controls},
        tables=[
            Table("per_task",
                  f"Per task: the logistic regression of 'a collapse follows within {horizon} updates' on "
                  f"log10 kl_mean with the mechanism and training progress (and, pooled, the task) as "
                  f"covariates, 95% CIs clustered by run; the kl_mean where the fitted risk crosses {level} "
                  f"({d.bootstrap} run-level bootstrap resamples); beside it the zero-dose control on the "
                  "same task (the collapse rules' false alarms).",
                  display.per_task(fits, controls).rename(columns=lambda c: c.replace("level", level))),
            Table("task_tests",
                  "Does the dose–response transfer between tasks? Cluster-robust Wald tests (statsmodels) of "
                  "the task × log10 kl_mean terms in the model that gives each task its own slope, and of the "
                  "task effects in the model with one common slope.",
                  display.task_tests(tests)),
        ],
        findings=[transfer_finding(fits, tests, level), zero_dose_finding(controls)],
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
        f"Wald p = {display.p_text(tests['slope_p'])}); at one common slope the level {level_text} "
        f"(p = {display.p_text(tests['level_p'])}). The fitted risk crosses {level} at kl_mean {crossings} "
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
