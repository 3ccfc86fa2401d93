"""Aggregate RL scores the field's way (Agarwal et al. 2021, rliable): interquartile mean
and mean with stratified bootstrap intervals, probability of improvement, performance
profiles. Thin wrappers that turn our tidy per-run frames into rliable's score matrices
(runs × tasks) and its answers back into frames.
"""

import numpy as np
import pandas as pd
from rliable import library, metrics

from analysis.intervals import REPS, stratified_bootstrap


def score_matrix(scores: pd.DataFrame, column: str = "score") -> np.ndarray:
    """runs × tasks: one row per seed, one column per env (seeds missing an env dropped)."""
    return scores.pivot_table(index="seed", columns="env", values=column).dropna().to_numpy()


def interval_estimates(
    matrices: dict[str, np.ndarray], reps: int = REPS, seed: int = 0
) -> pd.DataFrame:
    """IQM and mean of each group's score matrix with 95% stratified-bootstrap intervals."""

    def aggregate(x):
        return np.array([metrics.aggregate_iqm(x), metrics.aggregate_mean(x)])

    usable = {k: m for k, m in matrices.items() if m.size}
    points, intervals = stratified_bootstrap(usable, aggregate, reps, seed)
    rows = []
    for group, matrix in usable.items():
        (iqm, mean), ((iqm_low, mean_low), (iqm_high, mean_high)) = points[group], intervals[group]
        rows.append(
            {
                "group": group,
                "runs": matrix.shape[0],
                "tasks": matrix.shape[1],
                "iqm": iqm,
                "iqm_ci_low": iqm_low,
                "iqm_ci_high": iqm_high,
                "mean": mean,
                "mean_ci_low": mean_low,
                "mean_ci_high": mean_high,
            }
        )
    return pd.DataFrame(rows)


def probability_of_improvement(
    matrices: dict[str, np.ndarray], pairs: list[tuple[str, str]], reps: int = REPS, seed: int = 0
) -> pd.DataFrame:
    """P(a run of X scores above a run of Y), averaged over tasks, with its 95% interval."""
    rows = []
    for x, y in pairs:
        key = f"{x} > {y}"
        points, intervals = stratified_bootstrap(
            {key: (matrices[x], matrices[y])}, metrics.probability_of_improvement, reps, seed
        )
        rows.append({"comparison": key, "probability": float(np.squeeze(points[key])),
                     "ci_low": float(np.squeeze(intervals[key][0])),
                     "ci_high": float(np.squeeze(intervals[key][1]))})  # fmt: skip
    return pd.DataFrame(rows)


def performance_profiles(
    matrices: dict[str, np.ndarray], taus: np.ndarray, reps: int = REPS
) -> tuple[dict, dict]:
    """Share of runs scoring above τ, per group, with stratified-bootstrap bands."""
    return library.create_performance_profile(matrices, taus, reps=reps)
