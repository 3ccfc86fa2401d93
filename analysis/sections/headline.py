"""The report's first screen: the answer in plain words, stated within the data and beside
doing nothing. Per-update collapse rates in bands of kl_mean, each beside the zero-dose
control's rate under the same definition (analysis.bands); no number for a band with too
few updates at risk, none from a fitted curve. Then what holds across every collapse
definition of the multiverse, how often a study of other seeds would say the same, the
damage quantiles, what a practitioner can act on and the dose the agent received. Every
number comes from the computations the sections below show in full."""

import numpy as np
import pandas as pd

from analysis.bands import (
    ZERO,
    band_table,
    edge_seen,
    evidence,
    replication,
    runs_kept_under,
    safe_band,
    settings_vs_control,
    study_bands,
)
from analysis.behaviour_doses import behaviour_finding
from analysis.cells import pct
from analysis.damage import damage_finding
from analysis.history import history_sentence
from analysis.intervals import wilson_interval
from analysis.multiverse import AHEAD, DEFINITION, across, per_definition, study_multiverse
from analysis.plot_style import plt
from analysis.section import Context, Figure, Finding, Part, Table
from analysis.tables import study_collapse_table
from analysis.vocabulary import ALL, PALETTE, step_size_label

TITLE = "The answer"


def times(ratio: float) -> str:
    """A rate ratio: two significant figures, whole numbers from 100 on."""
    return f"{ratio:.0f}×" if ratio >= 100 else f"{ratio:.2g}×"


def rate(row) -> str:
    return f"{row['collapses']}/{row['updates']} = {pct(row['p'])}"


def build(ctx: Context) -> Part:
    a, updates_ahead = ctx.cfg.answer, ctx.cfg.update_collapse.updates_ahead
    replicated = replication(ctx.at_risk, a.bands, evidence(ctx.cfg), a.replicates, ctx.cfg.seed)
    rates = study_bands(ctx).merge(replicated, on="band", how="left")
    settings = settings_vs_control(study_collapse_table(ctx), a.alpha)
    return Part(
        TITLE,
        data={"answer_bands": rates, "settings_vs_control": settings},
        tables=[Table("answer_bands",
                      f"Per update at risk: how often a collapse followed within {updates_ahead} updates, per band of "
                      f"kl_mean (95% Wilson intervals), against the zero-dose control's updates under the same "
                      f"definition (one-sided Fisher exact test on updates; 'enough': ≥ {a.min_updates} "
                      f"updates from ≥ {a.min_runs} runs). Replicated: the share of {a.replicates} studies of "
                      "other seeds (runs redrawn within each setting) in which the band is again detectably "
                      "above the zero dose, and in which the safe band ends at it.",
                      band_table(rates)),
                Table("settings_vs_control",
                      "Per setting: runs that collapsed (run-level rule) against the zero-dose runs of its "
                      "env (95% Wilson intervals; one-sided Fisher exact test).", settings_table(settings))],
        figures=[Figure("headline", draw(rates, updates_ahead, a.min_updates),
                        f"The answer: the share of updates at risk followed by a collapse within {updates_ahead} "
                        "updates, per band of kl_mean (bars: 95% Wilson intervals; n: updates at risk, "
                        "runs), beside the zero-dose control (grey: no update at all, same definition). "
                        "Bands with too few updates are hollow and stated nowhere; no curve is drawn "
                        "beyond the data.")],
        findings=first_screen(ctx, rates, settings),
        answer=answer(ctx, rates),
    )  # fmt: skip


def settings_table(settings: pd.DataFrame) -> pd.DataFrame:
    rows = list(settings.itertuples())
    return pd.DataFrame({
        "env": settings["env"],
        "setting": [f"{r.variant} {step_size_label(r.variant, r.step_size_key, r.step_size)}" for r in rows],
        "collapsed / runs [95% CI]": [f"{r.collapsed}/{r.runs} [{r.ci_low:.2f}, {r.ci_high:.2f}]" for r in rows],
        "zero dose": [f"{r.control_collapsed}/{r.control_runs}" for r in rows],
        "p (above zero dose)": [f"{r.p_value:.2g}" if np.isfinite(r.p_value) else "–" for r in rows],
        "verdict": ["above the zero dose" if r.above else "not detectably above" for r in rows],
    })  # fmt: skip


def answer(ctx: Context, rates: pd.DataFrame) -> str:
    """Three sentences: the band rates beside the zero dose's, what holds under every
    collapse definition, and the safe band with how far it moves."""
    a = ctx.cfg.answer
    zero = rates[rates["band"] == ZERO].iloc[0]
    moved = rates[rates["band"] != ZERO]
    if not zero["enough"]:
        return (f"This study's zero-dose control has {zero['updates']} updates at risk from {zero['runs']} runs, "
                f"fewer than the {a.min_updates} from {a.min_runs} a comparison needs, so no collapse rate can be set "
                "beside doing nothing: add or extend the `hold` arm.")  # fmt: skip
    stated = moved[moved["enough"]]
    if stated.empty:
        return (f"No band of kl_mean holds {a.min_updates} updates at risk from {a.min_runs} runs yet: too "
                "little data to state how the size of an update relates to collapse.")  # fmt: skip
    cells = ", ".join(f"{pct(r.p)} at {r.band} nats" + (f" ({times(r.ratio)})" if np.isfinite(r.ratio) else "")
                      for r in stated.itertuples())  # fmt: skip
    h = ctx.cfg.update_collapse.updates_ahead
    if stated["p"].is_monotonic_increasing:
        lead = f"Per update, the larger its KL(π_old‖π_new), the more often a collapse followed within {h} updates"
    elif stated["p"].iloc[-1] > stated["p"].iloc[0]:
        lead = f"Per update, the larger its KL(π_old‖π_new), by and large the more often a collapse followed within {h} updates"
    else:
        lead = f"Per update, a collapse followed within {h} updates with no consistent rise with the update's KL"
    text = f"{lead}: {cells} of the updates at risk, against {rate(zero)} for a policy that never moved."
    return " ".join([text, multiverse_sentence(ctx, stated), safe_sentence(ctx, rates)])


def multiverse_sentence(ctx: Context, stated: pd.DataFrame) -> str:
    """Under how many collapse definitions of the grid the rates rise with the band, and
    each stated band is above the zero dose."""
    table = study_multiverse(ctx)
    grid = table[DEFINITION].drop_duplicates()
    span = (
        f"the {len(grid)} definitions of a collapse tried (the return falling by {grid['drop_frac'].min():g}–"
        f"{grid['drop_frac'].max():g} of the gain within {grid[AHEAD].min()}–{grid[AHEAD].max()} updates)"
    )
    summary = across(table).set_index("band").loc[list(stated["band"])]
    rising = sum(part.loc[part["band"].isin(stated["band"]), "p"].is_monotonic_increasing
                 for _, part in table.groupby(DEFINITION, sort=False))  # fmt: skip
    counts = ", ".join(f"{band} nats under {'all' if r.above == r.definitions else int(r.above)}"
                       for band, r in summary.iloc[::-1].iterrows())  # fmt: skip
    rose = f"all {rising}" if rising == len(grid) else f"{rising} of them"
    top = table[(table["band"] == summary.index[-1]) & table["enough"].astype(bool)]["p"]
    return (f"Across {span}, the rates rose band by band under {rose}, and each band was above the zero dose "
            f"under: {counts}; the rates themselves move with the definition ({summary.index[-1]} nats: "
            f"{pct(top.min())}–{pct(top.max())}).")  # fmt: skip


def safe_sentence(ctx: Context, rates: pd.DataFrame) -> str:
    """The safe band under the report's definition, and how far seeds and definitions move it."""
    safe = safe_band(rates)
    edges = per_definition(study_multiverse(ctx))["safe_kl"]
    low, high = edges.fillna(0).min(), edges.fillna(0).max()
    moves = (f"runs from {'none' if low == 0 else f'{low:g} nats'} to {'none' if high == 0 else f'{high:g} nats'}"
             if low != high else "stays there")  # fmt: skip
    if safe is None:
        return (f"No band is safe under this definition: even the smallest is above the zero dose or too thin "
                f"to compare (across definitions the safe band {moves}).")  # fmt: skip
    share = safe["safe_edge_share"]
    firm = "firm" if share >= 0.9 and low == high else "not firm"
    return (f"No excess over standing still was detectable up to {edge_seen(rates, safe):g} nats (the safe band); "
            f"its edge is {firm}: {share:.0%} of studies with other seeds end it there, and across "
            f"definitions it {moves}.")  # fmt: skip


def first_screen(ctx: Context, rates: pd.DataFrame, settings: pd.DataFrame) -> list[Finding]:
    found = [where_collapses_happen(ctx, rates), damage_finding(ctx), practitioner(ctx, rates, settings),
             replication_finding(ctx, rates), behaviour_finding(ctx)]  # fmt: skip
    return [f for f in found if f is not None][:5]


def where_collapses_happen(ctx: Context, rates: pd.DataFrame) -> Finding | None:
    """Small updates are the common ones: most collapses may follow them while their rate is
    low. The edge: the smallest band above the zero dose under every collapse definition."""
    moved = rates[rates["band"] != ZERO]
    total = int(moved["collapses"].sum())
    summary = across(study_multiverse(ctx)).set_index("band")
    firm = [b for b in moved.loc[moved["enough"], "band"]
            if b in summary.index and summary.at[b, "above"] == summary.at[b, "definitions"]]  # fmt: skip
    if total == 0 or not firm:
        return None
    edge = float(moved.loc[moved["band"] == firm[0], "kl_low"].iloc[0])
    if edge <= 0:  # the smallest band is already above everywhere: no smaller updates to count
        return None
    below = moved[moved["kl_high"] <= edge]
    k, n = int(below["collapses"].sum()), int(below["updates"].sum())
    return Finding(f"{k} of the {total} collapses ({k / total:.0%}) followed updates under {edge:g} nats, the band "
                   f"above which every definition finds updates riskier than standing still: {n} of the "
                   f"{int(moved['updates'].sum())} updates at risk were that small. Most collapses follow small updates "
                   "because most updates are small: a rate, not a threshold.", "answer_bands")  # fmt: skip


def practitioner(ctx: Context, rates: pd.DataFrame, settings: pd.DataFrame) -> Finding | None:
    """What a run kept in the safe band risked, run by run, and which settings stayed at the
    control's run-level rate."""
    safe = safe_band(rates)
    if safe is None:
        return None
    edge = edge_seen(rates, safe)
    kept = runs_kept_under(ctx.trials, edge)
    n_updates = int(ctx.done["updates"].median())
    tested = settings[np.isfinite(settings["p_value"].astype(float))]
    # a setting (rule and step size) is above when its runs are above the control's in any task
    verdicts = tested.groupby(["variant", "step_size_key", "step_size"], sort=False)["above"].any()
    above = [f"{v} {step_size_label(v, k, size)}" for (v, k, size), hit in verdicts.items() if hit]
    calm = [
        f"{v} {step_size_label(v, k, size)}" for (v, k, size), hit in verdicts.items() if not hit
    ]
    per_setting = int(tested["runs"].median()) if len(tested) else 0
    tasks = tested["env"].nunique()
    where = " in some task" if tasks > 1 else ""
    settings_text = (f"Settings whose runs collapsed more often than the zero dose's{where}: {', '.join(above) or 'none'}; "
                     f"not detectably: {', '.join(calm) or 'none'} ({per_setting} runs a setting"
                     f"{' and task' if tasks > 1 else ''}: a wide net).")  # fmt: skip
    if kept["runs"]:
        low, high = wilson_interval(kept["collapsed"], kept["runs"])
        zero_low, zero_high = wilson_interval(kept["zero_collapsed"], kept["zero_runs"])
        runs = (f"Of the runs whose every update stayed ≤ {edge:g} nats, {kept['collapsed']}/{kept['runs']} "
                f"[{low:.2f}, {high:.2f}] had an update followed by a collapse within their {n_updates} updates, "
                f"against {kept['zero_collapsed']}/{kept['zero_runs']} [{zero_low:.2f}, {zero_high:.2f}] of the runs "
                "that never moved. ")  # fmt: skip
    else:
        runs = f"No run kept every update ≤ {edge:g} nats. "
    return Finding(runs + settings_text, "settings_vs_control")


def replication_finding(ctx: Context, rates: pd.DataFrame) -> Finding | None:
    """How often studies of other seeds would make each band statement again, and how this
    run compares with the study's earlier runs on record."""
    moved = rates[(rates["band"] != ZERO) & rates["enough"]]
    if moved.empty:
        return None
    a = ctx.cfg.answer
    cells = ", ".join(f"{r.band} nats in {r.above_share:.0%}" for r in moved.itertuples())
    safe = safe_band(rates)
    edge = (f"; the safe band ends at {safe['kl_high']:g} nats in {safe['safe_edge_share']:.0%}"
            if safe is not None else "")  # fmt: skip
    text = (f"Redrawing every setting's seeds ({a.replicates} resampled studies, what a run on another machine "
            f"amounts to), each band is above the zero dose in: {cells}{edge}.")  # fmt: skip
    history = history_sentence(ctx.cfg.sweep, safe)
    return Finding(f"{text} {history}" if history else text, "answer_bands")


def draw(rates: pd.DataFrame, updates_ahead: int, min_updates: int) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(9.0, 4.4))
    zero = rates[rates["band"] == ZERO].iloc[0]
    moved = rates[(rates["band"] != ZERO) & (rates["updates"] > 0)]
    if zero["updates"]:
        ax.axhspan(zero["ci_low"], zero["ci_high"], color="0.6", alpha=0.3, lw=0)
        ax.axhline(zero["p"], color="0.4", ls="--", lw=1.2,
                   label=f"no update at all: {zero['collapses']}/{zero['updates']} updates")  # fmt: skip
    lowest = moved["kl_high"].min() / 10 if len(moved) else 1e-3
    for r in moved.itertuples():
        low = r.kl_low if r.kl_low > 0 else lowest
        high = r.kl_high if np.isfinite(r.kl_high) else r.kl_low * 10
        centre = np.sqrt(low * high)
        color = PALETTE[ALL]
        filled = bool(r.enough)
        ax.plot(
            [low, high],
            [r.p, r.p],
            color=color,
            lw=2.4 if filled else 1.0,
            alpha=1 if filled else 0.5,
        )
        ax.errorbar(
            [centre],
            [r.p],
            yerr=[[r.p - r.ci_low], [r.ci_high - r.p]],
            color=color,
            capsize=3,
            marker="o",
            mfc=color if filled else "white",
            alpha=1 if filled else 0.5,
        )
        ax.annotate(f"n={r.updates}\n{r.runs} runs", (centre, r.ci_high), textcoords="offset points",
                    xytext=(0, 4), ha="center", fontsize=7, color="0.3")  # fmt: skip
    ax.set_xscale("log")
    ax.set_yscale("symlog", linthresh=1e-3, linscale=0.5)
    ax.set_ylim(0, 3.0)  # room above 100 % for the counts
    ax.set_yticks([0, 1e-3, 1e-2, 0.1, 1.0])
    ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{100 * v:g} %"))
    ax.set_xlabel("kl_mean of the update, KL(π_old‖π_new), band (nats, log scale)")
    ax.set_ylabel(f"updates followed by a collapse\nwithin {updates_ahead} updates")
    ax.plot(
        [],
        [],
        color=PALETTE[ALL],
        lw=2.4,
        marker="o",
        label=f"a band of updates (≥ {min_updates} at risk)",
    )
    ax.plot(
        [],
        [],
        color=PALETTE[ALL],
        lw=1.0,
        marker="o",
        mfc="white",
        alpha=0.5,
        label="too few to state",
    )
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title(
        "Per update: how often a collapse followed, by the update's KL (log scale above 0.1 %)",
        fontsize=10,
    )
    return fig
