"""Learning curves, for the returns and the update sizes of a study and for the
reproduction: a metric per env × update rule × step size against env steps, its mean over
seeds with a 95% t interval (n − 1 df), each run first smoothed over `smooth_window`
updates if asked; KL metrics on a log scale."""

import numpy as np
import pandas as pd
import seaborn as sns

from analysis.intervals import t_half_width
from analysis.plot_style import MAX_COLUMNS, algos_in, bound_label, env_variant_grid, plt
from analysis.vocabulary import LABEL, kl_bounded_rules, step_size_label


def curve_statistics(updates: pd.DataFrame, metric: str, smooth_window: int = 1) -> pd.DataFrame:
    """Per env × variant × step size × env step: the mean of `metric` over seeds and its 95%
    t interval (`low`, `high`); `smooth_window` > 1 first averages each run's metric over
    that many updates. A KL metric's mean and interval are taken on log10 (its geometric
    mean), its zeros left out."""
    if smooth_window > 1:
        ordered = updates.sort_values(["run_id", "update"])
        smoothed = ordered.groupby("run_id")[metric].transform(
            lambda r: r.rolling(smooth_window, min_periods=1).mean()
        )
        updates = ordered.assign(**{metric: smoothed})
    is_kl = metric.startswith("kl_")
    values = np.log10(updates[metric].where(updates[metric] > 0)) if is_kl else updates[metric]
    stats = (
        updates.assign(value=values)
        .groupby(["env", "variant", "algo", "step_size", "step"])["value"]
        .agg(["mean", "sem", "count"])
        .reset_index()
    )
    half_width = t_half_width(stats["sem"].to_numpy(float), stats["count"].to_numpy(int))
    stats["low"], stats["high"] = stats["mean"] - half_width, stats["mean"] + half_width
    if is_kl:
        stats[["mean", "low", "high"]] = 10.0 ** stats[["mean", "low", "high"]]
    return stats


def learning_curves(
    updates: pd.DataFrame,
    references: pd.DataFrame | None = None,
    smooth_window: int = 1,
    metric: str = "return_mean",
) -> plt.Figure:
    """`metric` against env steps, one panel per env × algo, one line per step size.

    `references` (algo, env, source, return) adds published figures as horizontal lines;
    `smooth_window` > 1 first averages each run's metric over that many updates. KL metrics
    span decades: their axis is logarithmic, the curve is the geometric mean over seeds with
    its interval taken on log10, and each curve of a rule whose step size bounds the KL
    (TRPO's δ) gets that bound as a dotted line.
    """
    stats = curve_statistics(updates, metric, smooth_window)
    is_kl = metric.startswith("kl_")
    envs, algos = sorted(stats["env"].unique()), algos_in(stats, "variant")
    if is_kl:  # a rule whose KL is 0 throughout (the zero-dose control) has no log-scale panel
        algos = [a for a in algos if (stats.loc[stats["variant"] == a, "mean"] > 0).any()]
    columns = min(len(algos), MAX_COLUMNS)
    fig, axes = env_variant_grid(envs, algos, 3.6, 2.9)
    reference_lines = {}
    if references is not None:
        sources = sorted(references["source"].unique())
        source_colors = dict(zip(sources, sns.color_palette("tab10", len(sources)), strict=True))
    for i, env in enumerate(envs):
        for j, algo in enumerate(algos):
            ax = axes[i, j]
            panel = stats[(stats["env"] == env) & (stats["variant"] == algo)]
            sizes = sorted(panel["step_size"].unique())
            colors = sns.color_palette("viridis", len(sizes))
            for color, size in zip(colors, sizes, strict=True):
                curve = panel[panel["step_size"] == size]
                label = step_size_label(algo, "", size).strip()
                ax.plot(curve["step"], curve["mean"], color=color, linewidth=1.8, label=label)
                ax.fill_between(curve["step"], curve["low"], curve["high"], color=color, alpha=0.2)
                if is_kl and algo in kl_bounded_rules():  # the rule itself, not a variant of it
                    ax.axhline(size, color=color, linestyle=":", linewidth=1.2)
            if is_kl:
                ax.set_yscale("log")
            if sizes:
                ax.legend(fontsize=6, loc="best")
            if references is not None:
                published = references[
                    (references["env"] == env) & (references["algo"] == algo)
                ]  # by variant = algo
                reference_lines.update(published_lines(ax, published, source_colors))
            ax.set_title(f"{env.split('-')[0]}: {LABEL.get(algo, algo)}", fontsize=9)
            ax.set_xlabel("env steps", fontsize=8)
            ax.tick_params(labelsize=7)
            ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v / 1e3:.0f}k"))
            if j % columns == 0:
                ax.set_ylabel(metric + (" (log)" if is_kl else ""), fontsize=8)
        share_y(axes[i])
    smoothing = f", each run smoothed over {smooth_window} updates" if smooth_window > 1 else ""
    mean = "geometric mean" if is_kl else "mean"
    bounds = f"; dotted: {bound_label(dict.fromkeys(kl_bounded_rules()))}" if is_kl else ""
    fig.suptitle(
        f"{metric}: {mean} over seeds, band: 95% t interval (n − 1 df){smoothing}{bounds}",
        fontsize=10,
    )
    if reference_lines:
        fig.legend(reference_lines.values(), reference_lines.keys(), loc="lower center", ncol=3,
                   fontsize=8, title="published (dashed: max over training; dotted: final return)")  # fmt: skip
        fig.tight_layout(rect=(0, 0.1 / len(envs) + 0.04, 1, title_room(fig)))
    else:
        fig.tight_layout(rect=(0, 0, 1, title_room(fig)))
    return fig


def title_room(fig: plt.Figure) -> float:
    """The top of the panels' area under a one-line suptitle, whatever the figure's height."""
    return 1.0 - 0.4 / fig.get_figheight()


def published_lines(ax: plt.Axes, published: pd.DataFrame, colors: dict) -> dict:
    """Draw published returns as horizontal lines in their source's colour (the same in
    every panel), dashed where the figure is a max over training, dotted where it is a final
    return; returns the line of each source, for the figure's legend."""
    lines = {}
    for _, ref in published.iterrows():
        is_max = "max" in str(ref.get("metric", ""))
        lines[ref["source"]] = ax.axhline(ref["return"], color=colors[ref["source"]], linewidth=1.1,
                                          linestyle="--" if is_max else ":")  # fmt: skip
    return lines


def share_y(axes) -> None:
    """One y range for one env's panels, so that its rules compare at a glance."""
    limits = np.array([ax.get_ylim() for ax in axes])
    for ax in axes:
        ax.set_ylim(limits[:, 0].min(), limits[:, 1].max())
