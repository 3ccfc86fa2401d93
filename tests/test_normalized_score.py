"""The PPO paper's normalised score on synthetic runs whose answer is known."""

import numpy as np
import pandas as pd
import pytest

from analysis.normalized_score import (
    compare_with_paper,
    normalized_scores,
    run_scores,
    table1_by_implementation,
)
from records.load import variant


def synthetic(scores: dict[tuple[str, str, float], float], initial: float = 10.0):
    runs, updates = [], []
    for i, ((env, name, step_size), score) in enumerate(scores.items()):
        run_id = f"r{i}"
        runs.append(
            {
                "run_id": run_id,
                "env": env,
                "variant": name,
                "step_size": step_size,
                "status": "done",
            }
        )
        updates += [
            {"run_id": run_id, "update": 1, "return_mean": initial, "episodes": 50},
            {
                "run_id": run_id,
                "update": 2,
                "return_mean": 0.0,
                "episodes": 50,
            },  # older than the last 100
            {"run_id": run_id, "update": 3, "return_mean": score - 10, "episodes": 50},
            {"run_id": run_id, "update": 4, "return_mean": score + 10, "episodes": 50},
        ]
    return pd.DataFrame(runs), pd.DataFrame(updates)


def test_best_variant_scores_one_and_random_scores_zero_per_env():
    runs, updates = synthetic(
        {
            ("A", "ppo", 0.2): 110.0, ("A", "ppo_none", 0.2): 10.0,
            ("B", "ppo", 0.2): 60.0, ("B", "ppo_none", 0.2): 110.0,
        }
    )  # fmt: skip
    scores = normalized_scores(run_scores(runs, updates)).set_index("variant")["normalized_score"]
    # A: random 10, best 110 (clip): clip 1, none 0. B: best 110 (none): clip 0.5, none 1.
    assert scores["ppo_clip(epsilon=0.2)"] == pytest.approx(0.75)
    assert scores["ppo_none"] == pytest.approx(0.5)


def test_variant_names_and_rank_correlation_with_the_paper():
    assert (
        variant({"name": "ppo", "objective": "kl_fixed", "kl_coef": 3.0})
        == "ppo_kl_fixed(kl_coef=3)"
    )
    assert (
        variant({"name": "ppo", "objective": "clip"}) == "ppo"
        and variant({"name": "trpo"}) == "trpo"
    )
    paper = pd.DataFrame(
        {
            "objective": ["none", "clip", "kl_adaptive"], "epsilon": [np.nan, 0.2, np.nan],
            "kl_target": [np.nan, np.nan, 0.01], "kl_coef": [np.nan] * 3, "normalized_score": [-0.39, 0.82, 0.74],
        }
    )  # fmt: skip
    ours = pd.DataFrame(
        {
            "variant": ["ppo_none", "ppo_clip(epsilon=0.2)", "ppo_kl_adaptive(kl_target=0.01)"],
            "normalized_score": [0.1, 0.9, 0.5],
        }
    )
    merged, rho = compare_with_paper(ours, paper)
    assert rho == pytest.approx(1.0)
    assert merged["normalized_score_ours"].notna().all()


PAPER_TABLE = pd.DataFrame({
    "objective": ["none", "clip", "kl_adaptive"], "epsilon": [np.nan, 0.2, np.nan],
    "kl_target": [np.nan, np.nan, 0.01], "kl_coef": [np.nan] * 3, "normalized_score": [-0.39, 0.82, 0.74],
})  # fmt: skip


def test_each_implementation_preset_is_its_own_table_1_per_env():
    runs, updates = synthetic(
        {
            ("A", "ppo", 0.2): 110.0, ("A", "ppo_none", 0.2): -40.0,  # none below random (10)
            ("A", "ppo_kl_adaptive(kl_target=0.01)", 0.2): 60.0,
        }
    )  # fmt: skip
    modern, modern_updates = synthetic({("A", "ppo", 0.2): 50.0, ("A", "ppo_none", 0.2): 210.0})
    modern["run_id"] += "m"
    modern_updates["run_id"] += "m"
    runs = pd.concat([runs.assign(impl="paper"), modern.assign(impl="modern"),
                      runs.iloc[:1].assign(impl="modern − normalize_obs", run_id="other"),
                      runs.iloc[:1].assign(impl="paper", run_id="r0", algo="trpo")]).fillna({"algo": "ppo"})  # fmt: skip
    updates = pd.concat([updates, modern_updates])
    cells, orders = table1_by_implementation(runs, updates, 100, PAPER_TABLE)
    cell = cells.set_index(["impl", "variant"])
    assert set(cells["impl"]) == {"paper", "modern"}  # a run off both presets is left out
    assert cells["runs"].eq(1).all()  # and so is every algo but PPO
    # paper: random 10, best 110 (clip): clip 1, adaptive 0.5, none -0.5 and below random.
    assert cell.loc[("paper", "ppo_none"), "normalized_score"] == pytest.approx(-0.5)
    assert cell.loc[
        ("paper", "ppo_kl_adaptive(kl_target=0.01)"), "normalized_score"
    ] == pytest.approx(0.5)
    assert cell.loc[("paper", "ppo_none"), "below_random"] == 1
    assert cell.loc[("paper", "ppo_none"), "final_return"] == pytest.approx(-40.0)
    # modern is scored on its own: best 210 (none) = 1, clip (50 - 10) / 200 = 0.2.
    assert cell.loc[("modern", "ppo_clip(epsilon=0.2)"), "normalized_score"] == pytest.approx(0.2)
    assert cell.loc[("modern", "ppo_none"), "normalized_score_paper"] == -0.39
    order = orders.set_index("impl")
    assert (
        order.loc["paper", "spearman_rho"] == pytest.approx(1.0) and order.loc["paper", "none_last"]
    )
    assert order.loc["modern", "order_ours"] == "ppo_none > ppo_clip(epsilon=0.2)"
    assert not order.loc["modern", "none_last"] and np.isnan(order.loc["modern", "spearman_rho"])
