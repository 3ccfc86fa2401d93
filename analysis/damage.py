"""Damage without a threshold: what an update of a given size did to the return, as a
continuous outcome with no collapse definition in it.

For every update of a run that had gained at least its env's min_gain, its return change
(analysis.collapse.return_change) is the mean return over the next `updates_ahead` updates minus
the mean over the last `updates_ahead`, as a fraction of the run's gain: −0.5 is half the gain
lost. Its quantiles (the 10th is the bad tail) in half-decade bins of the dose, beside the
zero-dose control's quantiles, the noise floor of the measure itself. Binned, not a
quantile regression: the bins need no shape of the curve, and each bin's count is shown.
Bands: percentile intervals over resamples of whole runs (updates of a run are correlated).
A study's quantiles (`study_damage`) and what they say (`damage_finding`) serve the damage
section and the first screen alike.
"""

import numpy as np
import pandas as pd

from analysis.bands import evidence
from analysis.intervals import over_resamples, percentile_interval
from analysis.per_study import once_per_study
from analysis.section import Context, Finding
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


@once_per_study
def study_damage(ctx: Context) -> pd.DataFrame:
    """The study's return-change quantiles per half-decade of kl_mean."""
    d, g = ctx.cfg.dose_response, ctx.cfg.damage
    return damage_quantiles(ctx.trials, tuple(g.quantiles), "kl_mean", d.bins_per_decade,
                            d.min_updates, g.bootstrap, ctx.cfg.seed)  # fmt: skip


def quantile_at(table: pd.DataFrame, bin_label: str, q: float) -> pd.Series:
    return table[(table["bin"] == bin_label) & np.isclose(table["quantile"], q)].iloc[0]


def damage_finding(ctx: Context) -> Finding | None:
    table, needed = study_damage(ctx), evidence(ctx.cfg)
    if table.empty:
        return None
    enough = (table["updates"] >= needed.min_updates) & (table["runs"] >= needed.min_runs)
    bins = table[enough & (table["bin"] != ZERO_BIN)].drop_duplicates("bin")
    zero_rows = table[table["bin"] == ZERO_BIN]
    if len(bins) < 2 or zero_rows.empty or not np.isfinite(zero_rows["return_change"]).all():
        return None
    q_low = min(ctx.cfg.damage.quantiles)
    smallest, largest = bins.iloc[0]["bin"], bins.iloc[-1]["bin"]
    zero = quantile_at(table, ZERO_BIN, q_low)
    a, b = quantile_at(table, smallest, q_low), quantile_at(table, largest, q_low)
    mid_a, mid_b = quantile_at(table, smallest, 0.5), quantile_at(table, largest, 0.5)
    h = ctx.cfg.update_collapse.updates_ahead
    return Finding(f"With no collapse definition: over the next {h} updates the worst {q_low:.0%} of updates "
                   f"changed the return by {share(a['return_change'])} of the gain or worse at {smallest} nats and "
                   f"{share(b['return_change'])} at {largest} nats, against {share(zero['return_change'])} with no "
                   f"update at all; the median change went from {share(mid_a['return_change'])} to "
                   f"{share(mid_b['return_change'])} (bins of ≥ {needed.min_updates} updates from ≥ "
                   f"{needed.min_runs} runs).", "damage")  # fmt: skip


def share(change: float) -> str:
    """A signed share of the gain, in whole percent, with no −0 %."""
    rounded = round(100 * change)
    return f"{rounded:+d}%" if rounded else "0%"
