"""Damage without a threshold: what an update of a given size did to the return, as a
continuous outcome with no collapse definition in it.

For every update of a run that had gained at least its env's min_gain, its return change
(analysis.collapse.return_change) is the mean return over the next `horizon` updates minus
the mean over the last `horizon`, as a fraction of the run's gain: −0.5 is half the gain
lost. Its quantiles (the 10th is the bad tail) in half-decade bins of the dose, beside the
zero-dose control's quantiles, the noise floor of the measure itself. Binned, not a
quantile regression: the bins need no shape of the curve, and each bin's count is shown.
Bands: percentile intervals over resamples of whole runs (updates of a run are correlated).
"""

import numpy as np
import pandas as pd

from analysis.intervals import over_resamples, percentile_interval
from analysis.vocabulary import CONTROLS

ZERO_BIN = "zero dose"


def damage_bins(trials: pd.DataFrame, dose: str = "kl_mean", per_decade: int = 2) -> pd.DataFrame:
    """The gained updates with finite return change, each with its `bin` label: ZERO_BIN for
    the zero-dose control's, else the floor of log10(dose) × per_decade (doses ≤ 0 left out)."""
    change = pd.to_numeric(trials["return_change"], errors="coerce")
    data = trials[trials["gained"].astype(bool) & np.isfinite(change)]
    control = data["algo"].isin(CONTROLS)
    moved = data[~control & (data[dose] > 0)]
    moved = moved.assign(
        bin=np.floor(np.log10(moved[dose].to_numpy(float)) * per_decade).astype(int)
    )
    return pd.concat([data[control].assign(bin=ZERO_BIN), moved.assign(bin=moved["bin"].astype(object))],
                     ignore_index=True).astype({"return_change": float})  # fmt: skip


def damage_quantiles(
    trials: pd.DataFrame,
    quantiles=(0.1, 0.5, 0.9),
    dose: str = "kl_mean",
    per_decade: int = 2,
    min_updates: int = 30,
    resamples: int = 200,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per bin (the zero dose first, then by dose) and quantile: the bin's dose
    range, its updates and runs, the quantile of the return change and its 95% interval
    over resamples of whole runs; `shown` marks bins with at least `min_updates`."""
    data = damage_bins(trials, dose, per_decade)
    if data.empty:
        return pd.DataFrame(columns=DAMAGE_COLUMNS)
    order = [ZERO_BIN] + sorted(b for b in data["bin"].unique() if b != ZERO_BIN)
    positions = list(data.groupby("run_id").indices.values())
    change, bins = data["return_change"].to_numpy(float), data["bin"].to_numpy(object)

    def table(index: np.ndarray) -> np.ndarray:
        """bins × quantiles of the rows `index` (NaN for a bin with no rows)."""
        out = np.full((len(order), len(quantiles)), np.nan)
        for i, b in enumerate(order):
            values = change[index][bins[index] == b]
            if len(values):
                out[i] = np.quantile(values, quantiles)
        return out

    observed = table(np.arange(len(data)))
    resampled = over_resamples(
        lambda picked: table(np.concatenate([positions[i] for i in picked])),
        len(positions), resamples, np.random.default_rng(seed),
    )  # fmt: skip
    stacked = np.stack(resampled) if resampled else np.full((0, *observed.shape), np.nan)
    rows = []
    for i, b in enumerate(order):
        part = data[data["bin"] == b]
        low_kl, high_kl = ((0.0, 0.0) if b == ZERO_BIN else
                           (10.0 ** (b / per_decade), 10.0 ** ((b + 1) / per_decade)))  # fmt: skip
        for j, q in enumerate(quantiles):
            values = stacked[:, i, j] if len(stacked) else np.array([])
            low, high = percentile_interval(values[np.isfinite(values)])
            rows.append({"bin": "zero dose" if b == ZERO_BIN else f"{low_kl:.2g}–{high_kl:.2g}",
                         "kl_low": low_kl, "kl_high": high_kl, "updates": len(part),
                         "runs": part["run_id"].nunique(), "quantile": q, "return_change": observed[i, j],
                         "ci_low": low, "ci_high": high, "shown": len(part) >= min_updates})  # fmt: skip
    return pd.DataFrame(rows, columns=DAMAGE_COLUMNS)


DAMAGE_COLUMNS = ["bin", "kl_low", "kl_high", "updates", "runs", "quantile", "return_change", "ci_low",
                  "ci_high", "shown"]  # fmt: skip
