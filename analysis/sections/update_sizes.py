"""How far each update rule moved the policy: whether a rule whose step size bounds the KL
(TRPO's δ) held every update within it, what a bound on the probability ratio (PPO's ε)
did to the KL, and how update sizes evolved over training."""

import numpy as np
import pandas as pd

from algos.registry import ALGOS
from analysis import plots
from analysis.section import Context, Figure, Finding, Part
from analysis.vocabulary import LABEL

TITLE = "How far the updates went"


def build(ctx: Context) -> Part:
    horizon = ctx.cfg.kl_vs_return_horizon
    stem = ctx.figure_stem
    found = bound_finding(ctx.done_updates)
    bounds = plots.bound_label(ctx.kl_bounds)
    return Part(
        TITLE,
        figures=[
            Figure("kl_vs_return", plots.kl_vs_return(ctx.updates, horizon, ctx.kl_bounds, stem("kl_vs_return")),
                   f"Every update: its kl_mean against the return change over the next {horizon} "
                   f"updates. Look at whether large-KL updates are followed by drops, and where "
                   f"{bounds} lines sit."),
            Figure("kl_curves", plots.learning_curves(ctx.updates, stem("kl_curves"), metric="kl_mean"),
                   "Update size over training: each update's kl_mean per update rule and step size "
                   f"(log axis), {bounds} dotted. Look at whether the other step sizes hold the KL "
                   "steady as training goes on."),
        ],
        findings=[found] if found else [],
    )  # fmt: skip


def kl_bound_text(rule: str, updates: pd.DataFrame) -> str:
    """A KL-bounded rule's largest update against its bound."""
    symbol = ALGOS[rule].symbol
    excess = (updates["kl_mean"] / updates["step_size"]).max()
    largest = updates.loc[updates["kl_mean"].idxmax()]
    verb = f"held every update within {symbol}" if excess <= 1 else f"let updates exceed {symbol}"
    return (
        f"{ALGOS[rule].title} {verb}: over {len(updates)} updates the largest kl_mean / "
        f"{symbol} was {excess:.3g} (largest kl_mean {largest['kl_mean']:.3g} nats, at {symbol} "
        f"{largest['step_size']:g})"
    )


def ratio_bound_text(rule: str, updates: pd.DataFrame) -> str:
    """A ratio-bounded rule's largest ratio and KL at each of its step sizes."""
    symbol = ALGOS[rule].symbol
    per_size = updates.groupby("step_size").agg(
        ratio_max=("ratio_max", "max"), kl=("kl_mean", "max")
    )
    described = [
        f"at {symbol} {eps:g} (ratios clipped at {1 + eps:g}; KL of order {symbol}²/2 = "
        f"{eps**2 / 2:.2g}) the largest ratio was {row.ratio_max:.3g} and the largest kl_mean {row.kl:.3g}"
        for eps, row in per_size.iterrows()
    ]
    return f"{ALGOS[rule].title}'s clip bounds the incentive, not the step: " + "; ".join(described)


def bound_finding(updates: pd.DataFrame) -> Finding | None:
    """Each rule whose step size bounds the KL against that bound; each rule that bounds the
    ratio, its largest ratio and KL, and how far its variants without the bound went."""
    parts = []
    for rule in ALGOS.values():
        if rule.bound == "kl":
            own = updates[(updates["variant"] == rule.name) & np.isfinite(updates["kl_mean"])]
            if len(own):
                parts.append(kl_bound_text(rule.name, own))
        if rule.bound == "ratio":
            own = updates[(updates["variant"] == rule.name) & np.isfinite(updates["ratio_max"])]
            if len(own):
                parts.append(ratio_bound_text(rule.name, own))
            for variant in rule.variant_labels:
                free = updates[(updates["variant"] == variant) & np.isfinite(updates["kl_mean"])]
                if len(free):
                    parts.append(f"{LABEL[variant]}: kl_mean reached {free['kl_mean'].max():.3g} "
                                 f"(median {free['kl_mean'].median():.3g})")  # fmt: skip
    if not parts:
        return None
    return Finding("; ".join(parts) + ".", "kl_curves")
