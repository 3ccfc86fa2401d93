"""The cells several report tables share, as a person reads them: a value with its
interval, a rate in percent, a frequency `k/n = p [low, high]`, and the columns that name
a row's setting. The CSV files keep the raw columns for further analysis."""

import numpy as np
import pandas as pd

from analysis.vocabulary import step_size_label


def interval(value: float, low: float, high: float, fmt: str = ".2f") -> str:
    if not np.isfinite(value):
        return "–"
    bounds = f" [{low:{fmt}}, {high:{fmt}}]" if np.isfinite(low) and np.isfinite(high) else ""
    return f"{value:{fmt}}{bounds}"


def pct(p: float) -> str:
    """A per-update rate as a percentage with two significant figures."""
    if not np.isfinite(p):
        return "–"
    return f"{100 * p:.0f}%" if 100 * p >= 10 else f"{100 * p:.2g}%"


def frequency(k: int, n: int, low: float, high: float) -> str:
    return f"{k}/{n} = {k / n:.2f} [{low:.2f}, {high:.2f}]" if n else "no finished run"


def collapse_cell(row) -> str:
    """A collapse-table row's `k/n = p [low, high]`, as the report's tables write it."""
    return frequency(row.collapsed, row.runs, row.collapse_ci_low, row.collapse_ci_high)


def p_text(p: float) -> str:
    return f"{p:.2g}" if np.isfinite(p) else "–"


def rule_columns(table: pd.DataFrame) -> dict:
    """The columns that name a row's env, update rule and step size."""
    return {
        "env": table["env"],
        "update rule": table["variant"],
        "step size": [
            step_size_label(r.variant, r.step_size_key, r.step_size) for r in table.itertuples()
        ],
    }
