"""Findings: the few sentences a report opens with, each computed from the study's data
with its interval and the figure that shows it. No number is written here; where the data
cannot tell, the sentence says so and how many runs would (see `runs_needed`).
"""

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.display import frequency, interval, step_size_label
from analysis.dose_response import ALL
from analysis.implementation_effects import apart
from analysis.probe_effects import first_majority

HALF_WIDTH = 0.1  # the CI half-width `runs_needed` plans for
Z = 1.96


@dataclass(frozen=True)
class Finding:
    text: str
    figure: str  # the figure (report anchor / file stem) that shows it


def runs_needed(collapsed: int, runs: int, half_width: float = HALF_WIDTH) -> int:
    """Runs for a 95% CI of ±half_width around a collapse frequency, from the observed rate
    (its Agresti–Coull centre (k+2)/(n+4), which is never 0 or 1): n = z² p(1−p) / w²."""
    p = (collapsed + 2) / (runs + 4)
    return math.ceil(Z**2 * p * (1 - p) / half_width**2)


def collapse_cell(row) -> str:
    """A collapse-table row's `k/n = p [low, high]`, as the report's tables write it."""
    return frequency(row.collapsed, row.runs, row.collapse_ci_low, row.collapse_ci_high)


def or_text(row) -> str:
    """An odds ratio with its CI (from a dose-response row, Series or tuple)."""
    return interval(row.odds_ratio, row.odds_ratio_ci_low, row.odds_ratio_ci_high)


def step_size_finding(table: pd.DataFrame) -> Finding:
    """Collapse frequency at each update rule's smallest and largest step size."""
    parts, unclear = [], []
    for variant, rows in table[table["runs"] > 0].groupby("variant", sort=False):
        rows = rows.sort_values("step_size")
        small, large = rows.iloc[0], rows.iloc[-1]
        key = small["step_size_key"]
        if len(rows) == 1:
            parts.append(f"{variant} {collapse_cell(large)}")
        else:
            parts.append(
                f"{variant} {collapse_cell(small)} at {key} {small.step_size:g} → "
                f"{collapse_cell(large)} at {key} {large.step_size:g}"
            )
        for r in (small, large):
            if r.collapse_ci_high - r.collapse_ci_low > 2 * HALF_WIDTH:
                unclear.append(runs_needed(int(r.collapsed), int(r.runs)))
    text = (
        "Share of runs that collapsed, smallest → largest step size [95% Wilson CI]: "
        + "; ".join(parts)
        + "."
    )
    if unclear:
        text += (
            f" These intervals are wider than ±{HALF_WIDTH:g}: at the observed rates that takes up to "
            f"{max(unclear)} runs per step size."
        )
    return Finding(text, "collapse_frequency")


def odds_ratio_finding(dose: pd.DataFrame, horizon: int) -> Finding:
    """The odds ratio of an update-level collapse per tenfold kl_mean, pooled and per algo."""
    pooled = dose.set_index("scope").loc[ALL] if ALL in set(dose["scope"]) else None
    if pooled is None or not np.isfinite(pooled["odds_ratio"]):
        n = int(pooled["collapses"]) if pooled is not None else 0
        return Finding(
            f"Per update, the data cannot tell how KL relates to collapse: {n} update-level "
            "collapses, too few (or too cleanly separated) to fit the logistic regression.",
            "collapse_vs_kl",
        )
    per_algo = [
        f"{r.scope} {or_text(r)}"
        for r in dose[dose["scope"] != ALL].itertuples()
        if np.isfinite(r.odds_ratio)
    ]
    no_fit = [
        r.scope for r in dose[dose["scope"] != ALL].itertuples() if not np.isfinite(r.odds_ratio)
    ]
    text = (
        f"Per update ({int(pooled['updates'])} updates at risk in {int(pooled['runs'])} runs, "
        f"{int(pooled['collapses'])} followed by a collapse within {horizon} updates), each tenfold "
        f"increase of kl_mean multiplies the odds of a collapse by {or_text(pooled)} "
        "(logistic regression with algo and training progress, 95% CI clustered by run)"
    )
    if per_algo:
        text += "; per algo: " + ", ".join(per_algo)
    if no_fit:
        text += f"; {', '.join(no_fit)}: too few collapses to fit"
    return Finding(text + ".", "collapse_vs_kl")


def kl_interval(low: float, high: float, observed_high: float) -> str:
    """A crossing's bootstrap interval, its ends past 100× the largest KL seen written as such."""
    if not np.isfinite(low):
        return " (no bootstrap interval: too few resamples could be fitted)"
    upper = "far beyond the KL observed" if high > 100 * observed_high else f"{high:.2g}"
    return f" [{low:.2g}, {upper}]"


def crossing_finding(dose: pd.DataFrame, level: float) -> Finding:
    """The KL where the fitted P(collapse) crosses `level`, pooled and per algo."""
    parts = []
    for r in dose.itertuples():
        if not np.isfinite(r.crossing_kl):
            parts.append(f"{r.scope}: not estimable (P does not rise with KL, or no fit)")
            continue
        where = (
            f"beyond the largest kl_mean observed ({r.kl_observed_high:.2g})"
            if r.crossing_kl > r.kl_observed_high
            else f"below the smallest observed ({r.kl_observed_low:.2g})"
            if r.crossing_kl < r.kl_observed_low
            else "within the observed range"
        )
        interval = kl_interval(r.crossing_ci_low, r.crossing_ci_high, r.kl_observed_high)
        parts.append(f"{r.scope} {r.crossing_kl:.2g} nats{interval}, {where}")
    return Finding(
        f"The fitted P(collapse) of an update halfway through a run crosses {level:.0%} at "
        "kl_mean ≈ " + "; ".join(parts) + " (95% intervals from a bootstrap over runs).",
        "collapse_vs_kl",
    )


def warning_finding(warning_table: pd.DataFrame, horizon: int) -> Finding:
    """Does an update's KL warn of a run-level collapse? AUC, threshold, false alarms."""
    rows = warning_table[(warning_table["algo"] == ALL) & (warning_table["score"] == "kl_max")]
    if rows.empty or rows.iloc[0]["verdict"].startswith("too few"):
        r = rows.iloc[0] if len(rows) else None
        collapsed, runs = (int(r.collapsed_runs), int(r.runs)) if r is not None else (0, 0)
        positives = int(r.positives) if r is not None else 0
        return Finding(
            f"Whether KL warns before a collapse, the data cannot tell: {collapsed} collapsed runs "
            f"with {positives} updates in the {horizon} before a collapse began; at the observed "
            f"rate of {collapsed} collapsed in {runs} runs, about {runs_needed(collapsed, runs)} "
            f"runs would pin the collapse rate to ±{HALF_WIDTH:g}.",
            "kl_warning_roc",
        )
    r = rows.iloc[0]
    per_algo = warning_table[(warning_table["algo"] != ALL) & (warning_table["score"] == "kl_max")]
    told = [
        f"{a.algo} {a.auc:.2f}"
        for a in per_algo.itertuples()
        if not a.verdict.startswith("too few")
    ]
    untold = [a.algo for a in per_algo.itertuples() if a.verdict.startswith("too few")]
    detail = "; per algo: " + ", ".join(told) if told else ""
    detail += f"; too few collapses to tell for {', '.join(untold)}" if untold else ""
    return Finding(
        f"An update's kl_max warns of a run-level collapse beginning within {horizon} updates "
        f"with ROC AUC {r.auc:.2f} [{r.auc_ci_low:.2f}, {r.auc_ci_high:.2f}] (all algos, "
        f"{r.collapsed_runs} collapsed runs{detail}); flagging updates with kl_max ≥ "
        f"{r.threshold:.2g} catches {r.flag_share:.0%} of the pre-collapse updates at a "
        f"false-alarm rate of {r.false_alarm_rate:.2f}.",
        "kl_warning_roc",
    )


def bound_finding(updates: pd.DataFrame) -> Finding | None:
    """TRPO's largest update KL against δ, and PPO's largest ratio and KL against ε."""
    parts = []
    trpo = updates[(updates["variant"] == "trpo") & np.isfinite(updates["kl_mean"])]
    if len(trpo):
        excess = (trpo["kl_mean"] / trpo["step_size"]).max()
        largest = trpo.loc[trpo["kl_mean"].idxmax()]
        verb = "held every update within δ" if excess <= 1 else "let updates exceed δ"
        parts.append(
            f"TRPO {verb}: over {len(trpo)} updates the largest kl_mean / δ was {excess:.3g} "
            f"(largest kl_mean {largest['kl_mean']:.3g} nats, at δ {largest['step_size']:g})"
        )
    ppo = updates[(updates["variant"] == "ppo") & np.isfinite(updates["ratio_max"])]
    if len(ppo):
        per_eps = ppo.groupby("step_size").agg(
            ratio_max=("ratio_max", "max"), kl=("kl_mean", "max")
        )
        described = [
            f"at ε {eps:g} (ratios clipped at {1 + eps:g}; KL of order ε²/2 = {eps**2 / 2:.2g}) the "
            f"largest ratio was {row.ratio_max:.3g} and the largest kl_mean {row.kl:.3g}"
            for eps, row in per_eps.iterrows()
        ]
        parts.append("PPO's clip bounds the incentive, not the step: " + "; ".join(described))
    none = updates[(updates["variant"] == "ppo_none") & np.isfinite(updates["kl_mean"])]
    if len(none):
        parts.append(
            f"with no clipping, kl_mean reached {none['kl_mean'].max():.3g} (median {none['kl_mean'].median():.3g})"
        )
    if not parts:
        return None
    return Finding("; ".join(parts) + ".", "kl_curves")


def findings(
    table: pd.DataFrame,
    dose: pd.DataFrame,
    warning_table: pd.DataFrame,
    updates: pd.DataFrame,
    level: float,
    update_horizon: int,
    warning_horizon: int,
) -> list[Finding]:
    found = [
        step_size_finding(table),
        odds_ratio_finding(dose, update_horizon),
        crossing_finding(dose, level),
        warning_finding(warning_table, warning_horizon),
        bound_finding(updates),
    ]
    return [f for f in found if f is not None]


DIRECTION_NAME = {
    "vanilla": "vanilla gradient",
    "natural": "natural gradient",
    "ppo": "PPO's update",
}
KNOB_NAME = {"pg_lr": "PG Adam lr", "pg_sgd_lr": "PG plain-step lr", "trpo_delta": "TRPO δ",
             "ppo_epsilon": "PPO ε"}  # fmt: skip


def env_prefix(env: str, envs: int) -> str:
    return f"{env} " if envs > 1 else ""


def destroyed_cell(row) -> str:
    return frequency(int(row.destroyed), int(row.checkpoints), row.destroyed_ci_low,
                     row.destroyed_ci_high)  # fmt: skip


def probe_damage_finding(ladder: pd.DataFrame, drop_frac: float) -> Finding:
    """Per direction: the smallest KL at which one update destroyed the policy in most
    checkpoints (with the decade below for contrast), and where its damage became significant."""
    envs = ladder["env_id"].nunique()
    destroyed = first_majority(ladder, "destroyed")
    damaged = first_majority(ladder, "damaged")
    parts, significant = [], []
    for (env, arm), rows in ladder.groupby(["env_id", "arm"], sort=False):
        name = env_prefix(env, envs) + DIRECTION_NAME.get(arm, arm)
        hit = destroyed[(destroyed["env_id"] == env) & (destroyed["arm"] == arm)]
        if hit.empty:
            top = rows.sort_values("target_kl").iloc[-1]
            parts.append(f"{name}: not in most at any KL up to {top.target_kl:g} nats "
                         f"({destroyed_cell(top)} there)")  # fmt: skip
        else:
            r = hit.iloc[0]
            below = rows[rows["target_kl"] <= r.target_kl / 9].sort_values("target_kl")
            contrast = (
                f"; {destroyed_cell(below.iloc[-1])} at {below.iloc[-1].target_kl:g}"
                if len(below)
                else ""
            )
            parts.append(f"{name} from {r.target_kl:g} nats ({destroyed_cell(r)}{contrast})")
        first = damaged[(damaged["env_id"] == env) & (damaged["arm"] == arm)]
        significant.append(f"{name} {first.iloc[0].target_kl:g}" if len(first) else f"{name} never")
    n, runs = int(ladder["checkpoints"].max()), int(ladder["runs"].max())
    return Finding(
        f"One update of a controlled size (the probe: {n} checkpoints of {runs} runs, each policy "
        f"with a gain to lose) destroyed more than {drop_frac:g} of the gain in most checkpoints from "
        "a KL of: " + "; ".join(parts) + " [95% Wilson CI]. Its damage was significant (paired 95% "
        "CI of the return change below 0) in most checkpoints from: "
        + ", ".join(significant)
        + " nats.",
        "probe_return_vs_kl",
    )


def probe_surrogate_finding(ladder: pd.DataFrame) -> Finding:
    """Per direction: the smallest KL at which the surrogate's prediction falls outside the
    true change's interval in most checkpoints, with both values there."""
    envs = ladder["env_id"].nunique()
    parted = first_majority(ladder, "parted")
    parts = []
    for (env, arm), _ in ladder.groupby(["env_id", "arm"], sort=False):
        name = env_prefix(env, envs) + DIRECTION_NAME.get(arm, arm)
        hit = parted[(parted["env_id"] == env) & (parted["arm"] == arm)]
        if hit.empty:
            parts.append(f"{name}: they agree at every KL probed")
            continue
        r = hit.iloc[0]
        parts.append(f"{name} {r.target_kl:g} nats (predicted {r.predicted_frac:+.2f} of the gain, "
                     f"true {interval(r.change_frac, r.change_frac_ci_low, r.change_frac_ci_high, '+.2f')})")  # fmt: skip
    return Finding(
        "The surrogate's predicted change and the true return change part (the prediction outside "
        "the true change's paired 95% CI in most checkpoints) from: "
        + "; ".join(parts)
        + ". Below that KL the local approximation holds within the evaluation's noise.",
        "probe_surrogate_vs_actual",
    )


def probe_direction_finding(differences: pd.DataFrame) -> Finding:
    """At equal KL, at how many KLs each direction's change differs from the reference's
    (paired t interval excluding 0), and the largest such difference."""
    envs = differences["env_id"].nunique()
    parts = []
    for (env, arm), rows in differences.groupby(["env_id", "arm"], sort=False):
        apart = rows[(rows["difference_frac_ci_low"] > 0) | (rows["difference_frac_ci_high"] < 0)]
        name = (
            f"{env_prefix(env, envs)}{DIRECTION_NAME.get(arm, arm)} − {DIRECTION_NAME['vanilla']}"
        )
        if apart.empty:
            parts.append(f"{name}: at none of {len(rows)} KLs")
            continue
        r = apart.loc[apart["difference_frac"].abs().idxmax()]
        parts.append(f"{name}: at {len(apart)} of {len(rows)} KLs (largest "
                     f"{interval(r.difference_frac, r.difference_frac_ci_low, r.difference_frac_ci_high, '+.2f')}"
                     f" of the gain at {r.target_kl:g} nats)")  # fmt: skip
    return Finding(
        "At equal KL, does the direction matter? The change differed significantly (paired by "
        "checkpoint, 95% t interval) for " + "; ".join(parts) + ".",
        "probe_direction_at_equal_kl",
    )


def probe_knob_finding(knobs: pd.DataFrame) -> Finding:
    """Per update rule, one whole update at the study's settings: the first setting that
    destroyed most checkpoints, with its KL, or none up to the largest."""
    envs = knobs["env_id"].nunique()
    parts = []
    for (env, knob), rows in knobs.groupby(["env_id", "arm"], sort=False):
        name = env_prefix(env, envs) + KNOB_NAME.get(knob, knob)
        hit = rows[rows["destroyed"] > rows["checkpoints"] / 2]
        r = hit.iloc[0] if len(hit) else rows.loc[rows["kl_mean"].idxmax()]
        what = f"kl_mean {r.kl_mean:.2g} nats, destroyed {destroyed_cell(r)}"
        parts.append(f"{name} from {r.knob_value} ({what})" if len(hit) else
                     f"{name} at no setting (its largest update, at {r.knob_value}: {what})")  # fmt: skip
    return Finding(
        "One whole update at the study's own settings destroyed most checkpoints: "
        + "; ".join(parts)
        + ".",
        "probe_return_vs_kl",
    )


def probe_findings(ladder, knobs, differences, drop_frac: float) -> list[Finding]:
    if ladder.empty:
        return []
    found = [probe_damage_finding(ladder, drop_frac), probe_surrogate_finding(ladder)]
    if not differences.empty:
        found.append(probe_direction_finding(differences))
    if not knobs.empty:
        found.append(probe_knob_finding(knobs))
    return found


def runs_per_setting(runs: pd.Series) -> str:
    low, high = int(runs.min()), int(runs.max())
    return f"{low}" if low == high else f"{low}–{high}"


def implementation_finding(table: pd.DataFrame, effects: pd.DataFrame) -> Finding | None:
    """Per update rule tried under several implementation settings: each setting's collapse
    frequency; then, against its base setting (analysis.implementation_effects), which
    settings change the final return and which the collapse frequency beyond chance, with
    their intervals, and by what factor each changes the median update size."""
    parts = []
    for (env, variant, key, step), rows in table.groupby(
        ["env", "variant", "step_size_key", "step_size"], sort=False
    ):
        if rows["impl"].nunique() < 2 or rows["runs"].sum() == 0:
            continue
        cells = "; ".join(f"{r.impl} {collapse_cell(r)}" for r in rows.itertuples())
        rule = (
            variant
            if variant.startswith("ppo_none")
            else f"{variant} ({step_size_label(variant, key, step)})"
        )
        text = f"{env} {rule}: collapsed {cells}"
        vs = effects[(effects["env"] == env) & (effects["variant"] == variant)
                     & (effects["step_size"] == step)]  # fmt: skip
        if len(vs):
            shifts = "; ".join(
                f"{r.impl} vs {r.base} {interval(r.final_diff, r.final_diff_ci_low, r.final_diff_ci_high, '+,.0f')}"
                f" (final {r.final_return:,.0f} vs {r.base_final_return:,.0f}; kl_mean median "
                f"×{r.kl_ratio:.2g}; ended below start {r.below_start}/{r.runs} vs "
                f"{r.base_below_start}/{r.base_runs})"
                for r in vs.itertuples()
            )  # fmt: skip
            final_apart = [f"{r.impl}" for r in vs.itertuples()
                           if apart(r.final_diff_ci_low, r.final_diff_ci_high)]  # fmt: skip
            collapse_apart = [
                f"{r.impl} {interval(r.collapse_diff, r.collapse_diff_ci_low, r.collapse_diff_ci_high, '+.2f')}"
                for r in vs.itertuples() if apart(r.collapse_diff_ci_low, r.collapse_diff_ci_high)
            ]  # fmt: skip
            text += (
                f". Final return against the base setting [95% Welch CI]: {shifts}. Beyond chance, "
                f"the final return changes under: {', '.join(final_apart) or 'no setting'}; the "
                f"collapse frequency under: {', '.join(collapse_apart) or 'no setting'} (95% "
                f"Newcombe interval; {runs_per_setting(rows['runs'])} runs per setting)"
            )
        parts.append(text)
    if not parts:
        return None
    return Finding("What prevents collapse? Per update rule and implementation setting [95% Wilson CI]: "
                   + " | ".join(parts) + ".", "implementation")  # fmt: skip
