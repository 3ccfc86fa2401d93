"""Where runs ended: final return per update rule and step size (rliable's IQM and mean
with stratified-bootstrap intervals) and the learning curves behind it."""

import pandas as pd

from analysis.aggregate import interval_estimates, score_matrix
from analysis.cells import interval
from analysis.learning_curves import learning_curves
from analysis.section import Context, Figure, Part, Table
from analysis.vocabulary import step_size_label

TITLE = "Returns"


def build(ctx: Context) -> Part:
    table = aggregate_returns(ctx.done.merge(ctx.frame, on="run_id"), ctx.cfg.seed)
    return Part(
        TITLE,
        data={"returns": table},
        tables=[
            Table("returns",
                  f"Final return (mean return_mean of the last {ctx.cfg.final_window} updates) per "
                  "update rule and step size: interquartile mean and mean over runs with 95% "
                  "stratified-bootstrap intervals (rliable).",
                  shown(table)),
        ],
        figures=[
            Figure("learning_curves", learning_curves(ctx.updates),
                   "Learning curves per update rule and step size: mean over seeds with a 95% CI band."),
        ],
    )  # fmt: skip


def aggregate_returns(per_run: pd.DataFrame, seed: int) -> pd.DataFrame:
    """rliable's IQM and mean of the final return per env × update rule × step size."""
    frames = []
    for env, part in per_run.groupby("env", sort=True):
        labels = [step_size_label(r.variant, r.step_size_key, r.step_size)
                  for r in part.itertuples()]  # fmt: skip
        part = part.assign(group=part["variant"] + ", " + pd.Series(labels, index=part.index),
                           score=part["final_return"])  # fmt: skip
        matrices = {g: score_matrix(rows) for g, rows in part.groupby("group", sort=False)}
        frames.append(interval_estimates(matrices, seed=seed).assign(env=env))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def shown(aggregate: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "env": aggregate["env"],
            "update rule, step size": aggregate["group"],
            "runs": aggregate["runs"],
            "final return IQM [95% CI]": [
                interval(r.iqm, r.iqm_ci_low, r.iqm_ci_high, ".0f") for r in aggregate.itertuples()
            ],
            "final return mean [95% CI]": [
                interval(r.mean, r.mean_ci_low, r.mean_ci_high, ".0f")
                for r in aggregate.itertuples()
            ],
        }
    )
