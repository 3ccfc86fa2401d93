"""The dose the agent receives, per setting: kl_mean beside kl_behaviour (the collecting
policies before and after an update, observation normaliser included) and kl_normaliser
(the normaliser's move alone), and what they say. The behaviour section shows them in
full; the first screen quotes the Finding."""

import pandas as pd

from analysis.bands import safe_band, study_bands
from analysis.cells import pct
from analysis.section import Context, Finding
from analysis.vocabulary import CONTROLS, ordered, step_size_label


def has_behaviour(ctx: Context) -> bool:
    return "kl_behaviour" in ctx.trials and ctx.trials["kl_behaviour"].notna().any()


def doses(ctx: Context) -> pd.DataFrame:
    """Per setting: updates, median kl_mean, kl_behaviour and kl_normaliser with their 5–95 %
    ranges, and the normaliser's median share of the behavioural dose."""
    data = ctx.trials.dropna(subset=["kl_behaviour"])
    data = data.assign(
        share=data["kl_normaliser"] / data["kl_behaviour"].where(data["kl_behaviour"] > 0)
    )
    info = ctx.done.set_index("run_id")[["step_size_key"]]
    data = data.join(info, on="run_id")
    rows = []
    for (variant, key, size), part in data.groupby(
        ["variant", "step_size_key", "step_size"], sort=False
    ):
        row = {"variant": variant, "step_size_key": key, "step_size": size, "updates": len(part)}
        for dose in ("kl_mean", "kl_behaviour", "kl_normaliser"):
            row |= {f"{dose}_median": part[dose].median(), f"{dose}_q05": part[dose].quantile(0.05),
                    f"{dose}_q95": part[dose].quantile(0.95)}  # fmt: skip
        row["normaliser_share"] = part["share"].median()
        rows.append(row)
    table = pd.DataFrame(rows)
    order = {v: i for i, v in enumerate(ordered(table["variant"]))}
    return table.sort_values(
        ["variant", "step_size"], key=lambda c: c.map(order) if c.name == "variant" else c
    )


def behaviour_finding(ctx: Context) -> Finding | None:
    if not has_behaviour(ctx):
        return None
    table = doses(ctx)
    control = table[table["variant"].isin(CONTROLS)]
    moved = table[~table["variant"].isin(CONTROLS)]
    if control.empty or moved.empty:
        return None
    c = control.iloc[0]
    smallest = moved.loc[moved["kl_behaviour_median"].idxmin()]
    name = f"{smallest['variant']} {step_size_label(smallest['variant'], smallest['step_size_key'], smallest['step_size'])}"
    safe_mean = safe_band(study_bands(ctx))
    safe_behaviour = safe_band(study_bands(ctx, "kl_behaviour"))
    same = ("the same safe band" if (safe_mean is None) == (safe_behaviour is None) and
            (safe_mean is None or safe_mean["band"] == safe_behaviour["band"]) else
            f"a safe band of {'none' if safe_behaviour is None else safe_behaviour['band']} nats")  # fmt: skip
    return Finding(f"The zero-dose control still received a median kl_behaviour of {c['kl_behaviour_median']:.2g} "
                   f"nats per update [5–95 %: {c['kl_behaviour_q05']:.2g}–{c['kl_behaviour_q95']:.2g}] from its "
                   f"observation normaliser alone; the normaliser made a median {pct(smallest['normaliser_share'])} of "
                   f"the smallest rule's ({name}) dose. On kl_behaviour the answer's bands give {same}.",
                   "behaviour_doses")  # fmt: skip
