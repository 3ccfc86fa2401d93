"""How far each update rule moved the policy: whether a rule whose step size bounds the KL
(TRPO's δ) held every update within it, what a bound on the probability ratio (PPO's ε)
did to the KL, and how update sizes evolved over training."""

import numpy as np
import pandas as pd

from algos.registry import ALGOS
from analysis.collapse import update_windows
from analysis.learning_curves import learning_curves
from analysis.plot_style import algos_in, bound_label, kl_bounds, plt
from analysis.section import Context, Figure, Finding, Part
from analysis.vocabulary import LABEL, PALETTE

TITLE = "How far the updates went"
MAX_POINTS_PER_PANEL = 40_000


def build(ctx: Context) -> Part:
    updates_ahead = ctx.cfg.kl_vs_return.updates_ahead
    marks = kl_bounds(ctx.runs)
    found = bound_finding(ctx.done_updates)
    bounds = bound_label(marks)
    return Part(
        TITLE,
        figures=[
            Figure("kl_vs_return", draw_kl_vs_return(ctx.updates, updates_ahead, marks),
                   f"Every update: its kl_mean against the return change over the next {updates_ahead} "
                   f"updates. Look at whether large-KL updates are followed by drops, and where "
                   f"{bounds} lines sit."),
            Figure("kl_curves", learning_curves(ctx.updates, metric="kl_mean"),
                   "Update size over training: each update's kl_mean per update rule and step size "
                   f"(log axis), {bounds} dotted. Look at whether the other step sizes hold the KL "
                   "steady as training goes on."),
        ],
        findings=[found] if found else [],
    )  # fmt: skip


def future_return_change(updates: pd.DataFrame, updates_ahead: int) -> pd.Series:
    """Mean return_mean over the next `updates_ahead` updates (analysis.collapse.update_windows'
    `ahead`, the update-level rule's) minus the return at this update."""
    changes = []
    for _, run in updates.sort_values(["run_id", "update"]).groupby("run_id", sort=False):
        returns = run["return_mean"].to_numpy(dtype=float)
        _, ahead, _ = update_windows(returns, np.nan, updates_ahead)
        changes.append(pd.Series(ahead - returns, index=run.index))
    return pd.concat(changes).reindex(updates.index) if changes else pd.Series(dtype=float)


def draw_kl_vs_return(
    updates: pd.DataFrame, updates_ahead: int, marks: dict[str, list[float]]
) -> plt.Figure:
    """Every update's kl_mean against the return change after it; `marks` maps a rule whose
    step size bounds the KL to its step sizes (dotted)."""
    data = updates.assign(change=future_return_change(updates, updates_ahead))
    data = data[(data["kl_mean"] > 0) & data["change"].notna()]
    envs = sorted(data["env"].unique())
    fig, axes = plt.subplots(1, len(envs), figsize=(6.5 * len(envs), 4.8), squeeze=False)
    for ax, env in zip(axes[0], envs, strict=True):
        panel = data[data["env"] == env]
        if len(panel) > MAX_POINTS_PER_PANEL:
            panel = panel.sample(MAX_POINTS_PER_PANEL, random_state=0)
        for algo in algos_in(panel):
            part = panel[panel["algo"] == algo]
            ax.scatter(part["kl_mean"], part["change"], s=6, alpha=0.35, color=PALETTE.get(algo),
                       label=LABEL.get(algo, algo), rasterized=True)  # fmt: skip
        for rule, values in marks.items():
            for value in values:
                ax.axvline(value, color=PALETTE[rule], ls=":", lw=1)
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_xscale("log")
        ax.set_title(f"{env} (dotted: {bound_label(marks)} values)")
        ax.set_xlabel("kl_mean of the update, KL(π_old‖π_new) (nats, log scale)")
        ax.set_ylabel(f"return change over next {updates_ahead} updates")
        ax.legend(markerscale=3, title="algo (step-size key)")
    return fig


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
