"""Every mechanism on the measured-KL scale: at equal KL, does the mechanism matter; how
tightly does each setting hold the KL of its updates against its nominal target; where
does the quadratic model of the KL (TRPO's and NPG's full natural-gradient step) stop
holding, and is TRPO's line search then worth anything against NPG at the same δ."""

import numpy as np
import pandas as pd
import seaborn as sns
from scipy import stats

from algos.registry import ALGOS
from analysis.cells import interval, rule_columns
from analysis.dose_response import mechanism_odds_ratios
from analysis.intervals import newcombe_interval
from analysis.plot_style import algos_in, plt
from analysis.section import Context, Figure, Finding, Part, Table
from analysis.tables import study_collapse_table
from analysis.vocabulary import LABEL, PALETTE

TITLE = "Mechanisms on one scale"
REFERENCE = "trpo"  # the mechanism the others are compared with at equal KL
WITH_SEARCH, WITHOUT_SEARCH = "trpo", "npg"
KL_KEYS = ("delta", "target_kl")  # step-size keys whose value is a KL in nats
MODEL_BAND = (0.5, 2.0)  # exact / quadratic KL within this band: the model holds
RULE = ["env", "variant", "algo", "step_size_key", "step_size"]


def build(ctx: Context) -> Part | None:
    updates_ahead = ctx.cfg.update_collapse.updates_ahead
    odds = mechanism_odds_ratios(ctx.at_risk, REFERENCE)
    control = kl_control(ctx.done_updates, ctx.done)
    model = taylor_model(ctx.done_updates)
    worth = line_search_worth(study_collapse_table(ctx), WITH_SEARCH, WITHOUT_SEARCH)
    findings = [f for f in (odds_finding(odds), early_stop_finding(control), taylor_finding(model),
                            worth_finding(worth)) if f is not None]  # fmt: skip
    return Part(
        TITLE,
        data={"mechanism_odds": odds, "kl_control": control, "taylor_model": model,
              "line_search_worth": worth},
        tables=[
            Table("mechanism_odds",
                  f"At equal measured KL: the odds of a collapse within {updates_ahead} updates under each "
                  f"mechanism against {REFERENCE}, from the pooled logistic regression on log10 kl_mean "
                  "and training progress with the mechanism as a covariate (95% CI clustered by run). "
                  "1 means the mechanism adds nothing beyond the size of its updates.",
                  shown_odds(odds)),
            Table("kl_control",
                  "How tightly each setting holds the KL of its updates: kl_mean's median and 5–95 % "
                  "range against its nominal target (TRPO's and NPG's δ, PPO's target_kl), and the "
                  "spread (95th over 5th percentile).",
                  shown_kl_control(control)),
            Table("taylor_model",
                  "TRPO's and NPG's full natural-gradient step, sized so that its damped quadratic "
                  "model of the KL equals δ: its exact KL (kl_full_step) over δ. The model holds where "
                  f"this is within [{MODEL_BAND[0]:g}, {MODEL_BAND[1]:g}].",
                  shown_taylor(model)),
            Table("line_search_worth",
                  f"The line search's worth: run-level collapse frequency of {WITH_SEARCH} (full step, "
                  f"then the line search on the exact KL) and {WITHOUT_SEARCH} (the same full step "
                  "taken as it is) at each δ both ran.",
                  shown_worth(worth)),
        ],
        figures=[
            Figure("taylor_model", draw_taylor(ctx.done_updates, MODEL_BAND),
                   "Exact over modelled KL of the full natural-gradient step, per δ: inside the band "
                   "the seed's second-order Taylor model holds; above it the full step moves the "
                   "policy further than δ promised."),
        ],
        findings=findings,
    )  # fmt: skip


def none_observed(k: int, n: int) -> str:
    """A rate with no odds ratio (every update had one outcome): the count and its exact
    (Clopper–Pearson) 95% interval."""
    ci = stats.binomtest(int(k), int(n)).proportion_ci(0.95, method="exact")
    what = "none observed" if k == 0 else "every one observed"
    return f"no odds ratio: {what} ({k}/{n}; rate [{ci.low:.2g}, {ci.high:.2g}], exact)"


def shown_odds(ratios: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "mechanism (against)": [f"{r.mechanism} ({r.reference})" for r in ratios.itertuples()],
            "updates at risk (runs)": [f"{r.updates} ({r.runs})" for r in ratios.itertuples()],
            "followed by a collapse": ratios["collapses"],
            "odds ratio at equal kl_mean [95% CI, clustered by run]": [
                none_observed(r.collapses, r.updates)
                if r.separated
                else interval(r.odds_ratio, r.ci_low, r.ci_high)
                for r in ratios.itertuples()
            ],  # fmt: skip
            "p": ratios["p_value"].map(lambda p: f"{p:.2g}" if np.isfinite(p) else "–"),
        }
    )


def shown_kl_control(control: pd.DataFrame) -> pd.DataFrame:
    rows = list(control.itertuples())
    return pd.DataFrame(
        {
            **rule_columns(control),
            "updates": control["updates"],
            "kl_mean median [5%–95%]": [f"{r.median:.2g} [{r.q05:.2g}–{r.q95:.2g}]" for r in rows],
            "nominal target": [f"{r.target:g}" if np.isfinite(r.target) else "–" for r in rows],
            "median / target": [
                f"{r.median_over_target:.2g}" if np.isfinite(r.median_over_target) else "–"
                for r in rows
            ],  # fmt: skip
            "95% / 5% (spread)": [f"{r.spread:.3g}" for r in rows],
            "kl_mean / kl_quadratic median": control["model_ratio_median"].map(
                lambda v: f"{v:.3g}" if np.isfinite(v) else "–"
            ),
        }
    )


def shown_taylor(model: pd.DataFrame) -> pd.DataFrame:
    rows = list(model.itertuples())
    return pd.DataFrame(
        {
            "update rule": model["variant"],
            "δ": model["step_size"].map(lambda v: f"{v:g}"),
            "updates": model["updates"],
            "kl_full_step / δ median [5%–95%]": [
                f"{r.median:.2g} [{r.q05:.2g}–{r.q95:.2g}]" for r in rows
            ],
            f"share within [{MODEL_BAND[0]:g}, {MODEL_BAND[1]:g}]": model["within"].map(
                lambda v: f"{v:.0%}"
            ),
            "line search shrank the step": model["backtracked"].map(
                lambda v: f"{v:.0%}" if np.isfinite(v) else "–"
            ),
        }
    )


def shown_worth(worth: pd.DataFrame) -> pd.DataFrame:
    rows = list(worth.itertuples())
    return pd.DataFrame(
        {
            "env": worth["env"],
            "δ": worth["step_size"].map(lambda v: f"{v:g}"),
            "collapsed with the line search": [
                f"{r.with_collapsed}/{r.with_runs} ({r.with_rule})" for r in rows
            ],
            "without it": [
                f"{r.without_collapsed}/{r.without_runs} ({r.without_rule})" for r in rows
            ],
            "difference [95% Newcombe CI]": [
                interval(r.difference, r.ci_low, r.ci_high, "+.2f") for r in rows
            ],
        }
    )


def draw_taylor(updates: pd.DataFrame, band: tuple[float, float]) -> plt.Figure:
    """Per δ, the exact KL of TRPO's and NPG's full step over δ (what its quadratic model
    promised), one box per rule; the shaded band is where the model is taken to hold."""
    logged = updates.dropna(subset=["kl_full_step"]).assign(
        ratio=lambda u: u["kl_full_step"] / u["step_size"],
        delta=lambda u: u["step_size"].map("{:g}".format),
    )
    fig, ax = plt.subplots(figsize=(8.5, 4.5))
    if len(logged):
        deltas = sorted(logged["step_size"].unique())
        variants = algos_in(logged, "variant")
        sns.boxplot(logged, x="delta", y="ratio", hue="variant", order=[f"{d:g}" for d in deltas],
                    hue_order=variants, palette={v: PALETTE.get(v) for v in variants}, ax=ax,
                    fliersize=1.5, log_scale=True)  # fmt: skip
        handles, labels = ax.get_legend_handles_labels()
        ax.legend(handles, [LABEL.get(v, v) for v in labels], fontsize=8, loc="upper left")
    ax.axhspan(*band, color="0.85", zorder=0)
    ax.axhline(1.0, color="0.4", lw=1, ls=":")
    ax.set_xlabel("δ (the quadratic model's KL of the full step, nats)")
    ax.set_ylabel("kl_full_step / δ (exact over modelled KL)")
    ax.set_title(f"Where the quadratic model of the KL holds (shaded: {band[0]:g}–{band[1]:g})")
    return fig


def odds_finding(odds: pd.DataFrame) -> Finding | None:
    fitted = odds[np.isfinite(odds["odds_ratio"].astype(float))]
    if fitted.empty:
        return None
    apart = fitted[(fitted["ci_low"] > 1) | (fitted["ci_high"] < 1)]
    cells = "; ".join(
        f"{r.mechanism} {interval(r.odds_ratio, r.ci_low, r.ci_high)}" for r in fitted.itertuples()
    )
    apart_levels = odds[odds["separated"].astype(bool)]
    if len(apart_levels):
        cells += "; no odds ratio for " + ", ".join(
            f"{r.mechanism} ({r.collapses}/{r.updates})" for r in apart_levels.itertuples()
        )
    verdict = (f"{len(apart)} of {len(fitted)} differ from {ALGOS[REFERENCE].title} beyond their interval"
               if len(apart) else f"none differs from {ALGOS[REFERENCE].title} beyond its interval")  # fmt: skip
    return Finding(f"At equal kl_mean, the odds of a collapse against {ALGOS[REFERENCE].title}: {cells} ({verdict}).",
                   "mechanism_odds")  # fmt: skip


def early_stop_finding(control: pd.DataFrame) -> Finding | None:
    stop = control[control["step_size_key"] == "target_kl"]
    if stop.empty:
        return None
    tasks = stop["env"].nunique() > 1
    cells = "; ".join(f"{r.variant} target_kl {r.step_size:g}{f' on {r.env}' if tasks else ''}: median "
                      f"{r.median:.2g} [{r.q05:.2g}–{r.q95:.2g}] = {r.median_over_target:.2g}× target"
                      for r in stop.itertuples())  # fmt: skip
    return Finding(f"The KL early stop holds kl_mean at {cells} (median [5–95 %]).", "kl_control")


def taylor_finding(model: pd.DataFrame) -> Finding | None:
    if model.empty:
        return None
    breaks = model_breaks_at(model)
    low, high = MODEL_BAND
    pooled = model.groupby("step_size")["median"].median()
    cells = ", ".join(f"δ {d:g}: {m:.2g}" for d, m in pooled.items())
    where = (f"most full steps leave [{low:g}, {high:g}] from δ {breaks:g} on" if np.isfinite(breaks)
             else f"most full steps stay within [{low:g}, {high:g}] at every δ tried")  # fmt: skip
    return Finding(f"The quadratic model of the KL: exact over modelled KL of the full step, median {cells}; "
                   f"{where}.", "taylor_model")  # fmt: skip


def worth_finding(worth: pd.DataFrame) -> Finding | None:
    if worth.empty:
        return None
    cells = "; ".join(f"δ {r.step_size:g}: {r.without_collapsed}/{r.without_runs} without against "
                      f"{r.with_collapsed}/{r.with_runs} with ({interval(r.difference, r.ci_low, r.ci_high, '+.2f')})"
                      for r in worth.itertuples())  # fmt: skip
    return Finding(f"The line search's worth ({WITHOUT_SEARCH} against {WITH_SEARCH}, runs collapsed): {cells}.",
                   "line_search_worth")  # fmt: skip


def kl_control(updates: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """Per env × update rule × step size: the spread of its updates' kl_mean (median and
    5–95 %), its nominal KL target where the step size is one, and the median ratio of the
    exact KL to its quadratic model (kl_model_ratio)."""
    rows = []
    labelled = updates.merge(runs[["run_id", "step_size_key"]], on="run_id")
    for key, part in labelled.groupby(RULE, sort=True):
        kl = part["kl_mean"].dropna()
        moved = kl[kl > 0]
        if moved.empty:
            continue
        rule = dict(zip(RULE, key, strict=True))
        target = rule["step_size"] if rule["step_size_key"] in KL_KEYS else np.nan
        q05, median, q95 = moved.quantile([0.05, 0.5, 0.95])
        model_ratio = part["kl_model_ratio"].dropna()  # none: a rule without the quadratic model
        rows.append(rule | {
            "updates": len(kl), "median": median, "q05": q05, "q95": q95, "target": target,
            "median_over_target": median / target if np.isfinite(target) else np.nan,
            "spread": q95 / q05,
            "model_ratio_median": model_ratio.median() if len(model_ratio) else np.nan,
        })  # fmt: skip
    return pd.DataFrame(rows)


def taylor_model(updates: pd.DataFrame) -> pd.DataFrame:
    """Per rule × δ of the updates that logged kl_full_step (TRPO, NPG): kl_full_step / δ,
    the exact KL of the full step over what its damped quadratic model promised, as its
    median and 5–95 %, the share within MODEL_BAND, and how often the line search shrank
    the step."""
    logged = updates.dropna(subset=["kl_full_step"])
    rows = []
    for (variant, delta), part in logged.groupby(["variant", "step_size"], sort=True):
        ratio = part["kl_full_step"] / delta
        low, high = MODEL_BAND
        steps = part["ls_steps"].dropna()
        rows.append({
            "variant": variant, "step_size": delta, "updates": len(part),
            "median": ratio.median(), "q05": ratio.quantile(0.05), "q95": ratio.quantile(0.95),
            "within": float(ratio.between(low, high).mean()),
            "backtracked": float((steps > 0).mean()) if len(steps) else np.nan,
        })  # fmt: skip
    return pd.DataFrame(rows, columns=TAYLOR_COLUMNS)


TAYLOR_COLUMNS = ["variant", "step_size", "updates", "median", "q05", "q95", "within",
                  "backtracked"]  # fmt: skip


def model_breaks_at(model: pd.DataFrame) -> float:
    """The smallest δ from which on (it and every larger δ tried) most full steps leave
    MODEL_BAND, pooling the rules; NaN when no δ tried does."""
    by_delta = model.groupby("step_size").apply(
        lambda part: np.average(part["within"], weights=part["updates"]), include_groups=False
    )
    broken = by_delta < 0.5
    for delta in by_delta.index:
        if broken.loc[delta:].all():
            return float(delta)
    return float("nan")


def line_search_worth(table: pd.DataFrame, with_search: str, without: str) -> pd.DataFrame:
    """Per env × δ that both rules ran: collapse frequency with the line search and without,
    and the difference (without − with) with its 95% Newcombe interval."""
    a = table[table["variant"] == with_search].set_index(["env", "step_size"])
    b = table[table["variant"] == without].set_index(["env", "step_size"])
    rows = []
    for key in a.index.intersection(b.index):
        x, y = a.loc[key], b.loc[key]
        if not (x["runs"] and y["runs"]):
            continue
        low, high = newcombe_interval(int(y["collapsed"]), int(y["runs"]), int(x["collapsed"]),
                                      int(x["runs"]))  # fmt: skip
        rows.append({
            "env": key[0], "step_size": key[1], "with_rule": with_search, "without_rule": without,
            "with_collapsed": int(x["collapsed"]), "with_runs": int(x["runs"]),
            "without_collapsed": int(y["collapsed"]), "without_runs": int(y["runs"]),
            "difference": y["collapsed"] / y["runs"] - x["collapsed"] / x["runs"],
            "ci_low": low, "ci_high": high,
        })  # fmt: skip
    return pd.DataFrame(rows, columns=WORTH_COLUMNS)


WORTH_COLUMNS = ["env", "step_size", "with_rule", "without_rule", "with_collapsed", "with_runs",
                 "without_collapsed", "without_runs", "difference", "ci_low", "ci_high"]  # fmt: skip
