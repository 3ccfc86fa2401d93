"""Per run, by nominal step size: how often runs collapsed at each update rule's step
sizes, and at each size of update they measured (collapse frequency, Wilson intervals)."""

import pandas as pd

from analysis import display, plots
from analysis.display import collapse_cell
from analysis.dose_response import collapse_by_run_kl
from analysis.intervals import HALF_WIDTH, runs_needed, wilson_interval
from analysis.section import Context, Figure, Finding, Part, Table
from analysis.vocabulary import ALL, CONTROLS

TITLE = "Update size and collapse, per run"


def build(ctx: Context) -> Part:
    table, frame = ctx.collapse_table, ctx.runs_with_frame
    finished = frame[frame["status"].eq("done") | frame["diverged"]]
    per_run = finished.assign(collapsed=finished["collapsed"] | finished["diverged"],
                              run_kl_max=finished["run_kl_mean_max"])  # fmt: skip
    quantiles = ctx.cfg.dose_response.run_quantiles
    by_run = collapse_by_run_kl(per_run, quantiles)
    if len(ctx.tasks) > 1:  # each task's own bins beside the pooled ones
        by_run = pd.concat([by_run.assign(env=ALL)] + [collapse_by_run_kl(part, quantiles).assign(env=env)
                           for env, part in per_run.groupby("env", sort=True)], ignore_index=True)  # fmt: skip
    stem = ctx.figure_stem
    return Part(
        TITLE,
        data={"collapse_frequency": table, "collapse_by_run_kl": by_run},
        tables=[
            Table("collapse_by_run_kl",
                  "Per run: run-level collapse frequency in quantile bins of each run's measured update "
                  "size (all algos pooled; a diverged run counts as collapsed), 95% Wilson intervals.",
                  display.run_kl(by_run)),
            Table("collapse_frequency", "Per run, by nominal step size: " + ctx.definition,
                  display.collapse_frequency(table)),
        ],
        figures=[
            Figure("collapse_frequency", plots.collapse_frequency(table, stem("collapse_frequency")),
                   "Share of runs that collapsed at each step size, per update rule, with 95% Wilson "
                   "intervals (labels: collapsed/runs). Look for where each curve leaves zero."),
            Figure("return_vs_step_size", plots.return_vs_step_size(table, stem("return_vs_step_size")),
                   "Final and best return against step size: separates 'never learned' (low best) "
                   "from 'learned, then collapsed' (high best, low final)."),
            Figure("kl_vs_final_return", plots.kl_vs_final_return(frame, stem("kl_vs_final_return")),
                   "Every run: its mean and max update KL against its final return; marker size = "
                   "step-size rank."),
        ],
        findings=[step_size_finding(table)],
        wandb={"collapse_frequency": table},
    )  # fmt: skip


def pooled_over_tasks(table: pd.DataFrame) -> pd.DataFrame:
    """The collapse table with each rule × step size summed over tasks, Wilson intervals
    recomputed: one number per setting for a Finding (the table keeps the tasks apart)."""
    pooled = (table.groupby(["variant", "step_size_key", "step_size"], sort=False, as_index=False)
              [["collapsed", "runs"]].sum())  # fmt: skip
    bounds = [wilson_interval(int(r.collapsed), int(r.runs)) for r in pooled.itertuples()]
    return pooled.assign(
        collapse_ci_low=[b[0] for b in bounds], collapse_ci_high=[b[1] for b in bounds]
    )


def step_size_finding(table: pd.DataFrame) -> Finding:
    """Collapse frequency at each update rule's smallest and largest step size (pooled over
    tasks when there are several)."""
    parts, unclear = [], []
    controls = table[table["variant"].isin(CONTROLS) & (table["runs"] > 0)]
    tasks = table["env"].nunique()
    rules = table[~table["variant"].isin(CONTROLS) & (table["runs"] > 0)]
    if tasks > 1:
        rules = pooled_over_tasks(rules)
    for variant, rows in rules.groupby("variant", sort=False):
        rows = rows.sort_values("step_size")
        small, large = rows.iloc[0], rows.iloc[-1]
        key = small["step_size_key"]
        if len(rows) == 1:
            parts.append(f"{variant} {collapse_cell(large)}")
        else:
            parts.append(
                f"{variant} {collapse_cell(small)} at {key} {small.step_size:g} → "
                f"{collapse_cell(large)} at {key} {large.step_size:g}"
            )
        for r in (small, large):
            if r.collapse_ci_high - r.collapse_ci_low > 2 * HALF_WIDTH:
                unclear.append(runs_needed(int(r.collapsed), int(r.runs)))
    text = (
        "Share of runs that collapsed, smallest → largest step size [95% Wilson CI]"
        + (f", the {tasks} tasks pooled" if tasks > 1 else "")
        + ": "
        + "; ".join(parts)
        + "."
    )
    if len(controls):
        text += " With no update at all (the zero-dose control): " + "; ".join(
            f"{r.env} {collapse_cell(r)}" for r in controls.itertuples()) + "."  # fmt: skip
    if unclear:
        text += (
            f" These intervals are wider than ±{HALF_WIDTH:g}: at the observed rates that takes up to "
            f"{max(unclear)} runs per step size."
        )
    return Finding(text, "collapse_frequency")
