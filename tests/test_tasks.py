"""The test of whether the dose–response differs between tasks, on synthetic updates from
known logistic relations: it rejects at about its nominal rate when every task has the
same relation, and almost always when one task's slope is three times another's."""

import numpy as np
import pandas as pd
from scipy.special import expit

from analysis.sections.tasks import per_task_dose_response, task_interaction

TASKS = ["A", "B", "C"]


def synthetic_tasks(seed: int, slopes: dict, intercepts: dict, runs: int = 20, updates: int = 40):
    """Updates of `runs` runs per task, P(collapse) = expit(intercept + slope log10 KL),
    each run with its own typical KL."""
    rng = np.random.default_rng(seed)
    frames = []
    for task in TASKS:
        log_kl = np.repeat(rng.uniform(-3.0, 1.0, runs), updates)
        log_kl = log_kl + rng.normal(0.0, 0.5, len(log_kl))
        p = expit(intercepts[task] + slopes[task] * log_kl)
        frames.append(pd.DataFrame({
            "run_id": np.repeat([f"{task}{i}" for i in range(runs)], updates),
            "env": task, "variant": "ppo", "progress": np.tile(np.arange(1, updates + 1) / updates, runs),
            "kl_mean": 10.0**log_kl, "collapse": rng.random(len(p)) < p,
        }))  # fmt: skip
    return pd.concat(frames, ignore_index=True)


SAME = dict.fromkeys(TASKS, 0.8)
LEVEL = dict.fromkeys(TASKS, -1.5)


def rejections(slopes: dict, intercepts: dict, replicates: int) -> dict[str, int]:
    """How many of `replicates` synthetic studies each test rejects at 5%."""
    tests = [
        task_interaction(synthetic_tasks(seed, slopes, intercepts)) for seed in range(replicates)
    ]
    return {test: sum(t[f"{test}_p"] < 0.05 for t in tests) for test in ("slope", "level")}


def test_with_one_relation_on_every_task_neither_test_rejects_more_than_its_nominal_rate():
    counts = rejections(SAME, LEVEL, 200)
    # 5% of 200 = 10; P(≤ 2 or ≥ 20 | 5%) < 1%
    assert 3 <= counts["slope"] <= 19
    assert 3 <= counts["level"] <= 19


def test_a_slope_three_times_another_is_almost_always_detected():
    slopes = {"A": 0.5, "B": 1.5, "C": 0.5}
    assert rejections(slopes, LEVEL, 50)["slope"] >= 47


def test_a_shifted_level_is_detected_and_one_task_alone_has_no_test():
    shifted = {"A": -2.5, "B": -1.5, "C": -0.5}
    assert rejections(SAME, shifted, 50)["level"] >= 47
    one = synthetic_tasks(0, SAME, LEVEL)
    assert np.isnan(task_interaction(one[one["env"] == "A"])["slope_p"])


def test_each_tasks_own_fit_recovers_its_own_slope():
    slopes = {"A": 0.5, "B": 1.5, "C": 1.0}
    fits = per_task_dose_response(synthetic_tasks(7, slopes, LEVEL, runs=40), 0.1, 0.5, 0, 0)
    assert list(fits["env"]) == ["all", *TASKS]
    for task, slope in slopes.items():
        row = fits.set_index("env").loc[task]
        assert row["odds_ratio_ci_low"] <= np.exp(slope) <= row["odds_ratio_ci_high"]
