"""Every reasonable definition at once: the answer's band rates, safe band and odds ratio
under each update-level collapse definition of the grid (analysis.multiverse), as one
specification curve and one CSV."""

import numpy as np
import pandas as pd

from analysis.bands import ZERO
from analysis.cells import pct
from analysis.multiverse import AHEAD, DEFINITION, across, per_definition, study_multiverse
from analysis.plot_style import plt
from analysis.section import Context, Figure, Finding, Part, Table

TITLE = "Every collapse definition at once"


def build(ctx: Context) -> Part:
    table = study_multiverse(ctx)
    summary, definitions = across(table), per_definition(table)
    u = ctx.cfg.update_collapse
    return Part(
        TITLE,
        data={"multiverse": table, "multiverse_bands": summary},
        tables=[Table("multiverse_bands",
                      f"Per band of kl_mean, over the {len(definitions)} definitions of an update-level collapse "
                      "(drop_frac × updates_ahead): in how many the band holds the evidence and is detectably above the "
                      "zero dose, and the range of its rate and of its ratio to the zero dose's (where the zero "
                      "dose had any).", shown(summary)),
                Table("multiverse",
                      "Each definition: moved runs with a collapse, the safe band's edge (largest band from the "
                      "smallest not detectably above the zero dose), the first band above it, and the pooled "
                      f"odds ratio per tenfold kl_mean (the report's own: drop_frac {u.drop_frac:g}, updates_ahead "
                      f"{u.updates_ahead}).", definitions_table(definitions), csv="multiverse")],
        figures=[Figure("multiverse", draw(table, u.drop_frac, u.updates_ahead),
                        "Specification curve: each column one definition of a collapse (below: its drop_frac and "
                        "updates_ahead), sorted by the zero dose's rate. Above: each band's per-update collapse rate "
                        "(filled: detectably above the zero dose; hollow: not; bands without the evidence left "
                        "out) and the zero dose's (grey).")],
        findings=[f for f in [multiverse_finding(summary, definitions)] if f is not None],
    )  # fmt: skip


def shown(summary: pd.DataFrame) -> pd.DataFrame:
    rows = list(summary.itertuples())
    return pd.DataFrame({
        "kl_mean band (nats)": summary["band"],
        "definitions with the evidence": [f"{r.enough}/{r.definitions}" for r in rows],
        "above the zero dose": ["–" if r.band == ZERO else f"{r.above}/{r.definitions}" for r in rows],
        "rate per update, range": [f"{pct(r.p_min)}–{pct(r.p_max)}" for r in rows],
        "× zero dose, range": [f"{r.ratio_min:.2g}–{r.ratio_max:.2g}" if np.isfinite(r.ratio_min) else "–"
                               for r in rows],
    })  # fmt: skip


def definitions_table(definitions: pd.DataFrame) -> pd.DataFrame:
    rows = list(definitions.itertuples())
    return pd.DataFrame({
        "drop_frac": definitions["drop_frac"], "updates_ahead": definitions[AHEAD],
        "runs with a collapse": definitions["collapsed_runs"],
        "safe band up to (nats)": [f"{r.safe_kl:g}" if np.isfinite(r.safe_kl) else "none" for r in rows],
        "first band above from (nats)": [f"{r.first_above_kl:g}" if np.isfinite(r.first_above_kl) else "none"
                                         for r in rows],
        "odds ratio per 10× kl_mean": [f"{r.odds_ratio:.2g}" if np.isfinite(r.odds_ratio) else "–" for r in rows],
    })  # fmt: skip


def multiverse_finding(summary: pd.DataFrame, definitions: pd.DataFrame) -> Finding | None:
    moved = summary[summary["band"] != ZERO]
    held = moved[moved["above"] == moved["definitions"]]
    never = moved[(moved["above"] == 0) & (moved["enough"] == moved["definitions"])]
    odds = definitions["odds_ratio"].dropna()
    n = len(definitions)
    parts = []
    if len(held):
        parts.append(f"above the zero dose under all {n}: {', '.join(held['band'])} nats")
    if len(never):
        parts.append(f"under none: {', '.join(never['band'])} nats")
    if not parts:
        return None
    text = f"Across {n} collapse definitions, updates of " + "; ".join(parts)
    if len(odds):
        text += f"; the odds ratio per tenfold kl_mean ranges {odds.min():.2g}–{odds.max():.2g}"
    return Finding(text + ".", "multiverse_bands")


def draw(table: pd.DataFrame, drop_frac: float, updates_ahead: int) -> plt.Figure:
    keys = DEFINITION
    zero = table[table["band"] == ZERO].sort_values(["p", *keys])
    order = [tuple(k) for k in zero[keys].to_numpy()]
    x = {k: i for i, k in enumerate(order)}
    fig, (ax, grid) = plt.subplots(2, 1, figsize=(11, 6.2), sharex=True, height_ratios=[3, 1.3])
    ax.plot(
        [x[k] for k in order],
        zero["p"],
        color="0.45",
        marker="s",
        ms=4,
        lw=1,
        label="no update at all",
    )
    bands = [b for b in table["band"].unique() if b != ZERO]
    colors = plt.cm.viridis(np.linspace(0.1, 0.9, len(bands)))
    for band, color in zip(bands, colors, strict=True):
        part = table[(table["band"] == band) & table["enough"].astype(bool)]
        if part.empty:
            continue
        at = [x[(d, h)] for d, h in part[keys].to_numpy()]
        above = part["above"].astype(bool).to_numpy()
        ax.scatter(np.array(at)[above], part["p"][above], color=color, s=22, label=f"{band} nats")
        ax.scatter(
            np.array(at)[~above], part["p"][~above], facecolor="white", edgecolor=color, s=22
        )
    ax.set_yscale("symlog", linthresh=1e-3)
    ax.set_yticks([0, 1e-3, 1e-2, 0.1, 1.0])
    ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{100 * v:g} %"))
    ax.set_ylabel("updates followed by a collapse")
    ax.legend(fontsize=7, ncol=3, loc="upper left")
    for row, key in enumerate(keys):
        values = sorted(table[key].unique())
        for k in order:
            grid.scatter(x[k], row * (len(values) + 1) + values.index(k[row]), color="0.2", s=10)
        grid.axhline(row * (len(values) + 1) - 0.5, color="0.85", lw=0.6)
    ticks, labels = [], []
    for row, key in enumerate(keys):
        values = sorted(table[key].unique())
        ticks += [row * (len(values) + 1) + i for i in range(len(values))]
        labels += [f"{'updates_ahead' if key == AHEAD else key} {v:g}" for v in values]
    grid.set_yticks(ticks, labels, fontsize=7)
    own = x.get((drop_frac, updates_ahead))
    if own is not None:
        for a in (ax, grid):
            a.axvline(own, color="0.6", ls=":", lw=1)
    grid.set_xticks([])
    grid.set_xlabel("definitions, sorted by the zero dose's rate (dotted: the report's own)")
    fig.tight_layout()
    return fig
