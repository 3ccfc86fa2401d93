"""Each implementation setting against its base for the same update rule (the
implementation ablation): `paper` and `modern − X` against modern, `paper − X` against paper. What a switch
changes in the final return, in the collapse frequency and in the size of the updates, each
difference with its 95% interval.

The final return is compared by the difference of means with Welch's t interval
(statsmodels CompareMeans), the collapse frequency by Newcombe's interval of the difference
of two proportions; the update size by the ratio of the settings' median per-run median
kl_mean (a descriptive multiplier, no interval). A run `ended below its start` when its
final return is below its initial return (the untrained policy's, or the starting policy's
for a warm start): the paper's sign of a failed variant.
"""

import numpy as np
import pandas as pd

from analysis.intervals import newcombe_interval, welch_interval
from records.implementation import base_preset

RULE = ["env", "variant", "step_size_key", "step_size"]
COLUMNS = [
    *RULE, "impl", "base", "runs", "base_runs", "final_return", "base_final_return",
    "final_diff", "final_diff_ci_low", "final_diff_ci_high",
    "collapsed", "base_collapsed", "collapse_diff", "collapse_diff_ci_low", "collapse_diff_ci_high",
    "below_start", "base_below_start", "kl_median", "base_kl_median", "kl_ratio",
]  # fmt: skip


def finished_runs(runs: pd.DataFrame, per_run: pd.DataFrame) -> pd.DataFrame:
    """One row per done run: its rule, impl, collapse flag, final return, median kl_mean and
    whether it ended below its start (per_run's initial_return, the collapse rule's)."""
    done = runs[runs["status"] == "done"].merge(per_run, on="run_id")
    return done.assign(
        collapsed=done["collapsed"].fillna(False).astype(bool),
        below_start=done["final_return"] < done["initial_return"],
    )


def versus_base(finished: pd.DataFrame) -> pd.DataFrame:
    """Per rule and setting whose base (`base_preset`) also ran that rule: one row."""
    rows = []
    for key, rule in finished.groupby(RULE, sort=True):
        for impl, other in rule.groupby("impl", sort=True):
            base = base_preset(impl)
            reference = rule[rule["impl"] == base]
            if impl == base or reference.empty:
                continue
            base_final = reference["final_return"].to_numpy(dtype=float)
            base_kl = float(reference["run_kl_median"].median())
            final = other["final_return"].to_numpy(dtype=float)
            low, high = welch_interval(final, base_final)
            k, k0 = int(other["collapsed"].sum()), int(reference["collapsed"].sum())
            c_low, c_high = newcombe_interval(k, len(other), k0, len(reference))
            kl = float(other["run_kl_median"].median())
            rows.append(
                {
                    **dict(zip(RULE, key, strict=True)),
                    "impl": impl,
                    "base": base,
                    "runs": len(other),
                    "base_runs": len(reference),
                    "final_return": final.mean(),
                    "base_final_return": base_final.mean(),
                    "final_diff": final.mean() - base_final.mean(),
                    "final_diff_ci_low": low,
                    "final_diff_ci_high": high,
                    "collapsed": k,
                    "base_collapsed": k0,
                    "collapse_diff": k / len(other) - k0 / len(reference),
                    "collapse_diff_ci_low": c_low,
                    "collapse_diff_ci_high": c_high,
                    "below_start": int(other["below_start"].sum()),
                    "base_below_start": int(reference["below_start"].sum()),
                    "kl_median": kl,
                    "base_kl_median": base_kl,
                    "kl_ratio": kl / base_kl if base_kl > 0 else np.nan,
                }
            )
    return pd.DataFrame(rows, columns=COLUMNS)
