"""Aggregate RL scores the field's way (Agarwal et al. 2021, rliable): interquartile mean
and mean with stratified bootstrap intervals, probability of improvement, performance
profiles. Thin wrappers that turn our tidy per-run frames into rliable's score matrices
(runs × tasks) and its answers back into frames.
"""

import warnings

import numpy as np
import pandas as pd
from rliable import library, metrics


def bootstrap(score_dict, func, reps: int, seed: int):
    """rliable's stratified-bootstrap interval estimates, the same for the same seed in any
    process. rliable's StratifiedBootstrap draws its resamples from NumPy's global generator
    (np.random.choice), not from the random_state it is given, so the global generator is
    seeded for the call and put back after it (arch 7's deprecation notice for random_state
    silenced)."""
    saved = np.random.get_state()
    np.random.seed(seed)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "random_state is deprecated", FutureWarning)
            return library.get_interval_estimates(
                score_dict, func, reps=reps, random_state=np.random.RandomState(seed)
            )
    finally:
        np.random.set_state(saved)


REPS = 2000  # bootstrap resamples (rliable's default of 50,000 buys nothing at 3-10 runs)


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
    points, intervals = bootstrap(usable, aggregate, reps, seed)
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


def mean_interval(values: np.ndarray, reps: int = REPS, seed: int = 0) -> tuple[float, float]:
    """95% bootstrap interval of the mean of one group's runs on one task (NaN for <2 runs)."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if len(values) < 2:
        return (float(values[0]), float(values[0])) if len(values) else (np.nan, np.nan)
    _, intervals = bootstrap(
        {"x": values[:, None]}, lambda x: np.array([metrics.aggregate_mean(x)]), reps, seed
    )
    return float(intervals["x"][0, 0]), float(intervals["x"][1, 0])


def probability_of_improvement(
    matrices: dict[str, np.ndarray], pairs: list[tuple[str, str]], reps: int = REPS, seed: int = 0
) -> pd.DataFrame:
    """P(a run of X scores above a run of Y), averaged over tasks, with its 95% interval."""
    rows = []
    for x, y in pairs:
        key = f"{x} > {y}"
        points, intervals = bootstrap(
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
