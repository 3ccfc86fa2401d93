"""Damage without a threshold: the quantiles of the return change after an update, against
its kl_mean, beside the zero-dose control's (analysis.damage). The KL-versus-return answer
with no collapse definition in it."""

import numpy as np
import pandas as pd

from analysis.damage import ZERO_BIN, damage_finding, study_damage
from analysis.plot_style import plt
from analysis.section import Context, Figure, Part, Table, skipped

TITLE = "Damage without a threshold"
QUANTILE_COLORS = {0.1: "#c0392b", 0.5: "#2c3e50", 0.9: "#27ae60"}


def build(ctx: Context) -> Part | None:
    table = study_damage(ctx)
    if table.empty:
        return skipped(TITLE, "no update of a finished run was at risk")
    h, g = ctx.cfg.update_collapse.updates_ahead, ctx.cfg.damage
    return Part(
        TITLE,
        data={"damage": table},
        tables=[Table("damage",
                      f"Per half-decade bin of kl_mean: quantiles of the return change over the next {h} updates "
                      "(the mean over the next updates minus the mean over the last, as a share of the run's "
                      "gain; −0.5: half the gain lost), 95% intervals over "
                      f"{g.bootstrap} resamples of whole runs; the zero dose first.", shown(table))],
        figures=[Figure("damage", draw(table, h),
                        f"The return change over the next {h} updates as a share of the gain, against kl_mean: "
                        "its 10th, 50th and 90th percentiles per half-decade bin (bands: 95% run-level "
                        "bootstrap), the zero-dose control's as dashed lines (the measure's own noise). "
                        "Bins with too few updates are left out; n: updates per bin.")],
        findings=[f for f in [damage_finding(ctx)] if f is not None],
    )  # fmt: skip


def shown(table: pd.DataFrame) -> pd.DataFrame:
    wide = table.pivot_table(index=["bin", "kl_low", "updates", "runs"], columns="quantile",
                             values="return_change", sort=False).reset_index()  # fmt: skip
    cells = {}
    for q, part in table.groupby("quantile", sort=True):
        cells[f"{q:.0%} quantile [95% CI]"] = [
            f"{r.return_change:+.2f} [{r.ci_low:+.2f}, {r.ci_high:+.2f}]" if np.isfinite(r.ci_low)
            else f"{r.return_change:+.2f}" for r in part.itertuples()]  # fmt: skip
    first = table.drop_duplicates("bin")
    return pd.DataFrame(
        {
            "kl_mean bin (nats)": first["bin"].to_numpy(),
            "updates (runs)": [f"{r.updates} ({r.runs})" for r in first.itertuples()],
            **cells,
        }
    ).iloc[: len(wide)]


def draw(table: pd.DataFrame, updates_ahead: int) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(10.5, 4.4))
    bins = table[table["shown"].astype(bool) & (table["bin"] != ZERO_BIN)]
    zero = table[table["bin"] == ZERO_BIN]
    for q, part in bins.groupby("quantile", sort=True):
        x = np.sqrt(part["kl_low"] * part["kl_high"])
        color = QUANTILE_COLORS.get(round(q, 2), "0.3")
        ax.plot(
            x, part["return_change"], marker="o", color=color, lw=1.8, label=f"{q:.0%} quantile"
        )
        ax.fill_between(x, part["ci_low"], part["ci_high"], color=color, alpha=0.15, lw=0)
        z = zero[np.isclose(zero["quantile"], q)]
        if len(z):
            ax.axhline(z["return_change"].iloc[0], color=color, ls="--", lw=1.0, alpha=0.8)
    for _, r in bins.drop_duplicates("bin").iterrows():
        ax.annotate(f"{r['updates']}", (np.sqrt(r["kl_low"] * r["kl_high"]), 0), xycoords=("data", "axes fraction"),
                    xytext=(0, 3), textcoords="offset points", ha="center", fontsize=7, color="0.35")  # fmt: skip
    ax.plot([], [], color="0.4", ls="--", label="no update at all (same quantile)")
    ax.axhline(0, color="0.7", lw=0.8)
    if bins.empty:  # nothing to draw on a log axis: say why instead
        ax.text(0.5, 0.5, "no bin of kl_mean has enough updates of runs that had gained", ha="center",
                va="center", transform=ax.transAxes)  # fmt: skip
    else:
        ax.set_xscale("log")
    ax.set_xlabel("kl_mean of the update (nats, log scale); n: updates per bin")
    ax.set_ylabel(f"return change over the next {updates_ahead} updates\n(share of the run's gain)")
    ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{100 * v:+.0f} %"))
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    return fig
