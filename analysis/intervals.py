"""Every interval the report prints comes from here: small pure functions, 95 % unless said.

- proportions: Wilson's score interval (one), Newcombe's hybrid score interval (a difference);
- means: the t interval (one sample or paired differences), Welch's (a difference);
- any statistic of runs: a bootstrap over whole runs (`bootstrap_over_runs`), the statistic
  passed as a function of the resampled run indices, as rliable's `get_interval_estimates`
  takes its aggregate as a function; its percentile interval (`percentile_interval`);
- aggregate RL scores (IQM, mean of a runs × tasks score matrix): rliable's stratified
  bootstrap (`stratified_bootstrap`), seeded so the same report gives the same intervals.
"""

import math
import warnings
from collections.abc import Callable

import numpy as np
from joblib import Parallel, delayed
from rliable import library, metrics
from scipy import stats
from statsmodels.stats.proportion import confint_proportions_2indep
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

REPS = (
    2000  # stratified-bootstrap resamples (rliable's default of 50,000 buys nothing at 3-10 runs)
)
MIN_RESAMPLES = 10  # a percentile interval from fewer finite resamples is not given


def wilson_interval(successes: int, trials: int) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (NaN for no trials)."""
    if trials == 0:
        return float("nan"), float("nan")
    ci = stats.binomtest(successes, trials).proportion_ci(0.95, method="wilson")
    return float(ci.low), float(ci.high)


def newcombe_interval(k: int, n: int, k0: int, n0: int) -> tuple[float, float]:
    """Newcombe's hybrid score interval of k/n − k0/n0."""
    low, high = confint_proportions_2indep(k, n, k0, n0, method="newcomb")
    return float(low), float(high)


def t_half_width(sem: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Half-widths of 95% t intervals of means, vectorised: t(0.975, n − 1) × SEM (0 where a
    mean has one value, which has no interval)."""
    count = np.asarray(count)
    quantile = stats.t.ppf(0.975, np.maximum(count - 1, 1))
    return np.where(count > 1, quantile * np.nan_to_num(np.asarray(sem, dtype=float)), 0.0)


def welch_interval(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Welch's t interval of mean(a) − mean(b); NaN with fewer than two runs on a side."""
    if len(a) < 2 or len(b) < 2:
        return np.nan, np.nan
    compare = CompareMeans(DescrStatsW(a), DescrStatsW(b))
    return tuple(float(x) for x in compare.tconfint_diff(alpha=0.05, usevar="unequal"))


def over_resamples(
    statistic: Callable[[np.ndarray], object], runs: int, resamples: int, rng: np.random.Generator
) -> list:
    """`statistic(picked)` for each of `resamples` resamples of whole runs: `picked` holds
    `runs` run indices drawn with replacement (updates within a run are correlated, so the
    run is the unit that is resampled). The resamples are drawn first, in order, and the
    statistic is computed under joblib's active backend (analysis.report runs it on every
    core), so the values do not depend on how many processes computed them."""
    picks = [rng.integers(0, runs, runs) for _ in range(resamples)]
    return Parallel()(delayed(quietly)(statistic, picked) for picked in picks)


def quietly(statistic: Callable[[np.ndarray], object], picked: np.ndarray) -> object:
    """A resample's statistic without numpy's and statsmodels' warnings (a resample of few
    runs is often degenerate), in whichever process computes it."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return statistic(picked)


def bootstrap_over_runs(
    statistic: Callable[[np.ndarray], float], runs: int, resamples: int, rng: np.random.Generator
) -> np.ndarray:
    """The finite values of `statistic` over resamples of whole runs (`over_resamples`)."""
    values = np.array(over_resamples(statistic, runs, resamples, rng), float)
    return values[np.isfinite(values)]


def percentile_interval(values: np.ndarray) -> tuple[float, float]:
    """The 2.5 and 97.5 percentiles of bootstrap values (NaN for fewer than MIN_RESAMPLES)."""
    if len(values) < MIN_RESAMPLES:
        return float("nan"), float("nan")
    return float(np.quantile(values, 0.025)), float(np.quantile(values, 0.975))


def stratified_bootstrap(score_dict: dict, func, reps: int, seed: int):
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


def mean_interval(values: np.ndarray, reps: int = REPS, seed: int = 0) -> tuple[float, float]:
    """Bootstrap interval of the mean of one group's runs on one task (NaN for no runs)."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if len(values) < 2:
        return (float(values[0]), float(values[0])) if len(values) else (np.nan, np.nan)
    _, intervals = stratified_bootstrap(
        {"x": values[:, None]}, lambda x: np.array([metrics.aggregate_mean(x)]), reps, seed
    )
    return float(intervals["x"][0, 0]), float(intervals["x"][1, 0])


HALF_WIDTH = 0.1  # the interval half-width `runs_needed` plans for
Z = 1.96


def runs_needed(collapsed: int, runs: int, half_width: float = HALF_WIDTH) -> int:
    """Runs for a 95% CI of ±half_width around a collapse frequency, from the observed rate
    (its Agresti–Coull centre (k+2)/(n+4), which is never 0 or 1): n = z² p(1−p) / w²."""
    p = (collapsed + 2) / (runs + 4)
    return math.ceil(Z**2 * p * (1 - p) / half_width**2)


def apart(low: float, high: float) -> bool:
    """An interval that excludes zero."""
    return bool(low > 0 or high < 0)
