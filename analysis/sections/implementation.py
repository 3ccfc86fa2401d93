"""What prevents collapse: the clip, or the code-level optimisations around it? For each
update rule run under several implementation settings (conf/impl), each setting's collapse
frequency and final return against its base setting. Present only when a rule was run
under more than one setting."""

import pandas as pd

from analysis import display, plots
from analysis.display import collapse_cell, interval
from analysis.implementation_effects import finished_runs, versus_base
from analysis.intervals import apart
from analysis.section import Context, Figure, Finding, Part, Table, skipped
from analysis.tables import GROUP, collapse_table
from analysis.vocabulary import step_size_label

TITLE = "What prevents collapse? Implementation settings"


def build(ctx: Context) -> Part | None:
    runs = ctx.runs
    if runs.groupby(GROUP)["impl"].nunique().max() <= 1:
        return skipped(TITLE, "no update rule ran under more than one implementation setting")
    table = collapse_table(runs, ctx.frame, ctx.updates, ctx.cfg.seed, [*GROUP, "impl"])
    impl_runs = finished_runs(runs, ctx.frame)
    effects = versus_base(impl_runs)
    found = implementation_finding(table, effects)
    return Part(
        TITLE,
        data={"implementation": table, "implementation_effects": effects},
        tables=[
            Table("implementation",
                  "What prevents collapse: the clip, or the code-level optimisations around it? Per "
                  "update rule and implementation setting (conf/impl: modern, paper, or modern with "
                  "the switches named turned off): " + ctx.definition,
                  display.implementation(table)),
            Table("implementation_effects",
                  "Each setting against its base (paper and modern − X against modern, paper − X "
                  "against paper) for the same update rule: difference of mean final return "
                  "(Welch's t interval), of collapse frequency (Newcombe's interval), the ratio of "
                  "median update size, and runs whose final return ended below their initial return.",
                  display.versus_base(effects)),
        ],
        figures=[
            Figure("implementation", plots.implementation(impl_runs, ctx.figure_stem("implementation")),
                   "What prevents collapse? Per update rule run under several implementation "
                   "settings: each run's final return and its median kl_mean; hollow = ended below "
                   "its initial return. Look for the setting that moves both."),
        ],
        findings=[found] if found else [],
    )  # fmt: skip


def runs_per_setting(runs: pd.Series) -> str:
    low, high = int(runs.min()), int(runs.max())
    return f"{low}" if low == high else f"{low}–{high}"


def implementation_finding(table: pd.DataFrame, effects: pd.DataFrame) -> Finding | None:
    """Per update rule tried under several implementation settings: each setting's collapse
    frequency; then, against its base setting (analysis.implementation_effects), which
    settings change the final return and which the collapse frequency beyond chance, with
    their intervals, and by what factor each changes the median update size."""
    parts = []
    for (env, variant, key, step), rows in table.groupby(
        ["env", "variant", "step_size_key", "step_size"], sort=False
    ):
        if rows["impl"].nunique() < 2 or rows["runs"].sum() == 0:
            continue
        cells = "; ".join(f"{r.impl} {collapse_cell(r)}" for r in rows.itertuples())
        rule = (
            variant
            if variant.startswith("ppo_none")
            else f"{variant} ({step_size_label(variant, key, step)})"
        )
        text = f"{env} {rule}: collapsed {cells}"
        vs = effects[(effects["env"] == env) & (effects["variant"] == variant)
                     & (effects["step_size"] == step)]  # fmt: skip
        if len(vs):
            shifts = "; ".join(
                f"{r.impl} vs {r.base} {interval(r.final_diff, r.final_diff_ci_low, r.final_diff_ci_high, '+,.0f')}"
                f" (final {r.final_return:,.0f} vs {r.base_final_return:,.0f}; kl_mean median "
                f"×{r.kl_ratio:.2g}; ended below start {r.below_start}/{r.runs} vs "
                f"{r.base_below_start}/{r.base_runs})"
                for r in vs.itertuples()
            )  # fmt: skip
            final_apart = [f"{r.impl}" for r in vs.itertuples()
                           if apart(r.final_diff_ci_low, r.final_diff_ci_high)]  # fmt: skip
            collapse_apart = [
                f"{r.impl} {interval(r.collapse_diff, r.collapse_diff_ci_low, r.collapse_diff_ci_high, '+.2f')}"
                for r in vs.itertuples() if apart(r.collapse_diff_ci_low, r.collapse_diff_ci_high)
            ]  # fmt: skip
            text += (
                f". Final return against the base setting [95% Welch CI]: {shifts}. Beyond chance, "
                f"the final return changes under: {', '.join(final_apart) or 'no setting'}; the "
                f"collapse frequency under: {', '.join(collapse_apart) or 'no setting'} (95% "
                f"Newcombe interval; {runs_per_setting(rows['runs'])} runs per setting)"
            )
        parts.append(text)
    if not parts:
        return None
    return Finding(
        "What prevents collapse? Per update rule and implementation setting [95% Wilson CI]: "
        + " | ".join(parts)
        + ".",
        "implementation",
    )
