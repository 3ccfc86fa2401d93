"""Our PPO and TRPO next to published figures: the PPO paper's Table 1 (normalised score
of objective variants) and returns at 1M steps. Writes CSV + Markdown under
results/reproduction/, with the metric each source used, so like is compared with like.
"""

import sys
from pathlib import Path

import hydra
import numpy as np
import pandas as pd
import seaborn as sns
from omegaconf import DictConfig

from analysis.aggregate import (
    interval_estimates,
    performance_profiles,
    probability_of_improvement,
    score_matrix,
)
from analysis.intervals import mean_interval
from analysis.learning_curves import learning_curves
from analysis.normalized_score import (
    IMPLEMENTATIONS,
    compare_with_paper,
    normalized_scores,
    run_scores,
    scores_by_env,
    table1_by_implementation,
    table1_label,
)
from analysis.plot_style import plt
from analysis.render import save
from analysis.run_frame import final_episode_return, initial_returns, per_run_returns
from analysis.settings import REPRODUCTION_KEYS, check_command_line, check_or_exit
from analysis.vocabulary import PALETTE
from records.load import load, load_sweeps
from records.paths import CONF_DIR

UPDATE_SIZE_HEADING = (
    "Update size per {group}: kl_mean (exact KL(π_old‖π_new) of each update) median, 95th "
    "percentile and max over all updates, and the median of each update's ratio_max."
)


def returns_table(
    runs: pd.DataFrame, updates: pd.DataFrame, episodes: int, smooth_window: int, seed: int
) -> pd.DataFrame:
    """Per algo × env × step size: final return (last `episodes` episodes) and max smoothed return over
    training, each as mean over seeds with a 95% bootstrap interval."""
    done = runs[runs["status"] == "done"].set_index("run_id")
    best = per_run_returns(updates, 1, smooth_window).set_index("run_id")["best_return"]
    done = done.assign(final=final_episode_return(updates, episodes), max_smoothed=best)
    rows = []
    for (algo, env, key, size), group in done.groupby(
        ["algo", "env", "step_size_key", "step_size"]
    ):
        row = {
            "algo": algo,
            "env": env.split("-")[0],
            "step_size": f"{key} {size:g}",
            "seeds": len(group),
            "steps": int(group["steps"].max()),
        }
        for column in ("final", "max_smoothed"):
            values = group[column].to_numpy(dtype=float)
            low, high = mean_interval(values, seed=seed)
            row.update({column: values.mean(), f"{column}_ci_low": low, f"{column}_ci_high": high})
        rows.append(row)
    return pd.DataFrame(rows)


def update_size(runs: pd.DataFrame, updates: pd.DataFrame, label, name: str) -> pd.DataFrame:
    """How big each group's updates were, the quantity δ, ε and β control: kl_mean median,
    95th percentile and max over all updates of all its runs, and the median ratio_max.
    `label(run row)` names a run's group; the groups are listed under column `name`."""
    labels = runs.set_index("run_id").apply(label, axis=1)
    per_update = updates[updates["run_id"].isin(labels.index)]
    return (
        per_update.assign(**{name: per_update["run_id"].map(labels)})
        .groupby(name)
        .agg(
            kl_mean_median=("kl_mean", "median"),
            kl_mean_p95=("kl_mean", lambda kl: kl.quantile(0.95)),
            kl_mean_max=("kl_mean", "max"),
            ratio_max_median=("ratio_max", "median"),
            updates=("kl_mean", "size"),
        )
        .reset_index()
    )


def algo_env_label(run: pd.Series) -> str:
    return f"{run['algo']} {run['step_size_key']} {run['step_size']:g}, {run['env']}"


def beside_published(ours: pd.DataFrame, published: pd.DataFrame, episodes: int) -> pd.DataFrame:
    """One row per figure, published and ours, grouped by algo × env, each with its metric."""
    metrics = {
        "final": f"final: mean return of the last {episodes} episodes",
        "max_smoothed": "max over training of the smoothed return_mean",
    }
    rows = [
        {
            "algo": r["algo"],
            "env": r["env"],
            "source": f"ours ({r['step_size']}, {r['seeds']} seed{'s' * (r['seeds'] != 1)})",
            "return": r[column],
            "std": float("nan"),
            "ci_low": r[f"{column}_ci_low"],
            "ci_high": r[f"{column}_ci_high"],
            "metric": f"{metric} at {r['steps']:,} steps; 95% bootstrap CI over seeds",
        }  # fmt: skip
        for _, r in ours.iterrows()
        for column, metric in metrics.items()
    ]
    published = published.rename(columns={"spread": "std"})
    published = published.merge(ours[["algo", "env"]], on=["algo", "env"])
    frame = pd.concat([published, pd.DataFrame(rows)], ignore_index=True)
    return frame.sort_values(["algo", "env"], kind="stable")[
        ["algo", "env", "source", "return", "std", "ci_low", "ci_high", "metric"]
    ]


def normalized_returns(
    runs: pd.DataFrame, updates: pd.DataFrame, published: pd.DataFrame, episodes: int
) -> pd.DataFrame:
    """Per finished run: its final return (last `episodes` episodes) on a per-env scale
    where 0 is the untrained policy (mean first return_mean of that env's runs) and 1 the
    median of the published final returns for that env (every algo and source whose
    figure is not a max over training). Envs without a published figure are left out."""
    done = runs[runs["status"] == "done"].set_index("run_id")
    final = final_episode_return(updates, episodes)
    first = initial_returns(runs, updates)
    finals = published[~published["metric"].str.contains("max")]
    reference = finals.groupby("env")["return"].median()
    frame = done.assign(final=final, first=first, task=done["env"].str.split("-").str[0])
    frame = frame[frame["task"].isin(reference.index)]
    untrained = frame.groupby("env")["first"].transform("mean")
    score = (frame["final"] - untrained) / (frame["task"].map(reference) - untrained)
    group = (
        frame["algo"] + " " + frame["step_size_key"] + " " + frame["step_size"].map("{:g}".format)
    )
    return frame.assign(score=score, group=group).reset_index()[
        ["run_id", "group", "env", "seed", "score"]
    ]


def aggregate_scores(scores: pd.DataFrame, seed: int, reps: int):
    """rliable over the normalised scores, `reps` stratified-bootstrap resamples each: IQM
    and mean per group, probability of improvement for every pair of groups, performance
    profiles."""
    matrices = {g: score_matrix(rows) for g, rows in scores.groupby("group", sort=True)}
    groups = list(matrices)
    pairs = [(a, b) for i, a in enumerate(groups) for b in groups[i + 1 :]]
    taus = np.linspace(0.0, 2.0, 81)
    return (
        interval_estimates(matrices, reps, seed),
        probability_of_improvement(matrices, pairs, reps, seed),
        (*performance_profiles(matrices, taus, reps), taus),
    )


def provenance(runs: pd.DataFrame, *sweeps: str) -> str:
    """How the records were made: the command per sweep, run counts by sweep and status, and
    the code (git sha) and library versions that made them, with how many runs each."""
    commands = ", ".join(f"`make sweep SWEEP={s}` (= `python experiments/run.py -m sweep={s}`)"
                         for s in sweeps)  # fmt: skip
    lines = [f"## {' + '.join(f'`{s}`' for s in sweeps)}", "",
             f"Command: {commands}, then `python -m analysis.reproduction`.", ""]  # fmt: skip
    for column in ("sweep", "status", "git_sha", "versions", "total_steps")[len(sweeps) < 2 :]:
        counts = runs[column].map(lambda v: "unknown" if pd.isna(v) else v).value_counts()
        lines.append(
            f"- {column}: " + "; ".join(f"{value} ({n} runs)" for value, n in counts.items())
        )
    return "\n".join(lines) + "\n"


def merged_provenance(old: str, made: list[str]) -> str:
    """provenance.md with the sections just made. A section whose sweeps were not read this
    time (their records are elsewhere, e.g. on a cluster) keeps what it said, as do the
    tables it describes."""

    def sections(text: str) -> dict[str, str]:
        parts = ("\n" + text).split("\n## ")[1:]
        return {p.split("\n", 1)[0]: "## " + p.strip("\n") + "\n" for p in parts}

    kept = sections(old) | sections("\n".join(made))
    return "# How these results were made\n\n" + "\n".join(kept.values())


def write(frame: pd.DataFrame, path: Path, heading: str, floatfmt: str = ".3g") -> None:
    frame.to_csv(path.with_suffix(".csv"), index=False)
    path.with_suffix(".md").write_text(
        f"{heading}\n\n{frame.to_markdown(index=False, floatfmt=floatfmt)}\n"
    )


def table1_implementation_section(cfg: DictConfig, reference: Path, out: Path) -> list[str]:
    """Table 1's decisive cells at 1M under impl=paper and impl=modern: per env,
    each variant's final return, whether it ends below the random policy, its normalised
    score, and the order of the variants beside the paper's. Returns provenance lines."""
    records = load_sweeps(cfg, list(cfg.table1_impl_sweeps))
    if records.runs.empty:
        return []
    paper = pd.read_csv(reference / "ppo_paper_table1.csv")
    cells, orders = table1_by_implementation(
        records.runs, records.updates, cfg.episodes, paper, cfg.seed
    )
    if cells.empty:
        return []
    sweeps = ", ".join(f"`{s}`" for s in cfg.table1_impl_sweeps)
    write(cells, out / "ppo_table1_impl",
          f"Table 1's variants at 1M steps under impl=paper and impl=modern (sweeps {sweeps}; a run in "
          f"two sweeps counted once): final return = mean of the last {cfg.episodes} episodes, mean "
          "over seeds with a 95% bootstrap interval; random_return = the untrained policy's; "
          "below_random = runs that ended below it; normalised score per env and preset (random = 0, "
          "the preset's best variant = 1) beside the paper's (its 7-task mean).", floatfmt=".3g")  # fmt: skip
    write(orders, out / "ppo_table1_impl_order",
          "The variants from best to worst per env and preset, beside the paper's order (Spearman's "
          "ρ over the four variants; none_last: no clipping ranks last, as in the paper).", floatfmt=".2f")  # fmt: skip
    save(draw_table1_by_implementation(cells), out / "ppo_table1_impl")
    runs = records.runs
    used = runs[runs["impl"].isin(IMPLEMENTATIONS) & runs["algo"].eq("ppo")]
    print(f"table 1 by implementation: {out / 'ppo_table1_impl.md'} ({len(used)} runs)")
    return [provenance(used, *cfg.table1_impl_sweeps)]


def draw_table1(merged: pd.DataFrame, rho: float, ours_label: str) -> plt.Figure:
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
    return fig


def draw_table1_by_implementation(cells: pd.DataFrame) -> plt.Figure:
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
    return fig


def draw_performance_profile(profiles: dict, cis: dict, taus: np.ndarray) -> plt.Figure:
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
    return fig


@hydra.main(config_path=str(CONF_DIR / "analysis"), config_name="reproduction", version_base="1.3")
def main(cfg: DictConfig) -> None:
    check_or_exit(cfg, REPRODUCTION_KEYS)
    out = Path(cfg.results_dir)
    out.mkdir(parents=True, exist_ok=True)
    reference = Path(cfg.reference_dir)
    if not (reference / "ppo_paper_table1.csv").exists():
        raise SystemExit(f"reference_dir {reference} has no ppo_paper_table1.csv: "
                         "set reference_dir=<a folder with the published figures, as reference/>")  # fmt: skip
    made = []  # provenance sections, one per set of sweeps read
    table1 = load(cfg, cfg.table1_sweep)
    if len(table1.runs):
        scored = run_scores(table1.runs, table1.updates, cfg.episodes)
        ours = normalized_scores(scored)
        merged, rho = compare_with_paper(ours, pd.read_csv(reference / "ppo_paper_table1.csv"))
        write(merged, out / "ppo_table1",
              f"PPO paper Table 1 vs ours (sweep `{cfg.table1_sweep}`): normalised score, random = 0, "
              f"best variant = 1 per env. Spearman rank correlation of the orderings: {rho:.2f}.")  # fmt: skip
        write(update_size(table1.runs, table1.updates, table1_label, "variant"),
              out / "ppo_table1_update_size", UPDATE_SIZE_HEADING.format(group="variant"),
              floatfmt=".4g")  # fmt: skip
        budget = int(table1.runs["total_steps"].max())
        save(draw_table1(merged, rho, f"ours ({budget:,} steps, v5)"), out / "ppo_table1")
        write(scores_by_env(scored), out / "ppo_table1_by_env",
              "Normalised score per variant and env (mean over seeds): which tasks drive the order.",
              floatfmt=".2f")  # fmt: skip
        made.append(provenance(table1.runs, cfg.table1_sweep))
        print(f"table 1: {out / 'ppo_table1.md'} (Spearman {rho:.2f}, {len(table1.runs)} runs)")
    made += table1_implementation_section(cfg, reference, out)
    returns = load(cfg, cfg.returns_sweep)
    if len(returns.runs):
        ours = returns_table(
            returns.runs, returns.updates, cfg.episodes, cfg.smooth_window, cfg.seed
        )
        published = pd.read_csv(reference / "published_returns_1m.csv")
        write(beside_published(ours, published, cfg.episodes), out / "returns_1m",
              f"Returns at 1M steps (sweep `{cfg.returns_sweep}`, finished runs only) beside published "
              "figures: compare ours `final` with final/approximate figures and ours `max over "
              "training` with Tianshou's. Published envs are v1-v4, ours v5.", floatfmt=".0f")  # fmt: skip
        finished = returns.runs[returns.runs["status"] == "done"]
        write(update_size(finished, returns.updates, algo_env_label, "run group"),
              out / "returns_1m_update_size", UPDATE_SIZE_HEADING.format(group="algo, step size and env"),
              floatfmt=".4g")  # fmt: skip
        made.append(provenance(returns.runs, cfg.returns_sweep))
        scores = normalized_returns(returns.runs, returns.updates, published, cfg.episodes)
        aggregate, improvement, (profiles, profile_cis, taus) = aggregate_scores(
            scores, cfg.seed, cfg.bootstrap
        )
        write(aggregate, out / "returns_1m_aggregate",
              "Final return at 1M steps normalised per env (0 = untrained policy, 1 = median published "
              "final return for the env), aggregated over envs and seeds: interquartile mean and mean "
              "with 95% stratified-bootstrap intervals (rliable).", floatfmt=".2f")  # fmt: skip
        write(improvement, out / "returns_1m_improvement",
              "Probability of improvement (rliable): P(a run of the first scores above a run of the "
              "second on the same env), averaged over envs, with its 95% stratified-bootstrap interval.",
              floatfmt=".2f")  # fmt: skip
        save(draw_performance_profile(profiles, profile_cis, taus), out / "returns_1m_profile")
        finished_updates = returns.updates[returns.updates["run_id"].isin(finished["run_id"])]
        save(learning_curves(finished_updates, published.assign(env=published["env"] + "-v5"),
                             smooth_window=cfg.curve_smooth_window), out / "returns_1m_curves")  # fmt: skip
        save(learning_curves(finished_updates, smooth_window=cfg.curve_smooth_window, metric="kl_mean"),
             out / "returns_1m_kl")  # fmt: skip
        print(f"returns: {out / 'returns_1m.md'}, curves: {out / 'returns_1m_curves.png'} "
              f"({len(returns.runs)} runs)")  # fmt: skip

    path = out / "provenance.md"
    path.write_text(merged_provenance(path.read_text() if path.exists() else "", made))


if __name__ == "__main__":
    check_command_line(sys.argv[1:], "reproduction", REPRODUCTION_KEYS)
    main()
