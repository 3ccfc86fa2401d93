"""Every mechanism on the measured-KL scale: how tightly each setting holds the KL of its
updates against its nominal target, where the quadratic model of the KL (TRPO's and
NPG's full natural-gradient step) stops holding, and what TRPO's line search is worth
against NPG at the same δ."""

import numpy as np
import pandas as pd

from analysis.intervals import newcombe_interval

KL_KEYS = ("delta", "target_kl")  # step-size keys whose value is a KL in nats
MODEL_BAND = (0.5, 2.0)  # exact / quadratic KL within this band: the model holds
RULE = ["env", "variant", "algo", "step_size_key", "step_size"]


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
