"""The PPO paper's normalised score (Table 1), computed from our run records.

Per run: the mean return of its last `episodes` episodes (approximated from per-update
return_mean weighted by episodes). Per env: 0 = the random policy (the mean return of
the runs' first batch, drawn by the untrained near-random policy), 1 = the best
variant's mean score. A variant's score is the mean over envs and seeds.
"""

import numpy as np
import pandas as pd
from scipy import stats


def final_episode_return(updates: pd.DataFrame, episodes: int) -> pd.Series:
    """Per run: episode-weighted mean return_mean over its last updates covering `episodes`."""

    def last(run: pd.DataFrame) -> float:
        run = run.sort_values("update", ascending=False)
        count = run["episodes"].fillna(0).to_numpy()
        covered = np.cumsum(count) - count < episodes  # updates needed to reach `episodes`
        used = run[covered & (count > 0)]
        return (
            float(np.average(used["return_mean"], weights=used["episodes"]))
            if len(used)
            else np.nan
        )

    return updates.groupby("run_id").apply(last, include_groups=False)


def run_scores(runs: pd.DataFrame, updates: pd.DataFrame, episodes: int = 100) -> pd.DataFrame:
    """One row per finished run: its env, Table 1 variant, final score and normalised score."""
    done = runs[runs["status"] == "done"].set_index("run_id")
    done = done.assign(variant=done.apply(table1_label, axis=1))
    first = updates.sort_values("update").groupby("run_id")["return_mean"].first()
    frame = done.assign(score=final_episode_return(updates, episodes), initial=first).dropna(
        subset=["score"]
    )
    random_return = frame.groupby("env")["initial"].mean()
    best = frame.groupby(["env", "variant"])["score"].mean().groupby("env").max()
    scale = (best - random_return).replace(0.0, np.nan)
    frame["normalized_score"] = (frame["score"] - frame["env"].map(random_return)) / frame[
        "env"
    ].map(scale)
    return frame


def normalized_scores(scored: pd.DataFrame) -> pd.DataFrame:
    """One row per variant of `run_scores`' frame: mean normalised score over envs and
    seeds, and the run count."""
    return (
        scored.groupby("variant")
        .agg(normalized_score=("normalized_score", "mean"), runs=("score", "size"))
        .reset_index()
    )


def scores_by_env(scored: pd.DataFrame) -> pd.DataFrame:
    """Variant × env table of mean normalised scores (from `run_scores`' frame): which tasks
    drive the overall order."""
    return scored.pivot_table(
        index="variant", columns="env", values="normalized_score"
    ).reset_index()


def table1_label(run: pd.Series) -> str:
    """A run's Table 1 row: its variant, with ε for the clipped objective."""
    return f"ppo_clip(epsilon={run['step_size']:g})" if run["variant"] == "ppo" else run["variant"]


def paper_variant(row: pd.Series) -> str:
    """The label `normalized_scores` gives the same variant, for a row of the paper's table."""
    if row["objective"] == "clip":
        return f"ppo_clip(epsilon={row['epsilon']:g})"
    coefficient = {"kl_fixed": "kl_coef", "kl_adaptive": "kl_target"}.get(row["objective"])
    return f"ppo_{row['objective']}" + (
        f"({coefficient}={row[coefficient]:g})" if coefficient else ""
    )


def compare_with_paper(ours: pd.DataFrame, paper: pd.DataFrame) -> tuple[pd.DataFrame, float]:
    """Our scores (from `normalized_scores`) beside the paper's, with Spearman's rank
    correlation of the two orderings over the variants both have."""
    paper = paper.assign(variant=paper.apply(paper_variant, axis=1))
    merged = paper.merge(ours, on="variant", how="left", suffixes=("_paper", "_ours"))
    both = merged.dropna(subset=["normalized_score_paper", "normalized_score_ours"])
    rho = (
        stats.spearmanr(both["normalized_score_paper"], both["normalized_score_ours"]).statistic
        if len(both) > 2
        else np.nan
    )
    return merged, float(rho)
