"""The dose the agent actually receives: kl_behaviour, the exact KL between the policy that
collected a batch and the one that collects the next, observation normaliser included,
beside kl_mean (θ_old against θ_new under one normaliser). What the zero-dose control truly
received, how much of each rule's dose the normaliser makes, and the answer's bands on the
behavioural dose."""

import numpy as np
import pandas as pd

from analysis.bands import band_table, study_bands
from analysis.behaviour_doses import behaviour_finding, doses, has_behaviour
from analysis.plot_style import plt
from analysis.section import Context, Figure, Part, Table, skipped
from analysis.vocabulary import CONTROLS, PALETTE, ordered, step_size_label

TITLE = "The dose the agent receives"


def build(ctx: Context) -> Part | None:
    if not has_behaviour(ctx):
        return skipped(TITLE, "these records predate kl_behaviour (the dose with the observation "
                              "normaliser): re-run the study to have it")  # fmt: skip
    table = doses(ctx)
    rates = study_bands(ctx, "kl_behaviour")
    return Part(
        TITLE,
        data={"behaviour_doses": table, "answer_bands_behaviour": rates},
        tables=[Table("behaviour_doses",
                      "Per setting, median [5–95 %] per update: kl_mean (θ_old against θ_new, one normaliser), "
                      "kl_behaviour (the policy that collected the batch against the one that collects the next, "
                      "normaliser included) and kl_normaliser (the normaliser's move alone), and the "
                      "normaliser's median share of kl_behaviour.", shown(table)),
                Table("answer_bands_behaviour",
                      "The answer's bands on kl_behaviour instead of kl_mean (the zero-dose control's updates "
                      "stay its reference, whatever their behavioural dose).", band_table(rates))],
        figures=[Figure("behaviour", draw(ctx, table),
                        "Every update at risk: kl_behaviour against kl_mean (log–log; diagonal: equal). Grey "
                        "band: the zero-dose control's kl_behaviour (5–95 %), the dose a policy whose actor "
                        "never moves still receives from its normaliser.")],
        findings=[f for f in [behaviour_finding(ctx)] if f is not None],
    )  # fmt: skip


def shown(table: pd.DataFrame) -> pd.DataFrame:
    rows = list(table.itertuples())

    def cell(r, dose):
        return f"{getattr(r, dose + '_median'):.2g} [{getattr(r, dose + '_q05'):.2g}–{getattr(r, dose + '_q95'):.2g}]"

    return pd.DataFrame({
        "setting": [f"{r.variant} {step_size_label(r.variant, r.step_size_key, r.step_size)}" for r in rows],
        "updates": table["updates"],
        "kl_mean": [cell(r, "kl_mean") for r in rows],
        "kl_behaviour": [cell(r, "kl_behaviour") for r in rows],
        "kl_normaliser": [cell(r, "kl_normaliser") for r in rows],
        "normaliser's share of kl_behaviour": [
            f"{r.normaliser_share:.1%}" if np.isfinite(r.normaliser_share) else "–" for r in rows],
    })  # fmt: skip


def draw(ctx: Context, table: pd.DataFrame) -> plt.Figure:
    data = ctx.at_risk.dropna(subset=["kl_behaviour"])
    fig, ax = plt.subplots(figsize=(7.5, 5.0))
    moved = data[~data["algo"].isin(CONTROLS) & (data["kl_mean"] > 0) & (data["kl_behaviour"] > 0)]
    control = table[table["variant"].isin(CONTROLS)]
    if len(control):
        c = control.iloc[0]
        ax.axhspan(c["kl_behaviour_q05"], c["kl_behaviour_q95"], color="0.6", alpha=0.3, lw=0,
                   label="zero-dose control's kl_behaviour (5–95 %)")  # fmt: skip
    for variant in ordered(moved["variant"]):
        part = moved[moved["variant"] == variant]
        ax.scatter(part["kl_mean"], part["kl_behaviour"], s=6, alpha=0.4, color=PALETTE.get(variant),
                   label=variant, rasterized=True)  # fmt: skip
    if len(moved):
        lo = min(moved["kl_mean"].min(), moved["kl_behaviour"].min())
        hi = max(moved["kl_mean"].max(), moved["kl_behaviour"].max())
        ax.plot([lo, hi], [lo, hi], color="0.2", lw=0.8, ls=":")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("kl_mean (nats): θ_old against θ_new under one normaliser")
    ax.set_ylabel("kl_behaviour (nats): normaliser included")
    ax.legend(fontsize=7, loc="upper left", markerscale=2)
    return fig
