"""Our PPO and TRPO next to published figures: the PPO paper's Table 1 (normalised score
of objective variants) and returns at 1M steps. Writes CSV + Markdown under
results/reproduction/, with the metric each source used, so like is compared with like.
"""

from pathlib import Path

import hydra
import pandas as pd
from omegaconf import DictConfig

from analysis.load import load_records
from analysis.normalized_score import compare_with_paper, final_episode_return, normalized_scores
from analysis.plots import learning_curves
from analysis.tables import bootstrap_mean_interval, per_run_returns

CONF_DIR = str(Path(__file__).resolve().parent.parent / "conf" / "analysis")


def returns_table(
    runs: pd.DataFrame, updates: pd.DataFrame, episodes: int, smooth_window: int, seed: int
) -> pd.DataFrame:
    """Per algo × env: final return (last `episodes` episodes) and max smoothed return over
    training, each as mean over seeds with a 95% bootstrap interval."""
    done = runs[runs["status"] == "done"].set_index("run_id")
    best = per_run_returns(updates, 1, smooth_window).set_index("run_id")["best_return"]
    done = done.assign(final=final_episode_return(updates, episodes), max_smoothed=best)
    rows = []
    for (algo, env), group in done.groupby(["algo", "env"]):
        row = {
            "algo": algo,
            "env": env.split("-")[0],
            "seeds": len(group),
            "steps": int(group["steps"].max()),
        }
        for column in ("final", "max_smoothed"):
            values = group[column].to_numpy(dtype=float)
            low, high = bootstrap_mean_interval(values, seed)
            row.update({column: values.mean(), f"{column}_ci_low": low, f"{column}_ci_high": high})
        rows.append(row)
    return pd.DataFrame(rows)


def write(frame: pd.DataFrame, path: Path, heading: str) -> None:
    frame.to_csv(path.with_suffix(".csv"), index=False)
    path.with_suffix(".md").write_text(
        f"{heading}\n\n{frame.to_markdown(index=False, floatfmt='.3g')}\n"
    )


@hydra.main(config_path=CONF_DIR, config_name="reproduction", version_base="1.3")
def main(cfg: DictConfig) -> None:
    out = Path(cfg.results_dir)
    out.mkdir(parents=True, exist_ok=True)
    reference = Path(cfg.reference_dir)
    table1 = load_records(cfg.out_dir, cfg.table1_sweep)
    if len(table1.runs):
        ours = normalized_scores(table1.runs, table1.updates, cfg.episodes)
        merged, rho = compare_with_paper(ours, pd.read_csv(reference / "ppo_paper_table1.csv"))
        write(merged, out / "ppo_table1",
              f"PPO paper Table 1 vs ours (sweep `{cfg.table1_sweep}`): normalised score, random = 0, "
              f"best variant = 1 per env. Spearman rank correlation of the orderings: {rho:.2f}.")  # fmt: skip
        print(f"table 1: {out / 'ppo_table1.md'} (Spearman {rho:.2f}, {len(table1.runs)} runs)")
    returns = load_records(cfg.out_dir, cfg.returns_sweep)
    if len(returns.runs):
        ours = returns_table(
            returns.runs, returns.updates, cfg.episodes, cfg.smooth_window, cfg.seed
        )
        published = pd.read_csv(reference / "published_returns_1m.csv")
        side_by_side = published.merge(ours, on=["algo", "env"], how="inner")
        write(side_by_side, out / "returns_1m",
              f"Returns at {int(ours['steps'].max()) if len(ours) else 0:,} steps (sweep `{cfg.returns_sweep}`): ours "
              "as `final` (mean of the last episodes, compare with final/approximate figures) and "
              "`max_smoothed` (compare with Tianshou's max over training), 95% bootstrap CIs over seeds.")  # fmt: skip
        done = returns.runs.loc[returns.runs["status"] == "done", "run_id"]
        learning_curves(returns.updates[returns.updates["run_id"].isin(done)],
                        out / "returns_1m_curves", published.assign(env=published["env"] + "-v5"))  # fmt: skip
        print(f"returns: {out / 'returns_1m.md'}, curves: {out / 'returns_1m_curves.png'} "
              f"({len(returns.runs)} runs)")  # fmt: skip


if __name__ == "__main__":
    main()
