"""The answer in KL bands: how often an update of a given size was followed by a collapse,
beside how often no update at all was (the zero-dose control) under the same definition.

No curve is fitted: each band's rate is a count over the updates at risk whose dose falls in
it, with its Wilson interval, so no number lies outside the data. A band is compared with the
zero dose by a one-sided Fisher exact test on updates. Updates of one run are correlated, so
the test is too eager to call a band "above"; the safe band it gives errs small, the
direction a practitioner can act on. A band holds evidence only with at least `min_updates`
updates at risk from at least `min_runs` runs: a band with less gets no rate in a sentence.

The update-level rule flags a fall at each update whose next `updates_ahead` returns hold it, so
one fall may count at up to about updates_ahead/2 updates, the zero dose's false alarms alike:
another reason the Fisher test is eager. What a run risks is counted run by run
(`runs_kept_under`). With several tasks, the bands pool the tasks that have a zero-dose arm
and compare with its pooled rate (the per-task answers are in the tasks section).

A study on another machine is another draw of each setting's seeds (native numerics differ
per CPU: docs/guide/numerics.md), so `replication` resamples seeds within every setting and
counts how often each statement would have been made. `study_bands` is a study's answer,
computed once for the sections that state it; `band_table` is how they show it.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import fisher_exact

from analysis.cells import pct
from analysis.intervals import wilson_interval
from analysis.per_study import once_per_study
from analysis.section import Context
from analysis.vocabulary import CONTROLS

ZERO = "none (zero dose)"  # the band of the zero-dose control's updates
SETTING = ["env", "variant", "step_size"]  # what a study repeats over seeds


@dataclass(frozen=True)
class Evidence:
    """When a band's rate may be stated and when it differs from the zero dose."""

    min_updates: int = 100
    min_runs: int = 5
    alpha: float = 0.05


def evidence(cfg) -> Evidence:
    """The report's evidence settings (answer.min_updates, min_runs, alpha)."""
    a = cfg.answer
    return Evidence(a.min_updates, a.min_runs, a.alpha)


@once_per_study
def study_bands(ctx: Context, dose: str = "kl_mean") -> pd.DataFrame:
    """The study's per-update collapse rates in the answer's KL bands beside the zero
    dose's, on `dose`."""
    return band_rates(ctx.at_risk, ctx.cfg.answer.bands, evidence(ctx.cfg), dose)


def band_label(low: float, high: float) -> str:
    if low <= 0:
        return f"≤ {high:g}"
    if not np.isfinite(high):
        return f"> {low:g}"
    return f"{low:g}–{high:g}"


def band_edges(edges) -> list[tuple[float, float]]:
    """(low, high] of each band: from 0 to the first edge, between edges, above the last."""
    bounds = [0.0, *(float(e) for e in edges), float("inf")]
    return list(zip(bounds[:-1], bounds[1:], strict=True))


def band_index(dose: np.ndarray, edges) -> np.ndarray:
    """Each dose's band (0 for ≤ the first edge; NaN doses get −1)."""
    dose = np.asarray(dose, dtype=float)
    index = np.searchsorted(np.asarray(edges, dtype=float), dose, side="left")
    return np.where(np.isfinite(dose), index, -1)


def is_control(trials: pd.DataFrame) -> pd.Series:
    return trials["algo"].isin(CONTROLS)


def with_control_envs(trials: pd.DataFrame) -> pd.DataFrame:
    """The updates of the envs that have zero-dose updates (all of them when none has: then
    every band statement says the control is missing)."""
    envs = set(trials.loc[is_control(trials), "env"])
    return trials[trials["env"].isin(envs)] if envs else trials


def band_names(edges) -> list[str]:
    """ZERO, then each band's label."""
    return [ZERO, *(band_label(lo, hi) for lo, hi in band_edges(edges))]


def counts_per_run(
    trials: pd.DataFrame, edges, dose: str = "kl_mean"
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Per run (its setting's columns), per band of band_names (ZERO for a control run's
    updates): its updates at risk, the collapses that followed them and its largest dose, as
    runs × bands arrays, which every band statistic and resample sums (or maximises)."""
    trials = with_control_envs(trials)
    control = is_control(trials).to_numpy()
    band = np.where(control, 0, band_index(trials[dose].to_numpy(), edges) + 1)
    keep = band >= 1 if len(band) else np.zeros(0, bool)
    keep = keep | control
    data = trials[keep]
    runs = data.groupby("run_id", sort=False)[SETTING].first().reset_index()
    row = pd.Index(runs["run_id"]).get_indexer(data["run_id"])
    shape = (len(runs), len(edges) + 2)
    updates, collapses = np.zeros(shape, int), np.zeros(shape, int)
    np.add.at(updates, (row, band[keep]), 1)
    largest = np.zeros(shape)
    np.maximum.at(largest, (row, band[keep]), np.nan_to_num(trials.loc[keep, dose].to_numpy(float)))
    np.add.at(collapses, (row, band[keep]), data["collapse"].astype(int).to_numpy())
    return runs, updates, collapses, largest


def band_rates(
    trials: pd.DataFrame, edges, evidence: Evidence = Evidence(), dose: str = "kl_mean"
) -> pd.DataFrame:
    """One row for the zero dose, then one per band of `dose`: updates at risk, collapses,
    runs, the rate with its Wilson interval, and against the zero dose: the rate ratio
    (NaN when the zero dose had none), Fisher's one-sided p, `above` (p < alpha) and
    `enough` (the band holds the evidence to be stated)."""
    _, updates, collapses, largest = counts_per_run(trials, edges, dose)
    return rates_from_counts(updates, collapses, edges, evidence).assign(
        kl_seen=largest.max(axis=0, initial=0.0)
    )


def rates_from_counts(
    updates: np.ndarray, collapses: np.ndarray, edges, evidence: Evidence
) -> pd.DataFrame:
    n, k, runs = updates.sum(axis=0), collapses.sum(axis=0), (updates > 0).sum(axis=0)
    k0, n0 = int(k[0]), int(n[0])
    bounds = [(np.nan, np.nan), *band_edges(edges)]
    rows = [band_row(name, low, high, int(k[j]), int(n[j]), int(runs[j]), k0, n0, evidence)
            for j, (name, (low, high)) in enumerate(zip(band_names(edges), bounds, strict=True))]  # fmt: skip
    return pd.DataFrame(rows, columns=BAND_COLUMNS)


BAND_COLUMNS = ["band", "kl_low", "kl_high", "updates", "collapses", "runs", "p", "ci_low", "ci_high",
                "ratio", "p_value", "above", "enough"]  # fmt: skip


def band_row(label, low, high, k, n, runs, k0, n0, evidence: Evidence) -> dict:
    ci_low, ci_high = wilson_interval(k, n)
    p = k / n if n else np.nan
    p0 = k0 / n0 if n0 else np.nan
    p_value = (float(fisher_exact([[k, n - k], [k0, n0 - k0]], alternative="greater")[1])
               if n and n0 and label != ZERO else np.nan)  # fmt: skip
    return {"band": label, "kl_low": low, "kl_high": high, "updates": n, "collapses": k, "runs": runs,
            "p": p, "ci_low": ci_low, "ci_high": ci_high,
            "ratio": p / p0 if n0 and p0 > 0 else np.nan, "p_value": p_value,
            "above": bool(p_value < evidence.alpha), "enough": bool(n >= evidence.min_updates and runs >= evidence.min_runs)}  # fmt: skip


def safe_band(rates: pd.DataFrame) -> pd.Series | None:
    """The largest band up to which every band, from the smallest, holds the evidence and is
    not detectably above the zero dose (None when the first is not, or the zero dose itself
    holds too little evidence)."""
    zero = rates[rates["band"] == ZERO].iloc[0]
    if not zero["enough"]:  # too few zero-dose updates: nothing to be no riskier than
        return None
    safe = None
    for _, row in rates[rates["band"] != ZERO].iterrows():
        if not row["enough"] or row["above"]:
            break
        safe = row
    return safe


def first_above(rates: pd.DataFrame) -> pd.Series | None:
    """The smallest band with the evidence that is detectably above the zero dose (None when
    the zero dose holds too little evidence)."""
    if not rates[rates["band"] == ZERO].iloc[0]["enough"]:
        return None
    above = rates[(rates["band"] != ZERO) & rates["enough"] & rates["above"]]
    return above.iloc[0] if len(above) else None


def edge_seen(rates: pd.DataFrame, band: pd.Series) -> float:
    """A band's upper edge as a number within the data: its nominal edge, or for the open
    top band the largest dose it holds."""
    return float(band["kl_high"]) if np.isfinite(band["kl_high"]) else float(band["kl_seen"])


def runs_kept_under(trials: pd.DataFrame, high: float, dose: str = "kl_mean") -> dict:
    """The runs whose every update stayed at or below `high` (moved runs) and the zero-dose
    runs: how many had at least one update followed by a collapse. Runs, not updates, as the
    unit: no independence between a run's updates is assumed, and one fall flagged at
    several updates counts once."""
    per_run = trials.assign(hit=trials["collapse"].astype(bool) & trials["at_risk"].astype(bool)).groupby(
        "run_id", sort=False).agg(largest=(dose, "max"), hit=("hit", "any"), algo=("algo", "first"))  # fmt: skip
    control = per_run["algo"].isin(CONTROLS)
    kept = per_run[~control & (per_run["largest"] <= high)]
    zero = per_run[control]
    return {"runs": len(kept), "collapsed": int(kept["hit"].sum()), "zero_runs": len(zero),
            "zero_collapsed": int(zero["hit"].sum())}  # fmt: skip


def replication(
    trials: pd.DataFrame, edges, evidence: Evidence, resamples: int, seed: int,
    dose: str = "kl_mean",
) -> pd.DataFrame:  # fmt: skip
    """How often each band statement would be made by a study that drew other seeds of the
    same settings: per band, the share of `resamples` resamples (runs drawn with
    replacement within each setting) in which it is `above` the zero dose, and in which
    the safe band ends at it."""
    runs, updates, collapses, _ = counts_per_run(trials, edges, dose)
    groups = list(runs.groupby(SETTING, sort=False, dropna=False).indices.values())
    rng = np.random.default_rng(seed)
    labels = band_names(edges)[1:]
    above = dict.fromkeys(labels, 0)
    safe_at = dict.fromkeys([*labels, "none"], 0)
    for _ in range(resamples if len(runs) else 0):
        picked = np.concatenate([ids[rng.integers(0, len(ids), len(ids))] for ids in groups])
        rates = rates_from_counts(updates[picked], collapses[picked], edges, evidence)
        for row in rates[rates["band"] != ZERO].itertuples():
            above[row.band] += bool(row.above and row.enough)
        safe = safe_band(rates)
        safe_at["none" if safe is None else safe["band"]] += 1
    resamples = max(resamples, 1)
    return pd.DataFrame({"band": labels, "above_share": [above[b] / resamples for b in labels],
                         "safe_edge_share": [safe_at[b] / resamples for b in labels]})  # fmt: skip


def settings_vs_control(table: pd.DataFrame, alpha: float) -> pd.DataFrame:
    """Per env and setting of the collapse table (analysis.tables): its runs that collapsed
    against the zero-dose runs of that env, Fisher's one-sided p and `above` (p < alpha);
    NaN p where the env has no zero-dose run."""
    rows = []
    for env, part in table.groupby("env", sort=True):
        control = part[part["variant"].isin(CONTROLS)]
        k0, n0 = int(control["collapsed"].sum()), int(control["runs"].sum())
        for r in part[~part["variant"].isin(CONTROLS) & (part["runs"] > 0)].itertuples():
            p_value = (float(fisher_exact([[r.collapsed, r.runs - r.collapsed], [k0, n0 - k0]],
                                          alternative="greater")[1]) if n0 else np.nan)  # fmt: skip
            rows.append({"env": env, "variant": r.variant, "step_size_key": r.step_size_key,
                         "step_size": r.step_size, "collapsed": r.collapsed, "runs": r.runs,
                         "ci_low": r.collapse_ci_low, "ci_high": r.collapse_ci_high,
                         "control_collapsed": k0, "control_runs": n0, "p_value": p_value,
                         "above": bool(p_value < alpha)})  # fmt: skip
    return pd.DataFrame(rows, columns=SETTING_COLUMNS)


SETTING_COLUMNS = ["env", "variant", "step_size_key", "step_size", "collapsed", "runs", "ci_low", "ci_high",
                   "control_collapsed", "control_runs", "p_value", "above"]  # fmt: skip


def band_table(rates: pd.DataFrame) -> pd.DataFrame:
    """The answer's bands (analysis.bands.band_rates, with its replication shares where
    given) as the report shows them."""
    rows = list(rates.itertuples())
    table = pd.DataFrame({
        "kl band (nats)": rates["band"],
        "collapses / updates at risk = rate [95% CI]": [
            f"{r.collapses}/{r.updates} = {pct(r.p)} [{pct(r.ci_low)}, {pct(r.ci_high)}]" if r.updates else "none"
            for r in rows],
        "runs": rates["runs"],
        "× zero dose": [f"{r.ratio:.2g}" if np.isfinite(r.ratio) and np.isfinite(r.kl_low) else "–" for r in rows],
        "p (above zero dose)": [f"{r.p_value:.2g}" if np.isfinite(r.p_value) else "–" for r in rows],
        "enough": ["–" if not np.isfinite(r.kl_low) else ("yes" if r.enough else "no") for r in rows],
    })  # fmt: skip
    if "above_share" in rates:
        table["replicated: above / safe edge"] = [
            "–" if not np.isfinite(r.kl_low) else f"{r.above_share:.0%} / {r.safe_edge_share:.0%}"
            for r in rows
        ]
    return table
