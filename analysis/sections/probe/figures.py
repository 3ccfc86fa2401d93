"""The one-update probe's figures, drawn from its tables (analysis.sections.probe.effects): the damage
against the update's KL per direction, the surrogate's prediction against the truth, and
the directions compared at equal KL. One panel row per env probed; `labels` names each
direction in the legends."""

import numpy as np
import pandas as pd

from algos.registry import KNOBS
from analysis.plot_style import plt
from analysis.vocabulary import DIRECTION_COLOR, DIRECTIONS, KNOB_COLOR

KL_LABEL = "KL(π_old‖π_new) of the one update, kl_mean (nats, log scale)"
CHANGE_LABEL = "return change / gain (−1: all the gain lost)"


def directions_in(ladder: pd.DataFrame) -> list[str]:
    return [d for d in DIRECTIONS if d in set(ladder["arm"])]


def knob_style(name: str) -> tuple:
    """A knob's colour (its rule's), marker and legend label."""
    if name not in KNOBS:
        return "0.3", "x", name
    knob = KNOBS[name][1]
    label = knob.label + (f" (none = {knob.none_means})" if knob.none_means else "")
    return KNOB_COLOR[name], knob.marker, label


def error(rows: pd.DataFrame, column: str) -> np.ndarray:
    """errorbar's yerr: the distances from the value down to its CI low and up to its CI high."""
    value = rows[column].to_numpy()
    return np.vstack([value - rows[f"{column}_ci_low"].to_numpy(),
                      rows[f"{column}_ci_high"].to_numpy() - value])  # fmt: skip


def band(ax, x, rows: pd.DataFrame, column: str, color, **line) -> None:
    ax.plot(x, rows[column], color=color, **line)
    ax.fill_between(x, rows[f"{column}_ci_low"], rows[f"{column}_ci_high"], color=color, alpha=0.15)


def env_rows(frames: list[pd.DataFrame], columns: int, width: float = 5.2):
    """The envs in the first frame and a figure with one row of `columns` panels per env."""
    envs = sorted(frames[0]["env_id"].unique())
    fig, axes = plt.subplots(len(envs), columns, figsize=(width * columns, 4.2 * len(envs)),
                             squeeze=False)  # fmt: skip
    return envs, fig, axes


def probe_return_vs_kl(ladder, knobs, control, marks, drop_frac: float, labels: dict) -> plt.Figure:
    """Left: the mean return change (fraction of the gain) against the target KL per direction,
    95% t intervals over checkpoints; the control's band; the first KL at which the damage
    is significant in most checkpoints marked. Right: one whole update at each study setting."""
    envs, fig, axes = env_rows([ladder], 2, width=6.2)
    for i, env in enumerate(envs):
        left, right = axes[i]
        for arm in directions_in(ladder):
            rows = ladder[(ladder["env_id"] == env) & (ladder["arm"] == arm)].sort_values(
                "target_kl"
            )
            color = DIRECTION_COLOR[arm]
            band(left, rows["target_kl"], rows, "change_frac", color, marker="o",
                 label=labels[arm])  # fmt: skip
            right.plot(rows["kl_mean"], rows["change_frac"], color=color, alpha=0.25, lw=1)
            hit = marks[(marks["env_id"] == env) & (marks["arm"] == arm)]
            for kl in hit["target_kl"]:
                left.axvline(kl, color=color, ls="--", lw=1)
        low, high = control[env]
        for ax in (left, right):
            ax.axhspan(low, high, color="0.5", alpha=0.2, lw=0,
                       label="control: unchanged policy, other episodes (mean 95% CI)")  # fmt: skip
            ax.axhline(
                -drop_frac,
                color="k",
                ls=":",
                lw=1,
                label=f"destroyed: lost {drop_frac:g} of the gain",
            )
            ax.axhline(0, color="k", lw=0.5)
            ax.set_xscale("log")
            ax.set_xlabel(KL_LABEL)
            ax.set_ylabel(CHANGE_LABEL)
        for knob, rows in knobs[knobs["env_id"] == env].groupby("arm", sort=False):
            color, marker, label = knob_style(knob)
            right.errorbar(rows["kl_mean"], rows["change_frac"], yerr=error(rows, "change_frac"),
                           color=color, marker=marker, ls="none", capsize=3, label=label)  # fmt: skip
            for r in rows.itertuples():
                right.annotate(r.knob_value, (r.kl_mean, r.change_frac), fontsize=7,
                               textcoords="offset points", xytext=(4, 3))  # fmt: skip
        n = int(ladder.loc[ladder["env_id"] == env, "checkpoints"].max())
        left.set_title(f"{env}: one update along each direction ({n} checkpoints)\n"
                       "dashed: first KL with significant damage in most", fontsize=9)  # fmt: skip
        right.set_title(f"{env}: one whole update at each study setting\n"
                        "faint lines: the directions, from the left", fontsize=9)  # fmt: skip
        left.legend(fontsize=7, loc="lower left")
        right.legend(fontsize=7, loc="lower left")
    return fig


def probe_surrogate_vs_actual(
    ladder: pd.DataFrame, parts: pd.DataFrame, labels: dict
) -> plt.Figure:
    """Per direction: the surrogate's predicted change and the true change, both as fractions
    of the gain, against the target KL (symmetric-log y); dashed where they part in most
    checkpoints."""
    columns = directions_in(ladder)
    envs, fig, axes = env_rows([ladder], len(columns), width=4.6)
    for i, env in enumerate(envs):
        for ax, arm in zip(axes[i], columns, strict=True):
            rows = ladder[(ladder["env_id"] == env) & (ladder["arm"] == arm)].sort_values(
                "target_kl"
            )
            color = DIRECTION_COLOR[arm]
            band(ax, rows["target_kl"], rows, "change_frac", color, marker="o", label="true change")
            ax.plot(rows["target_kl"], rows["predicted_frac"], color=color, ls="--", marker="x",
                    label="surrogate's prediction")  # fmt: skip
            for kl in parts.loc[(parts["env_id"] == env) & (parts["arm"] == arm), "target_kl"]:
                ax.axvline(
                    kl, color="k", ls="--", lw=1, label=f"parted in most checkpoints ({kl:g})"
                )
            ax.axhline(0, color="k", lw=0.5)
            ax.set_xscale("log")
            ax.set_yscale("symlog", linthresh=0.1)
            ax.set_xlabel(KL_LABEL, fontsize=8)
            ax.set_ylabel("change / gain (symmetric log)")
            ax.set_title(f"{env}: {labels[arm]}", fontsize=9)
            ax.legend(fontsize=7, loc="lower left")
    return fig


def probe_direction_at_equal_kl(ladder, differences, labels: dict) -> plt.Figure:
    """Left: the mean change per direction at each target KL, side by side (95% t intervals).
    Right: each direction minus the vanilla gradient, paired by checkpoint; 0 = no difference."""
    envs, fig, axes = env_rows([ladder], 2)
    for i, env in enumerate(envs):
        left, right = axes[i]
        arms = directions_in(ladder)
        for offset, arm in zip(np.linspace(-0.06, 0.06, len(arms)), arms, strict=True):
            rows = ladder[(ladder["env_id"] == env) & (ladder["arm"] == arm)].sort_values(
                "target_kl"
            )
            left.errorbar(rows["target_kl"] * 10.0**offset, rows["change_frac"],
                          yerr=error(rows, "change_frac"), color=DIRECTION_COLOR[arm], marker="o",
                          ls="none", capsize=3, label=labels[arm])  # fmt: skip
        for arm, rows in differences[differences["env_id"] == env].groupby("arm", sort=False):
            rows = rows.sort_values("target_kl")
            band(right, rows["target_kl"], rows, "difference_frac", DIRECTION_COLOR[arm], marker="o",
                 label=f"{arm} − {rows['reference'].iloc[0]}")  # fmt: skip
        for ax in (left, right):
            ax.axhline(0, color="k", lw=0.5)
            ax.set_xscale("log")
            ax.set_xlabel(KL_LABEL)
            ax.legend(fontsize=7, loc="lower left")
        left.set_ylabel(CHANGE_LABEL)
        right.set_ylabel("difference in change / gain (paired by checkpoint)")
        left.set_title(f"{env}: the directions at equal KL", fontsize=9)
        right.set_title(f"{env}: does the direction matter? (95% t intervals)", fontsize=9)
    return fig
