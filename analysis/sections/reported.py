"""What the training code logged about its own update size: kl_reported (a library's KL
estimate, e.g. Stable-Baselines3's train/approx_kl: k3 over its minibatches, each taken
before that minibatch's step) against the exact kl_mean of the same update. Only for
records of code the suite did not write; the suite's own runs measure kl_mean exactly and
log no estimate of it."""

import numpy as np
import pandas as pd

from analysis.cells import pct
from analysis.plot_style import plt
from analysis.section import Context, Figure, Finding, Part, Table
from analysis.vocabulary import PALETTE, ordered, step_size_label

TITLE = "What the training code logged: its KL estimate against the exact KL"
UNDER = 0.5  # an estimate below this share of the exact KL understates it by more than 2×


def pairs(updates: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """Every update of a finished run that moved the policy and logged an estimate, with
    `ratio` = kl_reported / kl_mean and its setting."""
    data = updates[updates["run_id"].isin(runs["run_id"])]
    data = data[(data["kl_mean"] > 0) & data["kl_reported"].notna()]
    keys = runs.set_index("run_id")["step_size_key"]
    return data.assign(
        ratio=data["kl_reported"] / data["kl_mean"], step_size_key=data["run_id"].map(keys)
    )


def ratios(data: pd.DataFrame, bands: list[float]) -> pd.DataFrame:
    """Per setting, then per band of kl_mean over every setting: updates, the median ratio
    and its 5–95 % range, and the share of updates understated by more than 2×."""
    rows = []
    edges = [0.0, *bands, np.inf]
    band = pd.cut(data["kl_mean"], edges, labels=False)
    groups = [(f"{v} {step_size_label(v, k, s)}", part) for (v, k, s), part in
              data.groupby(["variant", "step_size_key", "step_size"], sort=False)]  # fmt: skip
    groups = sorted(groups, key=lambda g: (ordered(data["variant"]).index(g[1]["variant"].iloc[0]),
                                           g[1]["step_size"].iloc[0]))  # fmt: skip
    groups += [(band_name(edges, i), part) for i, part in data.groupby(band, sort=True)]
    for name, part in groups:
        r = part["ratio"]
        rows.append({"group": name, "updates": len(part), "kl_mean_median": part["kl_mean"].median(),
                     "ratio_median": r.median(), "ratio_q05": r.quantile(0.05),
                     "ratio_q95": r.quantile(0.95), "understated": float((r < UNDER).mean())})  # fmt: skip
    return pd.DataFrame(rows)


def band_name(edges: list[float], i: int) -> str:
    low, high = edges[i], edges[i + 1]
    if low == 0:
        return f"kl_mean ≤ {high:g} nats"
    return f"kl_mean > {low:g} nats" if np.isinf(high) else f"kl_mean {low:g}–{high:g} nats"


def build(ctx: Context) -> Part | None:
    if "kl_reported" not in ctx.updates or ctx.updates["kl_reported"].isna().all():
        return None
    data = pairs(ctx.updates, ctx.done)
    if data.empty:
        return None
    table = ratios(data, list(ctx.cfg.answer.bands))
    shown = pd.DataFrame({
        "setting, then band of kl_mean": table["group"], "updates": table["updates"],
        "kl_mean median (nats)": table["kl_mean_median"].map("{:.2g}".format),
        "kl_reported / kl_mean: median [5–95 %]": [f"{r.ratio_median:.2g} [{r.ratio_q05:.2g}–{r.ratio_q95:.2g}]"
                                                   for r in table.itertuples()],
        "understated > 2×": table["understated"].map(pct),
    })  # fmt: skip
    return Part(
        TITLE,
        data={"kl_reported": table},
        tables=[Table("kl_reported", "Per setting, then per band of kl_mean over every setting: the KL "
                      "estimate the training code logged (kl_reported) over the update's exact kl_mean, and "
                      "the share of updates it understated by more than 2×.", shown)],
        figures=[Figure("kl_reported", draw(data),
                        "Each update's logged KL estimate against its exact kl_mean; on the dotted diagonal "
                        "the estimate is exact, below it the update was larger than the code logged.")],
        findings=[reported_finding(data, table)],
    )  # fmt: skip


def reported_finding(data: pd.DataFrame, table: pd.DataFrame) -> Finding:
    r = data["ratio"]
    is_band = table["group"].str.startswith("kl_mean")
    largest = table[is_band].iloc[-1]
    settings = table[~is_band]
    worst = settings.loc[settings["understated"].idxmax()]
    return Finding(
        f"The training code's own KL estimate (kl_reported) was a median {r.median():.2g}× the exact "
        f"kl_mean of its update (5–95 %: {r.quantile(0.05):.2g}–{r.quantile(0.95):.2g}) over {len(r)} "
        f"updates, and understated it by more than 2× in {pct(float((r < UNDER).mean()))} of them; at "
        f"{largest['group']} ({largest['updates']} updates) the median was {largest['ratio_median']:.2g}×. "
        f"It understated most under {worst['group']}: a median {worst['ratio_median']:.2g}×, by more than "
        f"2× in {pct(worst['understated'])} of its {worst['updates']} updates.",
        "kl_reported",
    )


def draw(data: pd.DataFrame) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(6.5, 5.0))
    for variant in ordered(data["variant"]):
        part = data[data["variant"] == variant]
        ax.scatter(part["kl_mean"], part["kl_reported"].clip(lower=1e-8), s=6, alpha=0.4,
                   color=PALETTE.get(variant), label=variant, rasterized=True)  # fmt: skip
    lo, hi = data["kl_mean"].min(), data["kl_mean"].max()
    ax.plot([lo, hi], [lo, hi], color="0.2", lw=0.8, ls=":")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("kl_mean (nats): the update's exact KL(π_old‖π_new)")
    ax.set_ylabel("kl_reported (nats): what the training code logged")
    ax.legend(fontsize=7, loc="upper left", markerscale=2)
    return fig
