"""The 95% t interval of a mean, one function for every layer that reports one: an
evaluation's return and a probe's paired change, which a record holds (experiments), and
the report's means across checkpoints (analysis.intervals)."""

import numpy as np
from scipy import stats


def t_interval(values) -> tuple[float, float, float]:
    """Mean with its t interval (NaN bounds for fewer than two finite values)."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if len(values) < 2:
        return (float(values.mean()) if len(values) else np.nan), np.nan, np.nan
    ci = stats.ttest_1samp(values, 0.0).confidence_interval(0.95)
    return float(values.mean()), float(ci.low), float(ci.high)
