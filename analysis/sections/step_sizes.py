"""Per run, by nominal step size: how often runs collapsed at each update rule's step
sizes, and at each size of update they measured (collapse frequency, Wilson intervals)."""

import matplotlib
import pandas as pd
import seaborn as sns

from analysis.cells import collapse_cell, frequency, interval, rule_columns
from analysis.definition import definition
from analysis.dose_response import collapse_by_run_kl
from analysis.intervals import HALF_WIDTH, runs_needed, wilson_interval
from analysis.plot_style import algos_in, env_variant_grid, plt
from analysis.section import Context, Figure, Finding, Part, Table
from analysis.tables import study_collapse_table
from analysis.vocabulary import ALL, CONTROLS, LABEL, PALETTE

TITLE = "Update size and collapse, per run"


def build(ctx: Context) -> Part:
    table, frame = study_collapse_table(ctx), ctx.runs_with_frame
    finished = frame[frame["status"].eq("done") | frame["diverged"]]
    per_run = finished.assign(collapsed=finished["collapsed"] | finished["diverged"],
                              run_kl_max=finished["run_kl_mean_max"])  # fmt: skip
    quantiles = ctx.cfg.dose_response.run_quantiles
    by_run = collapse_by_run_kl(per_run, quantiles)
    if len(ctx.tasks) > 1:  # each task's own bins beside the pooled ones
        by_run = pd.concat([by_run.assign(env=ALL)] + [collapse_by_run_kl(part, quantiles).assign(env=env)
                           for env, part in per_run.groupby("env", sort=True)], ignore_index=True)  # fmt: skip
    return Part(
        TITLE,
        data={"collapse_frequency": table, "collapse_by_run_kl": by_run},
        tables=[
            Table("collapse_by_run_kl",
                  "Per run: run-level collapse frequency in quantile bins of each run's measured update "
                  "size (all algos pooled; a diverged run counts as collapsed), 95% Wilson intervals.",
                  shown_by_run_kl(by_run)),
            Table("collapse_frequency", "Per run, by nominal step size: " + definition(ctx),
                  shown_collapse_frequency(table)),
        ],
        figures=[
            Figure("collapse_frequency", draw_collapse_frequency(table),
                   "Share of runs that collapsed at each step size, per update rule, with 95% Wilson "
                   "intervals (labels: collapsed/runs). Look for where each curve leaves zero."),
            Figure("return_vs_step_size", draw_return_vs_step_size(table),
                   "Final and best return against step size: separates 'never learned' (low best) "
                   "from 'learned, then collapsed' (high best, low final)."),
            Figure("kl_vs_final_return", draw_kl_vs_final_return(frame),
                   "Every run: its mean and max update KL against its final return; marker size = "
                   "step-size rank."),
        ],
        findings=[step_size_finding(table)],
        wandb={"collapse_frequency": table},
    )  # fmt: skip


def zero_dose_cells(table: pd.DataFrame) -> list[str]:
    """Per row, the zero-dose control's collapses in the same env (the false-alarm rate)."""
    controls = table[table["variant"].isin(CONTROLS)].groupby("env")
    cells = {env: frequency(int(rows["collapsed"].sum()), int(rows["runs"].sum()),
                            *wilson_interval(int(rows["collapsed"].sum()), int(rows["runs"].sum())))
             for env, rows in controls}  # fmt: skip
    return [cells.get(env, "no zero-dose run") for env in table["env"]]


def shown_collapse_frequency(table: pd.DataFrame) -> pd.DataFrame:
    """Per env × update rule × step size: run-level collapses with Wilson CI beside the
    zero-dose control's (the rule's false alarms), update size, final return."""
    return pd.DataFrame(
        {
            **rule_columns(table),
            "collapsed / runs = frequency [95% Wilson CI]": [
                frequency(r.collapsed, r.runs, r.collapse_ci_low, r.collapse_ci_high)
                for r in table.itertuples()
            ],
            "with no update at all (zero dose, same env)": zero_dose_cells(table),
            "diverged": table["diverged"],
            "recovered": table["recovered"],
            "excluded": table["excluded"],
            "kl_mean median (IQR)": [
                f"{r.kl_mean_median:.2g} ({r.kl_mean_q25:.2g}–{r.kl_mean_q75:.2g})"
                for r in table.itertuples()
            ],
            "final return [95% CI]": [
                interval(r.final_return, r.final_return_ci_low, r.final_return_ci_high, ".0f")
                for r in table.itertuples()
            ],
        }
    )


def shown_by_run_kl(by_run: pd.DataFrame) -> pd.DataFrame:
    names = {"run_kl_median": "median kl_mean of the run", "run_kl_max": "max kl_mean of the run"}
    return pd.DataFrame(
        {
            **({"task": by_run["env"]} if "env" in by_run else {}),
            "run's update size": by_run["measure"].map(names),
            "quantile bin (nats)": [f"{r.kl_low:.2g}–{r.kl_high:.2g}" for r in by_run.itertuples()],
            "collapsed / runs = frequency [95% Wilson CI]": [
                frequency(r.collapsed, r.runs, r.ci_low, r.ci_high) for r in by_run.itertuples()
            ],
            "runs per algo": by_run["algos"],
        }
    )


def per_algo_axes(table: pd.DataFrame, ylabel: str) -> tuple[plt.Figure, list]:
    """A grid of env rows × variant columns (step sizes differ in kind between update
    rules); returns the figure and (axis, that panel's rows sorted by step size) pairs. The
    zero-dose control has no step size: the tables give its rates beside every row."""
    table = table[~table["variant"].isin(CONTROLS)]
    envs, algos = sorted(table["env"].unique()), algos_in(table, "variant")
    fig, axes = env_variant_grid(envs, algos, 3.6, 3.2)
    panels = []
    for i, env in enumerate(envs):
        for j, algo in enumerate(algos):
            ax = axes[i, j]
            rows = table[(table["env"] == env) & (table["variant"] == algo)].sort_values(
                "step_size"
            )
            key = rows["step_size_key"].iloc[0] if len(rows) else "step size"
            ax.set_xscale("log")
            if rows["step_size"].nunique() == 1:  # one step size: a panel around it, not a sliver
                value = float(rows["step_size"].iloc[0])
                ax.set_xlim(value / 3, value * 3)
                ax.set_xticks([value], [f"{value:g}"])
                ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
            ax.set_xlabel(f"{key} (log scale)")
            ax.set_ylabel(ylabel)
            ax.set_title(f"{env.split('-')[0]}: {LABEL.get(algo, algo)}", fontsize=9)
            panels.append((ax, rows))
    fig.tight_layout(h_pad=2.0)
    return fig, panels


def draw_collapse_frequency(table: pd.DataFrame) -> plt.Figure:
    fig, panels = per_algo_axes(table, "collapse frequency (95% Wilson CI)")
    for ax, rows in panels:
        color = PALETTE.get(rows["algo"].iloc[0]) if len(rows) else None
        low = (rows["collapse_freq"] - rows["collapse_ci_low"]).to_numpy()
        high = (rows["collapse_ci_high"] - rows["collapse_freq"]).to_numpy()
        ax.errorbar(rows["step_size"], rows["collapse_freq"], yerr=[low, high], marker="o",
                    capsize=4, color=color)  # fmt: skip
        for r in rows.itertuples():
            ax.annotate(f"{r.collapsed}/{r.runs}", (r.step_size, r.collapse_freq), fontsize=8,
                        textcoords="offset points", xytext=(4, 4))  # fmt: skip
        ax.set_ylim(-0.05, 1.05)
    return fig


def draw_return_vs_step_size(table: pd.DataFrame) -> plt.Figure:
    fig, panels = per_algo_axes(table, "return")
    for k, (ax, rows) in enumerate(panels):
        low = (rows["final_return"] - rows["final_return_ci_low"]).to_numpy()
        high = (rows["final_return_ci_high"] - rows["final_return"]).to_numpy()
        ax.errorbar(rows["step_size"], rows["final_return"], yerr=[low, high], marker="o",
                    capsize=4, label="final (95% bootstrap CI)")  # fmt: skip
        ax.plot(
            rows["step_size"], rows["best_return"], marker="^", ls="--", label="best (smoothed)"
        )
        if k == 0:  # one legend: the same two lines in every panel
            ax.legend(fontsize=8)
    return fig


def draw_kl_vs_final_return(per_run: pd.DataFrame) -> plt.Figure:
    data = per_run.dropna(subset=["run_kl_mean", "final_return"])
    data = data.assign(size_rank=data.groupby("algo")["step_size"].rank(method="dense"))
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8), sharey=True)
    for ax, column, label in (
        (axes[0], "run_kl_mean", "mean of kl_mean over the run's updates (nats)"),
        (axes[1], "run_kl_max", "max of kl_max over the run's updates (nats)"),
    ):
        sns.scatterplot(data=data, x=column, y="final_return", hue="algo", size="size_rank",
                        style="env", palette=PALETTE, hue_order=algos_in(data), ax=ax,
                        sizes=(20, 160), alpha=0.8)  # fmt: skip
        ax.set_xscale("log")
        ax.set_xlabel(label + ", log scale")
        ax.set_ylabel("final return (mean return_mean, last updates)")
    axes[0].legend().remove()
    axes[1].legend(title="algo / step-size rank (larger = bigger step) / env", fontsize=8,
                   bbox_to_anchor=(1.02, 1), loc="upper left")  # fmt: skip
    fig.suptitle("Per run: how far updates moved the policy vs where the run ended")
    return fig


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
