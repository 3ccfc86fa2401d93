"""What prevents collapse: the clip, or the code-level optimisations around it? For each
update rule run under several implementation settings (conf/impl), each setting's collapse
frequency and final return against its base setting. Present only when a rule was run
under more than one setting.

Each implementation setting against its base for the same update rule (the
implementation ablation): `paper` and `modern − X` against modern, `paper − X` against paper. What a switch
changes in the final return, in the collapse frequency and in the size of the updates, each
difference with its 95% interval.

The final return is compared by the difference of means with Welch's t interval
(statsmodels CompareMeans), the collapse frequency by Newcombe's interval of the difference
of two proportions; the update size by the ratio of the settings' median per-run median
kl_mean (a descriptive multiplier, no interval). A run `ended below its start` when its
final return is below its initial return (the untrained policy's, or the starting policy's
for a warm start): the paper's sign of a failed variant.
"""

import numpy as np
import pandas as pd

from analysis.cells import collapse_cell, frequency, interval, rule_columns
from analysis.definition import definition
from analysis.intervals import apart, newcombe_interval, welch_interval
from analysis.plot_style import plt
from analysis.section import Context, Figure, Finding, Part, Table, skipped
from analysis.tables import GROUP, collapse_table
from analysis.vocabulary import step_size_label
from records.implementation import base_preset

TITLE = "What prevents collapse? Implementation settings"
RULE = ["env", "variant", "step_size_key", "step_size"]
COLUMNS = [
    *RULE, "impl", "base", "runs", "base_runs", "final_return", "base_final_return",
    "final_diff", "final_diff_ci_low", "final_diff_ci_high",
    "collapsed", "base_collapsed", "collapse_diff", "collapse_diff_ci_low", "collapse_diff_ci_high",
    "below_start", "base_below_start", "kl_median", "base_kl_median", "kl_ratio",
]  # fmt: skip


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
                  "the switches named turned off): " + definition(ctx),
                  shown(table)),
            Table("implementation_effects",
                  "Each setting against its base (paper and modern − X against modern, paper − X "
                  "against paper) for the same update rule: difference of mean final return "
                  "(Welch's t interval), of collapse frequency (Newcombe's interval), the ratio of "
                  "median update size, and runs whose final return ended below their initial return.",
                  shown_versus_base(effects)),
        ],
        figures=[
            Figure("implementation", draw(impl_runs),
                   "What prevents collapse? Per update rule run under several implementation "
                   "settings: each run's final return and its median kl_mean; hollow = ended below "
                   "its initial return. Look for the setting that moves both."),
        ],
        findings=[found] if found else [],
    )  # fmt: skip


def shown(table: pd.DataFrame) -> pd.DataFrame:
    """Per env × update rule × implementation setting: collapses, update sizes, final return."""
    rows = list(table.itertuples())
    return pd.DataFrame(
        {
            **rule_columns(table),
            "implementation": table["impl"],
            "collapsed / runs [95% Wilson CI]": [
                frequency(r.collapsed, r.runs, r.collapse_ci_low, r.collapse_ci_high) for r in rows
            ],
            "recovered": table["recovered"],
            "kl_mean median / 95th pct": [
                f"{r.kl_mean_median:.2g} / {r.kl_mean_q95:.2g}" for r in rows
            ],
            "ratio_max 95th pct": table["ratio_max_q95"].map(lambda v: f"{v:.3g}"),
            "final return [95% CI]": [
                interval(r.final_return, r.final_return_ci_low, r.final_return_ci_high, ".0f")
                for r in rows
            ],
        }
    )


def shown_versus_base(effects: pd.DataFrame) -> pd.DataFrame:
    """Per rule × setting: its differences from its base setting, with intervals."""
    rows = list(effects.itertuples())
    return pd.DataFrame(
        {
            **rule_columns(effects),
            "implementation (against)": [f"{r.impl} ({r.base})" for r in rows],
            "runs (base)": [f"{r.runs} ({r.base_runs})" for r in rows],
            "final return (base)": [
                f"{r.final_return:,.0f} ({r.base_final_return:,.0f})" for r in rows
            ],
            "final return − base [95% Welch CI]": [
                interval(r.final_diff, r.final_diff_ci_low, r.final_diff_ci_high, "+,.0f")
                for r in rows
            ],
            "collapse frequency − base [95% Newcombe CI]": [
                interval(r.collapse_diff, r.collapse_diff_ci_low, r.collapse_diff_ci_high, "+.2f")
                for r in rows
            ],
            "kl_mean median (base)": [
                f"{r.kl_median:.2g} ({r.base_kl_median:.2g}) = ×{r.kl_ratio:.2g}" for r in rows
            ],
            "ended below start (base)": [
                f"{r.below_start}/{r.runs} ({r.base_below_start}/{r.base_runs})" for r in rows
            ],
        }
    )


def draw(finished: pd.DataFrame) -> plt.Figure:
    """Per update rule run under several implementation settings: each run's final return
    (dots; bar = mean, ended-below-start runs hollow) and its median kl_mean (log axis)."""
    rules = [(key, rows) for key, rows in finished.groupby(["env", "variant", "step_size"], sort=True)
             if rows["impl"].nunique() > 1]  # fmt: skip
    heights = [max(1.5, 0.35 * rows["impl"].nunique() + 0.8) for _, rows in rules]
    fig, axes = plt.subplots(len(rules), 2, figsize=(11, sum(heights)), squeeze=False,
                             gridspec_kw={"height_ratios": heights})  # fmt: skip
    for (key, rows), (ax_return, ax_kl) in zip(rules, axes, strict=True):
        order = sorted(rows["impl"].unique(), key=lambda i: (i != "modern", i != "paper", i))
        y = rows["impl"].map({impl: i for i, impl in enumerate(order)})
        for ax, column in ((ax_return, "final_return"), (ax_kl, "run_kl_median")):
            filled = ~rows["below_start"]
            ax.scatter(rows.loc[filled, column], y[filled], color="C0", zorder=3)
            ax.scatter(rows.loc[~filled, column], y[~filled], facecolors="none", edgecolors="C3",
                       zorder=3, label="ended below its start")  # fmt: skip
            centre = rows.groupby("impl")[column].mean() if ax is ax_return else (
                rows.groupby("impl")[column].median())  # fmt: skip
            ax.scatter(centre[order], range(len(order)), marker="|", s=400, color="k", zorder=4)
            ax.set_yticks(range(len(order)), order if ax is ax_return else [""] * len(order))
            ax.grid(axis="x", alpha=0.3)
            ax.invert_yaxis()
        ax_kl.set_xscale("log")
        env, variant, _ = key
        ax_return.set_title(f"{env} {variant}: final return (bar: mean)", fontsize=9)
        ax_kl.set_title("median kl_mean per run, nats (bar: median)", fontsize=9)
    if rules:
        handles, labels = axes[0][0].get_legend_handles_labels()
        if handles:
            fig.legend(handles[-1:], labels[-1:], loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


def runs_per_setting(runs: pd.Series) -> str:
    low, high = int(runs.min()), int(runs.max())
    return f"{low}" if low == high else f"{low}–{high}"


def implementation_finding(table: pd.DataFrame, effects: pd.DataFrame) -> Finding | None:
    """Per update rule tried under several implementation settings: each setting's collapse
    frequency; then, against its base setting (`versus_base`, below), which
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


def finished_runs(runs: pd.DataFrame, per_run: pd.DataFrame) -> pd.DataFrame:
    """One row per done run: its rule, impl, collapse flag, final return, median kl_mean and
    whether it ended below its start (per_run's initial_return, the collapse rule's)."""
    done = runs[runs["status"] == "done"].merge(per_run, on="run_id")
    return done.assign(
        collapsed=done["collapsed"].fillna(False).astype(bool),
        below_start=done["final_return"] < done["initial_return"],
    )


def versus_base(finished: pd.DataFrame) -> pd.DataFrame:
    """Per rule and setting whose base (`base_preset`) also ran that rule: one row."""
    rows = []
    for key, rule in finished.groupby(RULE, sort=True):
        for impl, other in rule.groupby("impl", sort=True):
            base = base_preset(impl)
            reference = rule[rule["impl"] == base]
            if impl == base or reference.empty:
                continue
            base_final = reference["final_return"].to_numpy(dtype=float)
            base_kl = float(reference["run_kl_median"].median())
            final = other["final_return"].to_numpy(dtype=float)
            low, high = welch_interval(final, base_final)
            k, k0 = int(other["collapsed"].sum()), int(reference["collapsed"].sum())
            c_low, c_high = newcombe_interval(k, len(other), k0, len(reference))
            kl = float(other["run_kl_median"].median())
            rows.append(
                {
                    **dict(zip(RULE, key, strict=True)),
                    "impl": impl,
                    "base": base,
                    "runs": len(other),
                    "base_runs": len(reference),
                    "final_return": final.mean(),
                    "base_final_return": base_final.mean(),
                    "final_diff": final.mean() - base_final.mean(),
                    "final_diff_ci_low": low,
                    "final_diff_ci_high": high,
                    "collapsed": k,
                    "base_collapsed": k0,
                    "collapse_diff": k / len(other) - k0 / len(reference),
                    "collapse_diff_ci_low": c_low,
                    "collapse_diff_ci_high": c_high,
                    "below_start": int(other["below_start"].sum()),
                    "base_below_start": int(reference["below_start"].sum()),
                    "kl_median": kl,
                    "base_kl_median": base_kl,
                    "kl_ratio": kl / base_kl if base_kl > 0 else np.nan,
                }
            )
    return pd.DataFrame(rows, columns=COLUMNS)
