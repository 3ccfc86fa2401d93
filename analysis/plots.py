"""The report's figures. Each function draws one figure from tidy frames and saves it as
PNG and SVG under `stem`; statistics come from analysis.tables / analysis.warning."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from algos.registry import ALGOS  # noqa: E402
from analysis.collapse import update_windows  # noqa: E402
from analysis.intervals import t_half_width  # noqa: E402
from analysis.vocabulary import (  # noqa: E402
    ALL,
    CONTROLS,
    LABEL,
    ORDER,
    PALETTE,
    SCOPE_LABEL,
    kl_bounded_rules,
    ordered,
    step_size_label,
)

MAX_POINTS_PER_PANEL = 40_000
MAX_COLUMNS = 4  # panels per row of a grid: a figure no wider than about 1,600 px


def save(fig: plt.Figure, stem: Path) -> list[Path]:
    paths = [stem.with_suffix(".png"), stem.with_suffix(".svg")]
    fig.savefig(paths[0], dpi=110, bbox_inches="tight")
    fig.savefig(paths[1], bbox_inches="tight")
    plt.close(fig)
    return paths


def algos_in(frame: pd.DataFrame, column: str = "algo") -> list[str]:
    """The algos (or variants) in `frame[column]`, in the suite's usual order."""
    return ordered(frame[column])


def bound_label(marks: dict[str, list[float]]) -> str:
    """What the dotted lines of KL bounds are: `TRPO's δ`."""
    return ", ".join(f"{ALGOS[rule].title}'s {ALGOS[rule].symbol}" for rule in marks)


def future_return_change(updates: pd.DataFrame, horizon: int) -> pd.Series:
    """Mean return_mean over the next `horizon` updates (analysis.collapse.update_windows'
    `ahead`, the update-level rule's) minus the return at this update."""
    changes = []
    for _, run in updates.sort_values(["run_id", "update"]).groupby("run_id", sort=False):
        returns = run["return_mean"].to_numpy(dtype=float)
        _, ahead, _ = update_windows(returns, np.nan, horizon)
        changes.append(pd.Series(ahead - returns, index=run.index))
    return pd.concat(changes).reindex(updates.index) if changes else pd.Series(dtype=float)


def kl_vs_return(
    updates: pd.DataFrame, horizon: int, marks: dict[str, list[float]], stem: Path
) -> list[Path]:
    """Every update's kl_mean against the return change after it; `marks` maps a rule whose
    step size bounds the KL to its step sizes (dotted)."""
    data = updates.assign(change=future_return_change(updates, horizon))
    data = data[(data["kl_mean"] > 0) & data["change"].notna()]
    envs = sorted(data["env"].unique())
    fig, axes = plt.subplots(1, len(envs), figsize=(6.5 * len(envs), 4.8), squeeze=False)
    for ax, env in zip(axes[0], envs, strict=True):
        panel = data[data["env"] == env]
        if len(panel) > MAX_POINTS_PER_PANEL:
            panel = panel.sample(MAX_POINTS_PER_PANEL, random_state=0)
        for algo in algos_in(panel):
            part = panel[panel["algo"] == algo]
            ax.scatter(part["kl_mean"], part["change"], s=6, alpha=0.35, color=PALETTE.get(algo),
                       label=LABEL.get(algo, algo), rasterized=True)  # fmt: skip
        for rule, values in marks.items():
            for value in values:
                ax.axvline(value, color=PALETTE[rule], ls=":", lw=1)
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_xscale("log")
        ax.set_title(f"{env} (dotted: {bound_label(marks)} values)")
        ax.set_xlabel("kl_mean of the update, KL(π_old‖π_new) (nats, log scale)")
        ax.set_ylabel(f"return change over next {horizon} updates")
        ax.legend(markerscale=3, title="algo (step-size key)")
    return save(fig, stem)


def kl_vs_final_return(per_run: pd.DataFrame, stem: Path) -> list[Path]:
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
    return save(fig, stem)


def env_variant_grid(
    envs: list, algos: list, width: float, height: float
) -> tuple[plt.Figure, np.ndarray]:
    """One panel per env × variant, each env's panels wrapped into rows of at most
    MAX_COLUMNS (a figure no wider than about 1,600 px); returns the figure and the panels
    as an envs × variants array. Panels left over in an env's last row are hidden."""
    columns = max(1, min(len(algos), MAX_COLUMNS))
    rows_per_env = -(-len(algos) // columns)
    fig, grid = plt.subplots(len(envs) * rows_per_env, columns, squeeze=False,
                             figsize=(width * columns, height * len(envs) * rows_per_env))  # fmt: skip
    axes = np.array([[grid.flat[i * rows_per_env * columns + j] for j in range(len(algos))]
                     for i in range(len(envs))]).reshape(len(envs), len(algos))  # fmt: skip
    for ax in set(grid.flat) - set(axes.flat):
        ax.set_visible(False)
    return fig, axes


def share_y(axes) -> None:
    """One y range for one env's panels, so that its rules compare at a glance."""
    limits = np.array([ax.get_ylim() for ax in axes])
    for ax in axes:
        ax.set_ylim(limits[:, 0].min(), limits[:, 1].max())


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


def collapse_frequency(table: pd.DataFrame, stem: Path) -> list[Path]:
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
    return save(fig, stem)


def return_vs_step_size(table: pd.DataFrame, stem: Path) -> list[Path]:
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
    return save(fig, stem)


def implementation(finished: pd.DataFrame, stem: Path) -> list[Path]:
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
    return save(fig, stem)


def learning_curves(
    updates: pd.DataFrame,
    stem: Path,
    references: pd.DataFrame | None = None,
    smooth_window: int = 1,
    metric: str = "return_mean",
) -> list[Path]:
    """`metric` against env steps, one panel per env × algo, one line per step size.

    `references` (algo, env, source, return) adds published figures as horizontal lines;
    `smooth_window` > 1 first averages each run's metric over that many updates. KL metrics
    span decades: their axis is logarithmic, the curve is the geometric mean over seeds with
    its interval taken on log10, and each curve of a rule whose step size bounds the KL
    (TRPO's δ) gets that bound as a dotted line.
    """
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
    return save(fig, stem)


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


def table1_comparison(merged: pd.DataFrame, rho: float, ours_label: str, stem: Path) -> list[Path]:
    """The PPO paper's normalised score per Table 1 variant beside ours (compare_with_paper)."""
    tidy = merged.melt(id_vars="variant", value_vars=["normalized_score_paper", "normalized_score_ours"],
                       var_name="source", value_name="normalized score")  # fmt: skip
    tidy["source"] = tidy["source"].map(
        {"normalized_score_paper": "PPO paper (1M steps, v1)", "normalized_score_ours": ours_label}
    )
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(merged) + 1.5))
    sns.barplot(tidy, y="variant", x="normalized score", hue="source", ax=ax,
                palette=["0.6", PALETTE["ppo"]])  # fmt: skip
    ax.axvline(0.0, color="black", linewidth=0.8)
    ax.legend(title="source", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_title(f"PPO objective variants: normalised score (Spearman ρ = {rho:.2f})")
    return save(fig, stem)


def table1_by_implementation(cells: pd.DataFrame, stem: Path) -> list[Path]:
    """Per env: each Table 1 variant's normalised score under impl=paper and impl=modern
    (each its own table: random = 0, its best variant = 1) beside the paper's average over
    its seven tasks; below 0 = worse than the random policy."""
    envs = sorted(cells["env"].unique())
    order = (cells.drop_duplicates("variant").sort_values("normalized_score_paper", ascending=False)
             ["variant"].tolist())  # fmt: skip
    fig, axes = plt.subplots(
        1, len(envs), figsize=(5.5 * len(envs), 4.2), squeeze=False, sharey=True
    )
    marks = {"paper": ("o", "C0", -0.12), "modern": ("s", "C1", 0.12)}
    for ax, env in zip(axes[0], envs, strict=True):
        rows = cells[cells["env"] == env].set_index(["impl", "variant"])
        x = np.arange(len(order))
        paper = cells.drop_duplicates("variant").set_index("variant")["normalized_score_paper"]
        ax.scatter(
            x, paper.reindex(order), marker="*", s=140, color="k", label="PPO paper (7-task mean)"
        )
        for impl, (marker, color, shift) in marks.items():
            if impl in rows.index.get_level_values(0):
                scores = rows.loc[impl]["normalized_score"].reindex(order)
                ax.scatter(
                    x + shift, scores, marker=marker, color=color, label=f"ours, impl={impl}"
                )
        ax.axhline(0.0, color="grey", linestyle="--", linewidth=1)
        ax.set_xticks(x, [v.replace("(", "\n(") for v in order], fontsize=8)
        ax.set_title(f"{env}, 1M steps")
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].set_ylabel("normalised score (random = 0, best variant = 1)")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    return save(fig, stem)


def kl_warning_roc(curves: dict, verdicts: dict, stem: Path) -> list[Path]:
    order = [ALL, *ORDER]
    algos = sorted(
        {algo for algo, _ in verdicts}, key=lambda a: order.index(a) if a in order else 9
    )
    fig, axes = plt.subplots(
        1, max(len(algos), 1), figsize=(4.6 * max(len(algos), 1), 4.4), squeeze=False
    )
    for ax, algo in zip(axes[0], algos, strict=False):
        for score, ls in (("kl_max", "-"), ("kl_mean", "--")):
            if (algo, score) in curves:
                fpr, tpr = curves[(algo, score)]
                ax.plot(
                    fpr,
                    tpr,
                    ls=ls,
                    color=PALETTE.get(algo),
                    label=f"{score}: {verdicts[(algo, score)]}",
                )
        ax.plot([0, 1], [0, 1], color="grey", lw=0.8)
        ax.set_title(SCOPE_LABEL.get(algo, algo))
        ax.set_xlabel("false-alarm rate")
        ax.set_ylabel("share of pre-collapse updates flagged")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, loc="lower right")
        else:  # no curve to draw: say why in the panel instead of leaving it blank
            verdict = "\n".join(f"{score}: {verdicts[(algo, score)]}"
                                 for score in ("kl_max", "kl_mean") if (algo, score) in verdicts)  # fmt: skip
            ax.text(0.5, 0.5, verdict, ha="center", va="center", fontsize=8, wrap=True)
    return save(fig, stem)


def collapse_vs_kl(
    bins: pd.DataFrame, marks: dict[str, list[float]], min_updates: int, stem: Path,
    zero_dose: pd.DataFrame | None = None,
) -> list[Path]:  # fmt: skip
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
    return save(fig, stem)


def draw_collapse_bins(
    ax, shown: pd.DataFrame, marks: dict[str, list[float]], min_updates: int
) -> None:
    """One panel of collapse_vs_kl: a line per scope (pooled solid, per algo dashed)."""
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


def held_out_calibration(
    bins: pd.DataFrame,
    settings: pd.DataFrame,
    stem: Path,
    fitted_on: str = "the step-size grids",
    scored: str = "held-out",
) -> list[Path]:
    """Left: observed against predicted P(collapse) of the held-out updates in equal-count
    bins of the prediction (95% Wilson intervals) and the diagonal of a calibrated fit.
    Right: per task and held-out setting, the observed per-update rate (95% interval over
    runs) against the predicted one."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.6))
    for ax in (left, right):
        ax.axline((0, 0), slope=1, color="0.5", ls=":", lw=1)
        ax.set_xlabel(f"predicted P(collapse) per update (fitted on {fitted_on})")
    left.errorbar(bins["predicted"], bins["observed"], yerr=[bins["observed"] - bins["ci_low"],
                  bins["ci_high"] - bins["observed"]], marker="o", capsize=3, color=PALETTE[ALL], ls="")  # fmt: skip
    left.set_ylabel("observed share of updates followed by a collapse")
    left.set_title(f"{scored.capitalize()} updates, binned by prediction")
    markers = dict(zip(sorted(settings["env"].unique()), "osD^v", strict=False))
    colors = dict(zip(sorted(settings["setting"].unique()),
                      sns.color_palette("colorblind", settings["setting"].nunique()), strict=True))  # fmt: skip
    for r in settings.itertuples():
        right.errorbar([r.predicted_rate], [r.observed_rate],
                       yerr=[[r.observed_rate - r.observed_ci_low], [r.observed_ci_high - r.observed_rate]],
                       marker=markers[r.env], color=colors[r.setting], capsize=3, ls="")  # fmt: skip
    handles = [plt.Line2D([], [], color=c, marker="o", ls="", label=s) for s, c in colors.items()]
    handles += [
        plt.Line2D([], [], color="0.3", marker=m, ls="", label=e) for e, m in markers.items()
    ]
    right.legend(handles=handles, fontsize=7, loc="upper left")
    right.set_ylabel("observed per-update rate (95% CI over runs)")
    right.set_title(f"Per {scored} setting and task")
    top = max(float(np.nanmax([bins["ci_high"].max(), settings["observed_ci_high"].max(),
                               settings["predicted_rate"].max(), bins["predicted"].max()])), 0.05)  # fmt: skip
    for ax in (left, right):
        ax.set_xlim(0, 1.05 * top)
        ax.set_ylim(0, 1.05 * top)
    return save(fig, stem)


def performance_profile(profiles: dict, cis: dict, taus: np.ndarray, stem: Path) -> list[Path]:
    """rliable's performance profiles: the share of runs whose normalised score exceeds τ,
    per group, with stratified-bootstrap bands."""
    from rliable import plot_utils

    fig, ax = plt.subplots(figsize=(7, 4.5))
    colors = dict(zip(profiles, sns.color_palette("colorblind", len(profiles)), strict=True))
    plot_utils.plot_performance_profiles(profiles, taus, performance_profile_cis=cis, ax=ax,
                                         colors=colors, xlabel="normalised score τ (1 = published median)",
                                         ylabel="share of runs with score > τ")  # fmt: skip
    ax.legend(handles=[plt.Line2D([], [], color=c, label=g) for g, c in colors.items()], fontsize=8)
    ax.set_title("Performance profiles (rliable), 95% stratified-bootstrap bands")
    return save(fig, stem)


def taylor_model(updates: pd.DataFrame, band: tuple[float, float], stem: Path) -> list[Path]:
    """Per δ, the exact KL of TRPO's and NPG's full step over δ (what its quadratic model
    promised), one box per rule; the shaded band is where the model is taken to hold."""
    logged = updates.dropna(subset=["kl_full_step"]).assign(
        ratio=lambda u: u["kl_full_step"] / u["step_size"],
        delta=lambda u: u["step_size"].map("{:g}".format),
    )
    fig, ax = plt.subplots(figsize=(8.5, 4.5))
    if len(logged):
        deltas = sorted(logged["step_size"].unique())
        variants = algos_in(logged, "variant")
        sns.boxplot(logged, x="delta", y="ratio", hue="variant", order=[f"{d:g}" for d in deltas],
                    hue_order=variants, palette={v: PALETTE.get(v) for v in variants}, ax=ax,
                    fliersize=1.5, log_scale=True)  # fmt: skip
        handles, labels = ax.get_legend_handles_labels()
        ax.legend(handles, [LABEL.get(v, v) for v in labels], fontsize=8, loc="upper left")
    ax.axhspan(*band, color="0.85", zorder=0)
    ax.axhline(1.0, color="0.4", lw=1, ls=":")
    ax.set_xlabel("δ (the quadratic model's KL of the full step, nats)")
    ax.set_ylabel("kl_full_step / δ (exact over modelled KL)")
    ax.set_title(f"Where the quadratic model of the KL holds (shaded: {band[0]:g}–{band[1]:g})")
    return save(fig, stem)


def headline(
    bins: pd.DataFrame,
    curve: pd.DataFrame,
    control: dict,
    horizon: int,
    min_updates: int,
    stem: Path,
) -> list[Path]:
    """The report's answer in one picture: P(collapse) per kl_mean bin and update rule, the
    pooled fitted curve with its band, and the zero-dose control's rate as a grey band."""
    fig, ax = plt.subplots(figsize=(9.0, 4.2))
    if len(curve):
        ax.fill_between(
            curve["kl"], curve["low"], curve["high"], color=PALETTE[ALL], alpha=0.15, lw=0
        )
        ax.plot(
            curve["kl"],
            curve["p"],
            color=PALETTE[ALL],
            lw=2.4,
            label="fitted, all rules pooled (95% band)",
        )
    if control["updates"]:
        low, high = control["ci"]
        ax.axhspan(low, high, color="0.6", alpha=0.3, lw=0)
        ax.axhline(
            control["p"],
            color="0.45",
            lw=1.2,
            ls="--",
            label=f"no update at all: {control['collapses']}/{control['updates']} updates",
        )
    shown = bins[bins["shown"].astype(bool)]
    scopes = [s for s in ORDER if s in set(shown["scope"])]
    for offset, scope in zip(np.linspace(-0.05, 0.05, max(len(scopes), 1)), scopes, strict=False):
        rows = shown[shown["scope"] == scope].sort_values("kl_center")
        ax.errorbar(rows["kl_center"] * 10.0**offset, rows["p_collapse"],
                    yerr=[rows["p_collapse"] - rows["ci_low"], rows["ci_high"] - rows["p_collapse"]],
                    marker="o", ls="none", capsize=2, color=PALETTE.get(scope),
                    label=SCOPE_LABEL.get(scope, scope))  # fmt: skip
    ax.set_xscale("log")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("kl_mean of the update, KL(π_old‖π_new) (nats, log scale)")
    ax.set_ylabel(f"P(collapse within {horizon} updates)")
    if len(curve) or len(shown):
        ax.legend(loc="upper left", fontsize=8)
    else:
        ax.text(0.5, 0.5, f"no KL bin has {min_updates} updates at risk yet", ha="center",
                va="center", transform=ax.transAxes)  # fmt: skip
    return save(fig, stem)


def collapse_filmstrip(table: pd.DataFrame, strips: list[dict], updates: pd.DataFrame,
                       stem: Path) -> list[Path]:  # fmt: skip
    """One row per update rule: the run's return_mean against env steps with the breaking
    update marked, then the frames of the policy before (top) and after (bottom) it."""
    frames = max(len(s["frames_before"]) for s in strips)
    fig = plt.figure(figsize=(4.6 + 1.25 * frames, 2.7 * len(strips)))
    rows = fig.subfigures(len(strips), 1, squeeze=False)[:, 0]
    for row, r, strip in zip(rows, table.itertuples(), strips, strict=True):
        grid = row.add_gridspec(2, frames + 2, width_ratios=[2.6, 1.2, *[1] * frames],
                                top=0.84, bottom=0.17)  # fmt: skip
        curve = row.add_subplot(grid[:, 0])
        run = updates[updates["run_id"] == r.run_id].sort_values("update")
        curve.plot(run["step"], run["return_mean"], color=PALETTE.get(r.variant, "k"), lw=1.4)
        curve.axvline(r.step, color="crimson", ls="--", lw=1.2)
        curve.set_title(f"{LABEL.get(r.variant, r.variant)}\nupdate {r.update}, "
                        f"kl_mean {r.kl_mean:.2g} nats", fontsize=9)  # fmt: skip
        curve.set_xlabel("env steps", fontsize=8)
        curve.set_ylabel("return_mean", fontsize=8)
        curve.tick_params(labelsize=7)
        for k, name in enumerate(("before", "after")):
            shots, steps = strip[f"frames_{name}"], strip[f"at_{name}"]
            label = row.add_subplot(grid[k, 1])
            label.set_axis_off()
            label.text(0.95, 0.5, f"{name} update {r.update}\nreturn {strip[f'return_{name}']:.0f}\n"
                       f"{strip[f'length_{name}']} steps", ha="right", va="center", fontsize=8,
                       color="crimson" if name == "after" else "k")  # fmt: skip
            for j in range(frames):
                ax = row.add_subplot(grid[k, j + 2])
                ax.set_axis_off()
                if j < len(shots):
                    ax.imshow(shots[j])
                    ax.set_title(f"t={steps[j]}", fontsize=7, pad=2)
    return save(fig, stem)
