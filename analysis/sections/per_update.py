"""Per update: does a larger update (its measured kl_mean) make a collapse within the next
few updates more likely? Binned probabilities and a logistic dose–response on log10 KL
(analysis.dose_response), with the KL where the fitted risk crosses the report's level."""

import numpy as np
import pandas as pd

from analysis.cells import frequency, interval
from analysis.dose_response import kl_bins, logistic_dose_response, study_dose_response
from analysis.plot_style import bound_label, kl_bounds, plt
from analysis.section import Context, Figure, Finding, Part, Table
from analysis.tables import zero_dose_by_task
from analysis.vocabulary import ALL, ORDER, PALETTE, SCOPE_LABEL

TITLE = "Update size and collapse, per update"


def build(ctx: Context) -> Part:
    cfg, d, updates_ahead = ctx.cfg, ctx.cfg.dose_response, ctx.cfg.update_collapse.updates_ahead
    at_risk, dose = ctx.at_risk, study_dose_response(ctx)
    bounds = kl_bounds(ctx.runs)
    bins = kl_bins(at_risk, "kl_mean", d.bins_per_decade, d.min_updates)
    dose_kl_max = logistic_dose_response(at_risk, d.level, d.progress, 0, cfg.seed, "kl_max")
    level = f"{d.level:.0%}"
    return Part(
        TITLE,
        data={"collapse_vs_kl_bins": bins,
              "collapse_vs_kl": pd.concat([dose.assign(dose="kl_mean"),
                                           dose_kl_max.assign(dose="kl_max")])},
        tables=[
            Table("collapse_vs_kl",
                  f"Per update: logistic regression of 'a collapse follows within {updates_ahead} updates' on "
                  f"log10 kl_mean, with the mechanism (update rule and variant) and training progress as covariates (statsmodels; standard "
                  f"errors clustered by run); 'all' pools the algos. Level = {level}, for an update "
                  f"{d.progress:.0%} of the way through its run; its interval is a percentile bootstrap "
                  f"over runs ({d.bootstrap} resamples).",
                  shown_dose_response(dose).rename(columns=lambda c: c.replace("level", level))),
            Table("collapse_vs_kl_bins",
                  f"Per update: P(collapse) in half-decade bins of kl_mean (bins with ≥ {d.min_updates} "
                  "updates at risk), 95% Wilson intervals.",
                  shown_bins(bins)),
            Table("collapse_vs_kl_max",
                  "The same regression on log10 kl_max (the largest per-state KL of the update) "
                  "instead of kl_mean (no bootstrap for its crossing).",
                  shown_dose_response(dose_kl_max).rename(
                      columns=lambda c: c.replace("kl_mean", "kl_max").replace("level", level)),
                  csv="collapse_vs_kl"),
        ],
        figures=[
            Figure("collapse_vs_kl",
                   draw(figure_bins(ctx), bounds, d.min_updates,
                        zero_dose_by_task(ctx) if len(ctx.tasks) > 1 else None),
                   f"The answer per update: P(a collapse follows within {updates_ahead} updates) for "
                   f"half-decade bins of the update's kl_mean, per algo (dashed) and pooled (solid), 95% "
                   f"Wilson intervals. Only updates made while the policy still had a gain to lose "
                   f"count; bins with fewer than {d.min_updates} such updates are not drawn. Dotted: "
                   f"{bound_label(bounds)} values."
                   + (" One panel per task; grey band: the zero-dose control's rate on the task, 95% "
                      "Wilson interval." if len(ctx.tasks) > 1 else "")),
        ],
        findings=[odds_ratio_finding(dose, updates_ahead), crossing_finding(dose, d.level)],
        wandb={"collapse_vs_kl": dose},
    )  # fmt: skip


def shown_dose_response(dose: pd.DataFrame) -> pd.DataFrame:
    """The logistic fit per scope: odds ratio per decade of KL and the crossing KL."""
    return pd.DataFrame(
        {
            "algo": dose["scope"],
            "updates at risk (runs)": [f"{r.updates} ({r.runs})" for r in dose.itertuples()],
            "followed by a collapse": dose["collapses"],
            "kl_mean observed": [
                f"{r.kl_observed_low:.2g}–{r.kl_observed_high:.2g}" for r in dose.itertuples()
            ],
            "odds ratio per 10× kl_mean [95% CI, clustered by run]": [
                interval(r.odds_ratio, r.odds_ratio_ci_low, r.odds_ratio_ci_high)
                for r in dose.itertuples()
            ],
            "p": dose["p_value"].map(lambda p: f"{p:.2g}" if np.isfinite(p) else "–"),
            "kl_mean where P(collapse) = level [95% bootstrap CI]": [
                interval(r.crossing_kl, r.crossing_ci_low, r.crossing_ci_high, ".2g")
                for r in dose.itertuples()
            ],
        }
    )


def shown_bins(bins: pd.DataFrame) -> pd.DataFrame:
    shown = bins[bins["shown"].astype(bool)]
    return pd.DataFrame(
        {
            "algo": shown["scope"],
            "kl_mean bin (nats)": [f"{r.kl_low:.2g}–{r.kl_high:.2g}" for r in shown.itertuples()],
            "collapses / updates = P [95% Wilson CI]": [
                frequency(r.collapses, r.updates, r.ci_low, r.ci_high) for r in shown.itertuples()
            ],
            "runs": shown["runs"],
        }
    )


def figure_bins(ctx: Context) -> pd.DataFrame:
    """The figure's bins: pooled over tasks, or each task's own (an `env` column)."""
    d = ctx.cfg.dose_response
    if len(ctx.tasks) < 2:
        return kl_bins(ctx.at_risk, "kl_mean", d.bins_per_decade, d.min_updates)
    return pd.concat([kl_bins(part, "kl_mean", d.bins_per_decade, d.min_updates).assign(env=env)
                      for env, part in ctx.at_risk.groupby("env", sort=True)], ignore_index=True)  # fmt: skip


def or_text(row) -> str:
    """An odds ratio with its CI (from a dose-response row, Series or tuple)."""
    return interval(row.odds_ratio, row.odds_ratio_ci_low, row.odds_ratio_ci_high)


def odds_ratio_finding(dose: pd.DataFrame, updates_ahead: int) -> Finding:
    """The odds ratio of an update-level collapse per tenfold kl_mean, pooled and per algo."""
    pooled = dose.set_index("scope").loc[ALL] if ALL in set(dose["scope"]) else None
    if pooled is None or not np.isfinite(pooled["odds_ratio"]):
        n = int(pooled["collapses"]) if pooled is not None else 0
        return Finding(
            f"Per update, the data cannot tell how KL relates to collapse: {n} update-level "
            "collapses, too few (or too cleanly separated) to fit the logistic regression.",
            "collapse_vs_kl",
        )
    per_algo = [
        f"{r.scope} {or_text(r)}"
        for r in dose[dose["scope"] != ALL].itertuples()
        if np.isfinite(r.odds_ratio)
    ]
    no_fit = [
        r.scope for r in dose[dose["scope"] != ALL].itertuples() if not np.isfinite(r.odds_ratio)
    ]
    text = (
        f"Per update ({int(pooled['updates'])} updates at risk in {int(pooled['runs'])} runs, "
        f"{int(pooled['collapses'])} followed by a collapse within {updates_ahead} updates), each tenfold "
        f"increase of kl_mean multiplies the odds of a collapse by {or_text(pooled)} "
        "(logistic regression with the mechanism and training progress, 95% CI clustered by run)"
    )
    if per_algo:
        text += "; per algo: " + ", ".join(per_algo)
    if no_fit:
        text += f"; {', '.join(no_fit)}: too few collapses to fit"
    return Finding(text + ".", "collapse_vs_kl")


def kl_interval(low: float, high: float, observed_high: float) -> str:
    """A crossing's bootstrap interval, its ends past 100× the largest KL seen written as such."""
    if not np.isfinite(low):
        return " (no bootstrap interval: too few resamples could be fitted)"
    upper = "far beyond the KL observed" if high > 100 * observed_high else f"{high:.2g}"
    return f" [{low:.2g}, {upper}]"


def crossing_finding(dose: pd.DataFrame, level: float) -> Finding:
    """The KL where the fitted P(collapse) crosses `level`, pooled and per algo."""
    parts = []
    for r in dose.itertuples():
        if not np.isfinite(r.crossing_kl):
            parts.append(f"{r.scope}: not estimable (P does not rise with KL, or no fit)")
            continue
        where = (
            f"beyond the largest kl_mean observed ({r.kl_observed_high:.2g})"
            if r.crossing_kl > r.kl_observed_high
            else f"below the smallest observed ({r.kl_observed_low:.2g})"
            if r.crossing_kl < r.kl_observed_low
            else "within the observed range"
        )
        interval = kl_interval(r.crossing_ci_low, r.crossing_ci_high, r.kl_observed_high)
        parts.append(f"{r.scope} {r.crossing_kl:.2g} nats{interval}, {where}")
    return Finding(
        f"The fitted P(collapse) of an update halfway through a run crosses {level:.0%} at "
        "kl_mean ≈ " + "; ".join(parts) + " (95% intervals from a bootstrap over runs).",
        "collapse_vs_kl",
    )


def draw(
    bins: pd.DataFrame, marks: dict[str, list[float]], min_updates: int,
    zero_dose: pd.DataFrame | None = None,
) -> plt.Figure:  # fmt: skip
    """P(collapse | kl_mean bin) per algo and pooled, 95% Wilson intervals; bins with fewer
    than `min_updates` updates are left out. `marks` maps an algo to KLs to mark (TRPO's δ).
    With an `env` column (a study of several tasks): one panel per task, and the zero-dose
    control's update-level rate on it (`zero_dose`: env, updates_k/_n/_low/_high) as a band."""
    tasks = sorted(bins["env"].unique()) if "env" in bins else [None]
    fig, axes = plt.subplots(1, len(tasks), figsize=(8.5 if len(tasks) == 1 else 4.6 * len(tasks), 5),
                             sharey=True, squeeze=False)  # fmt: skip
    top = 0.0
    for ax, task in zip(axes[0], tasks, strict=True):
        part = bins if task is None else bins[bins["env"] == task]
        shown = part[part["shown"].astype(bool)]
        top = max(top, float(shown["ci_high"].max()) if len(shown) else 0.0)
        draw_collapse_bins(ax, shown, marks, min_updates)
        if zero_dose is not None and task in set(zero_dose["env"]):
            r = zero_dose.set_index("env").loc[task]
            if r["updates_n"]:
                ax.axhspan(r["updates_low"], r["updates_high"], color="0.6", alpha=0.3, lw=0,
                           label="zero dose (no update)")  # fmt: skip
        if task is not None:
            ax.set_title(task)
    axes[0][0].set_ylabel("P(collapse within the next updates) (95% Wilson CI)")
    axes[0][0].set_ylim(
        -0.02, min(1.03, 1.15 * (top or 1.0) + 0.02)
    )  # the probabilities, not the empty top
    if axes[0][0].get_legend_handles_labels()[0]:
        axes[0][0].legend(loc="upper left", fontsize=8)
    title = (f"Update size vs collapse (bins with ≥ {min_updates} updates at risk; dotted: "
             f"{bound_label(marks)})")  # fmt: skip
    xlabel = "kl_mean of the update, KL(π_old‖π_new) (nats, log scale, half-decade bins)"
    if tasks == [None]:
        axes[0][0].set_title(title)
        axes[0][0].set_xlabel(xlabel)
    else:
        fig.suptitle(title)
        fig.supxlabel(xlabel)
    return fig


def draw_collapse_bins(
    ax, shown: pd.DataFrame, marks: dict[str, list[float]], min_updates: int
) -> None:
    """One panel of the figure: a line per scope (pooled solid, per algo dashed)."""
    scopes = [s for s in [ALL, *ORDER] if s in set(shown["scope"])]
    for offset, scope in zip(np.linspace(-0.04, 0.04, max(len(scopes), 1)), scopes, strict=False):
        rows = shown[shown["scope"] == scope].sort_values("kl_center")
        x = (
            rows["kl_center"] * 10.0**offset
        )  # a small shift per line so the intervals do not overlap
        ax.errorbar(x, rows["p_collapse"], yerr=[rows["p_collapse"] - rows["ci_low"],
                    rows["ci_high"] - rows["p_collapse"]], marker="o", capsize=3,
                    color=PALETTE.get(scope), lw=2.4 if scope == ALL else 1.4,
                    ls="-" if scope == ALL else "--",
                    label=SCOPE_LABEL.get(scope, scope))  # fmt: skip
    for algo, values in marks.items():
        for value in values:
            ax.axvline(value, color=PALETTE.get(algo), ls=":", lw=1)
    ax.set_xscale("log")
    if not scopes:  # nothing to draw: say why instead of leaving an empty panel
        ax.text(0.5, 0.5, f"no KL bin has {min_updates} updates at risk yet", ha="center",
                va="center", transform=ax.transAxes)  # fmt: skip
