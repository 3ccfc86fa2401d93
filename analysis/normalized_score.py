"""The PPO paper's normalised score (Table 1), computed from our run records.

Per run: the mean return of its last `episodes` episodes (approximated from per-update
return_mean weighted by episodes). Per env: 0 = the random policy (the mean return of
the runs' first batch, drawn by the untrained near-random policy), 1 = the best
variant's mean score. A variant's score is the mean over envs and seeds.
`table1_by_implementation` scores the variants per env under each implementation preset.
"""

import numpy as np
import pandas as pd
from scipy import stats

from analysis.intervals import mean_interval
from analysis.run_frame import final_episode_return, initial_returns


def run_scores(runs: pd.DataFrame, updates: pd.DataFrame, episodes: int = 100) -> pd.DataFrame:
    """One row per finished run: its env, Table 1 variant, final score and normalised score."""
    done = runs[runs["status"] == "done"].set_index("run_id")
    done = done.assign(variant=done.apply(table1_label, axis=1))
    initial = initial_returns(runs, updates)
    frame = done.assign(score=final_episode_return(updates, episodes), initial=initial).dropna(
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


IMPLEMENTATIONS = ("paper", "modern")  # conf/impl presets, each scored as its own Table 1


def table1_by_implementation(
    runs: pd.DataFrame, updates: pd.DataFrame, episodes: int, paper: pd.DataFrame, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Table 1's variants per env under each preset (PPO runs labelled exactly `paper` or
    `modern`), each preset normalised on its own (random = 0, its best variant = 1).

    Returns (cells, orders). cells: per env × preset × variant, the final return (last
    `episodes` episodes) with a 95% bootstrap interval over seeds, the random policy's
    return, how many runs ended below it, the normalised score and the paper's. orders:
    per env × preset, the variants from best to worst beside the paper's order, Spearman's
    ρ of the two, and whether no clipping ranks last as in the paper."""
    paper = paper.assign(variant=paper.apply(paper_variant, axis=1)).set_index("variant")
    cells, orders = [], []
    for impl in IMPLEMENTATIONS:
        chosen = runs[(runs["impl"] == impl) & (runs["algo"] == "ppo")]
        if chosen.empty:
            continue
        scored = run_scores(chosen, updates, episodes)
        random_return = scored.groupby("env")["initial"].mean()
        for (env, variant), cell in scored.groupby(["env", "variant"], sort=True):
            low, high = mean_interval(cell["score"].to_numpy(), seed=seed)
            cells.append({
                "env": env, "impl": impl, "variant": variant, "runs": len(cell),
                "final_return": cell["score"].mean(), "final_ci_low": low, "final_ci_high": high,
                "random_return": random_return[env],
                "below_random": int((cell["score"] < random_return[env]).sum()),
                "normalized_score": cell["normalized_score"].mean(),
                "normalized_score_paper": paper["normalized_score"].get(variant, np.nan),
            })  # fmt: skip
    cells = pd.DataFrame(cells)
    for (env, impl), rows in cells.groupby(["env", "impl"], sort=True) if len(cells) else []:
        both = rows.dropna(subset=["normalized_score_paper"])
        ours = both.sort_values("normalized_score", ascending=False)["variant"].tolist()
        theirs = both.sort_values("normalized_score_paper", ascending=False)["variant"].tolist()
        rho = (stats.spearmanr(both["normalized_score"], both["normalized_score_paper"]).statistic
               if len(both) > 2 else np.nan)  # fmt: skip
        orders.append({
            "env": env, "impl": impl, "order_ours": " > ".join(ours),
            "order_paper": " > ".join(theirs), "spearman_rho": float(rho),
            "none_last": bool(ours and ours[-1] == "ppo_none"),
        })  # fmt: skip
    return cells, pd.DataFrame(orders)
