"""Is KL the risk variable, or only a label of the step-size knob? The per-update
dose–response fitted on the step-size grids alone predicts every update of the held-out
runs, whose update size a knob other than the step size changed; predicted against
observed:

- proper scores (Brier, log-loss) against two baselines, each computed leaving the scored
  run out: the base rate of the other held-out runs, and a model that knows only the knob,
  its value and the task (the collapse rate of the other runs at the same setting there);
- calibration in the large: observed − predicted collapse rate, its interval from
  resamples of the fitted runs (refitted) and the held-out runs together, since the fit
  is uncertain too; Cox's recalibration slope beside it (1: the prediction's spread is
  right);
- calibration bins (Wilson intervals) and the predicted and observed collapses of each
  held-out setting.

The out-of-sample section (held-out runs) and the transfer section (another study's fit)
score alike, and show and say it alike: the tables, the calibration figure and the
comparison with the baselines are here, for both.
"""

import warnings

import numpy as np
import pandas as pd
import seaborn as sns
import statsmodels.api as sm
from scipy.special import logit

from analysis.cells import frequency, interval
from analysis.dose_response import design, fit_logit, strata_levels, with_log_kl
from analysis.intervals import bootstrap_over_runs, percentile_interval, wilson_interval
from analysis.plot_style import plt
from analysis.vocabulary import ALL, PALETTE

EPS = 1e-6  # predictions are kept in [EPS, 1 − EPS] so a log-loss stays finite
KNOB_BASELINE = "knob, its value and the task (the other runs there)"
BASE_RATE = "base rate (the other held-out runs)"
OURS = "update size (fitted on the step-size grids)"


def predictions(fitted: pd.DataFrame, held_out: pd.DataFrame, column: str = "kl_mean"):
    """Each held-out update (those that moved the policy) with `p`, the probability of a
    collapse that the fit on `fitted` gives it; None when the fit fails. A held-out
    mechanism or task the fit never saw is evaluated at the reference level."""
    data = with_log_kl(fitted, column)
    levels = strata_levels(data)
    result = fit_logit(data, levels, clustered=False)
    if result is None:
        return None
    held = with_log_kl(held_out, column)
    p = np.clip(result.predict(design(held, levels)[result.params.index]), EPS, 1 - EPS)
    return held.assign(p=p.to_numpy())


def left_out_rates(scored: pd.DataFrame, by: list[str]) -> np.ndarray:
    """Each update's baseline prediction from the other runs only: their collapse rate,
    within the same `by` groups when given, (k + ½) / (n + 1) so it is never 0 or 1."""
    per_run = scored.groupby(["run_id", *by], sort=False)["collapse"].agg(["sum", "count"])
    totals = per_run.groupby(level=by).transform("sum") if by else per_run.sum()
    rate = (totals["sum"] - per_run["sum"] + 0.5) / (totals["count"] - per_run["count"] + 1.0)
    index = pd.MultiIndex.from_frame(scored[["run_id", *by]]) if by else scored["run_id"]
    return rate.reindex(index).to_numpy()


def brier(p: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean((p - y) ** 2))


def log_loss(p: np.ndarray, y: np.ndarray) -> float:
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def scores(
    scored: pd.DataFrame,
    resamples: int,
    seed: int,
    others: dict[str, np.ndarray] | None = None,
    name: str = OURS,
) -> pd.DataFrame:
    """Brier score and log-loss of the prediction `p` (called `name`) and of the baselines
    (and of any `others`, predictions of the same updates), each with its difference from
    `p` and a 95% bootstrap interval over held-out runs (positive: `p` scores better)."""
    y = scored["collapse"].to_numpy(dtype=float)
    predictors = {name: scored["p"].to_numpy()}
    predictors |= others or {}
    predictors |= {
        BASE_RATE: left_out_rates(scored, []),
        KNOB_BASELINE: left_out_rates(scored, ["env", "setting"]),
    }
    positions = list(scored.groupby("run_id", sort=False).indices.values())
    rng = np.random.default_rng(seed)
    ours = predictors[name]
    rows = []
    for name, p in predictors.items():
        row = {
            "predictor": name,
            "updates": len(y),
            "brier": brier(p, y),
            "log_loss": log_loss(p, y),
        }
        for score, f in (("brier", brier), ("log_loss", log_loss)):

            def gap(picked: np.ndarray, p=p, f=f) -> float:
                index = np.concatenate([positions[i] for i in picked])
                return f(p[index], y[index]) - f(ours[index], y[index])

            low, high = percentile_interval(
                bootstrap_over_runs(gap, len(positions), resamples, rng)
            )
            row |= {f"{score}_gap": row[score] - f(ours, y), f"{score}_gap_low": low,
                    f"{score}_gap_high": high}  # fmt: skip
        rows.append(row)
    return pd.DataFrame(rows)


def calibration(
    fitted: pd.DataFrame, scored: pd.DataFrame, resamples: int, seed: int, column: str = "kl_mean"
) -> dict:
    """Calibration in the large, with both sources of uncertainty: the predicted and the
    observed collapse rate of the held-out updates, and observed − predicted with a 95%
    interval from resamples that redraw the fitted runs (and refit) and the held-out runs
    together. `miscalibrated`: that interval excludes 0. Beside it, Cox's recalibration
    slope (observed logit on predicted logit; 1 when the prediction's spread is right),
    with its interval from the same resamples."""
    grid = with_log_kl(fitted, column)
    levels = strata_levels(grid)
    full = fit_logit(grid, levels, clustered=False)
    held = with_log_kl(scored, column)
    grid_runs = list(grid.groupby("run_id", sort=False).indices.values())
    held_runs = list(held.groupby("run_id", sort=False).indices.values())
    y = held["collapse"].to_numpy(dtype=float)
    rng = np.random.default_rng(seed)

    def statistics(result, rows: np.ndarray) -> tuple[float, float]:
        x = design(held.iloc[rows], levels)[result.params.index]
        p = np.clip(result.predict(x).to_numpy(), EPS, 1 - EPS)
        return float(y[rows].mean() - p.mean()), cox_slope(p, y[rows])

    gaps, slopes = [], []
    for _ in range(resamples):
        picked = rng.integers(0, len(grid_runs), len(grid_runs))
        refit = fit_logit(grid.iloc[np.concatenate([grid_runs[i] for i in picked])]
                          .reset_index(drop=True), levels, clustered=False,
                          start=full.params.to_numpy())  # fmt: skip
        if refit is None:
            continue
        rows = np.concatenate(
            [held_runs[i] for i in rng.integers(0, len(held_runs), len(held_runs))]
        )
        gap, slope = statistics(refit, rows)
        gaps.append(gap)
        slopes.append(slope)
    gap_low, gap_high = percentile_interval(np.array(gaps))
    slope_values = np.array(slopes)
    slope_low, slope_high = percentile_interval(slope_values[np.isfinite(slope_values)])
    return {
        "updates": len(y), "runs": len(held_runs), "predicted": float(scored["p"].mean()),
        "observed": float(y.mean()), "gap": float(y.mean() - scored["p"].mean()),
        "gap_low": gap_low, "gap_high": gap_high, "slope": cox_slope(scored["p"].to_numpy(), y),
        "slope_low": slope_low, "slope_high": slope_high,
        "miscalibrated": bool(gap_low > 0 or gap_high < 0),
    }  # fmt: skip


def cox_slope(p: np.ndarray, y: np.ndarray) -> float:
    """Cox's recalibration slope: the coefficient of logit p in Logit(y ~ 1 + logit p)."""
    if len(np.unique(y)) < 2:
        return float("nan")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = sm.Logit(y, sm.add_constant(logit(p))).fit(disp=0)
    except (np.linalg.LinAlgError, ValueError, ZeroDivisionError):
        return float("nan")
    return float(result.params[1])


def calibration_bins(scored: pd.DataFrame, bins: int = 8) -> pd.DataFrame:
    """Observed collapse frequency (95% Wilson interval) against the mean prediction, in
    `bins` equal-count bins of the prediction."""
    groups = pd.qcut(scored["p"], min(bins, scored["p"].nunique()), duplicates="drop")
    rows = []
    for _, part in scored.groupby(groups, observed=True, sort=True):
        k, n = int(part["collapse"].sum()), len(part)
        low, high = wilson_interval(k, n)
        rows.append({"predicted": float(part["p"].mean()), "updates": n, "collapses": k,
                     "observed": k / n, "ci_low": low, "ci_high": high,
                     "runs": part["run_id"].nunique()})  # fmt: skip
    return pd.DataFrame(rows, columns=CALIBRATION_COLUMNS)


CALIBRATION_COLUMNS = ["predicted", "updates", "collapses", "observed", "ci_low", "ci_high", "runs"]


def per_setting(scored: pd.DataFrame, run_collapsed: pd.Series, resamples: int, seed: int):
    """Per task and held-out setting: runs and how many collapsed (run level, Wilson
    interval), updates at risk, predicted and observed update-level collapses, the observed
    rate's 95% bootstrap interval over runs."""
    rng = np.random.default_rng(seed)
    rows = []
    for (env, setting), part in scored.groupby(["env", "setting"], sort=True):
        runs = part["run_id"].unique()
        collapsed = int(run_collapsed.reindex(runs).eq(True).sum())
        run_low, run_high = wilson_interval(collapsed, len(runs))
        positions = list(part.groupby("run_id", sort=False).indices.values())
        hits = part["collapse"].to_numpy(dtype=float)

        def rate(picked: np.ndarray, hits=hits, positions=positions) -> float:
            return float(hits[np.concatenate([positions[i] for i in picked])].mean())

        low, high = percentile_interval(bootstrap_over_runs(rate, len(positions), resamples, rng))
        rows.append({
            "env": env, "setting": setting, "runs": len(runs), "runs_collapsed": collapsed,
            "runs_ci_low": run_low, "runs_ci_high": run_high, "updates": len(part),
            "kl_median": float(part["kl_mean"].median()),
            "predicted_collapses": float(part["p"].sum()), "collapses": int(hits.sum()),
            "predicted_rate": float(part["p"].mean()), "observed_rate": float(hits.mean()),
            "observed_ci_low": low, "observed_ci_high": high,
        })  # fmt: skip
    return pd.DataFrame(rows)


def evaluation(
    fitted: pd.DataFrame,
    scored: pd.DataFrame,
    frame: pd.DataFrame,
    resamples: int,
    seed: int,
    others: dict[str, np.ndarray] | None = None,
    name: str = OURS,
) -> dict[str, pd.DataFrame | dict]:
    """All this module says of the predictions `scored` from the fit on `fitted`: `scores`,
    `calibration`, `bins` and per-`settings` counts, the run-level collapses from `frame`
    (the per-run frame of the scored runs)."""
    collapsed = frame.set_index("run_id")["collapsed"] if len(frame) else pd.Series(dtype=bool)
    return {
        "scores": scores(scored, resamples, seed, others, name),
        "calibration": calibration(fitted, scored, resamples, seed),
        "bins": calibration_bins(scored),
        "settings": per_setting(scored, collapsed, resamples, seed),
    }


def against_baselines(table: pd.DataFrame) -> str:
    """How the fit's Brier score compares with the base rate's and the knob model's."""
    rows = table.set_index("predictor")
    against = []
    for name, row in (
        ("the base rate", rows.loc[BASE_RATE]),
        ("a model of the knob, its value and the task", rows.loc[KNOB_BASELINE]),
    ):
        low, high = row["brier_gap_low"], row["brier_gap_high"]
        word = "beats" if low > 0 else "loses to" if high < 0 else "is level with"
        against.append(
            f"{word} {name} (Brier score minus the fit's {interval(row['brier_gap'], low, high, '.4f')})"
        )
    return " and ".join(against)


def shown_scores(table: pd.DataFrame) -> pd.DataFrame:
    """Each predictor's Brier score and log-loss on the held-out updates, and how much worse
    than the update-size fit it does (95% bootstrap over held-out runs)."""
    return pd.DataFrame(
        {
            "predictor": table["predictor"],
            "Brier score": table["brier"].map("{:.4f}".format),
            "minus the update-size fit's [95% CI] (> 0: the fit is better)": [
                interval(r.brier_gap, r.brier_gap_low, r.brier_gap_high, ".4f") for r in table.itertuples()
            ],
            "log-loss": table["log_loss"].map("{:.4f}".format),
            "minus the fit's [95% CI]": [
                interval(r.log_loss_gap, r.log_loss_gap_low, r.log_loss_gap_high, ".4f")
                for r in table.itertuples()
            ],
        }
    )  # fmt: skip


def shown_settings(table: pd.DataFrame) -> pd.DataFrame:
    """Per task and held-out setting: predicted against observed collapses."""
    return pd.DataFrame(
        {
            "task": table["env"],
            "held-out setting": table["setting"],
            "runs collapsed [95% Wilson CI]": [
                frequency(r.runs_collapsed, r.runs, r.runs_ci_low, r.runs_ci_high) for r in table.itertuples()
            ],
            "kl_mean median": table["kl_median"].map("{:.2g}".format),
            "updates at risk": table["updates"],
            "collapses: predicted / observed": [
                f"{r.predicted_collapses:.1f} / {r.collapses}" for r in table.itertuples()
            ],
            "P(collapse) per update: predicted / observed [95% CI over runs]": [
                f"{r.predicted_rate:.3f} / " + interval(r.observed_rate, r.observed_ci_low, r.observed_ci_high, ".3f")
                for r in table.itertuples()
            ],
        }
    )  # fmt: skip


def draw_calibration(
    bins: pd.DataFrame,
    settings: pd.DataFrame,
    fitted_on: str = "the step-size grids",
    scored: str = "held-out",
) -> plt.Figure:
    """Left: observed against predicted P(collapse) of the held-out updates in equal-count
    bins of the prediction (95% Wilson intervals) and the diagonal of a calibrated fit.
    Right: per task and held-out setting, the observed per-update rate (95% interval over
    runs) against the predicted one."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.6))
    for ax in (left, right):
        ax.axline((0, 0), slope=1, color="0.5", ls=":", lw=1)
        ax.set_xlabel(f"predicted P(collapse) per update (fitted on {fitted_on})")
    left.errorbar(bins["predicted"], bins["observed"], yerr=[bins["observed"] - bins["ci_low"],
                  bins["ci_high"] - bins["observed"]], marker="o", capsize=3, color=PALETTE[ALL], ls="")  # fmt: skip
    left.set_ylabel("observed share of updates followed by a collapse")
    left.set_title(f"{scored.capitalize()} updates, binned by prediction")
    markers = dict(zip(sorted(settings["env"].unique()), "osD^v", strict=False))
    colors = dict(zip(sorted(settings["setting"].unique()),
                      sns.color_palette("colorblind", settings["setting"].nunique()), strict=True))  # fmt: skip
    for r in settings.itertuples():
        right.errorbar([r.predicted_rate], [r.observed_rate],
                       yerr=[[r.observed_rate - r.observed_ci_low], [r.observed_ci_high - r.observed_rate]],
                       marker=markers[r.env], color=colors[r.setting], capsize=3, ls="")  # fmt: skip
    handles = [plt.Line2D([], [], color=c, marker="o", ls="", label=s) for s, c in colors.items()]
    handles += [
        plt.Line2D([], [], color="0.3", marker=m, ls="", label=e) for e, m in markers.items()
    ]
    right.legend(handles=handles, fontsize=7, loc="upper left")
    right.set_ylabel("observed per-update rate (95% CI over runs)")
    right.set_title(f"Per {scored} setting and task")
    top = max(float(np.nanmax([bins["ci_high"].max(), settings["observed_ci_high"].max(),
                               settings["predicted_rate"].max(), bins["predicted"].max()])), 0.05)  # fmt: skip
    for ax in (left, right):
        ax.set_xlim(0, 1.05 * top)
        ax.set_ylim(0, 1.05 * top)
    return fig
