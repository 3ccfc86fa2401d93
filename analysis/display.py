"""The report's tables as a person reads them: one readable frame per table, used alike
for Markdown and HTML, with a frequency and its interval in one cell and column names
that say what they hold. The CSV files keep the raw columns for further analysis."""

import html as html_lib

import numpy as np
import pandas as pd
from scipy import stats

from analysis.intervals import wilson_interval
from analysis.mechanisms import MODEL_BAND
from analysis.vocabulary import CONTROLS, step_size_label


def interval(value: float, low: float, high: float, fmt: str = ".2f") -> str:
    if not np.isfinite(value):
        return "–"
    bounds = f" [{low:{fmt}}, {high:{fmt}}]" if np.isfinite(low) and np.isfinite(high) else ""
    return f"{value:{fmt}}{bounds}"


def pct(p: float) -> str:
    """A per-update rate as a percentage with two significant figures."""
    if not np.isfinite(p):
        return "–"
    return f"{100 * p:.0f}%" if 100 * p >= 10 else f"{100 * p:.2g}%"


def band_table(rates: pd.DataFrame) -> pd.DataFrame:
    """The answer's bands (analysis.bands.band_rates, with its replication shares where
    given) as the report shows them."""
    rows = list(rates.itertuples())
    table = pd.DataFrame({
        "kl band (nats)": rates["band"],
        "collapses / updates at risk = rate [95% CI]": [
            f"{r.collapses}/{r.updates} = {pct(r.p)} [{pct(r.ci_low)}, {pct(r.ci_high)}]" if r.updates else "none"
            for r in rows],
        "runs": rates["runs"],
        "× zero dose": [f"{r.ratio:.2g}" if np.isfinite(r.ratio) and np.isfinite(r.kl_low) else "–" for r in rows],
        "p (above zero dose)": [f"{r.p_value:.2g}" if np.isfinite(r.p_value) else "–" for r in rows],
        "enough": ["–" if not np.isfinite(r.kl_low) else ("yes" if r.enough else "no") for r in rows],
    })  # fmt: skip
    if "above_share" in rates:
        table["replicated: above / safe edge"] = [
            "–" if not np.isfinite(r.kl_low) else f"{r.above_share:.0%} / {r.safe_edge_share:.0%}"
            for r in rows
        ]
    return table


def frequency(k: int, n: int, low: float, high: float) -> str:
    return f"{k}/{n} = {k / n:.2f} [{low:.2f}, {high:.2f}]" if n else "no finished run"


def collapse_cell(row) -> str:
    """A collapse-table row's `k/n = p [low, high]`, as the report's tables write it."""
    return frequency(row.collapsed, row.runs, row.collapse_ci_low, row.collapse_ci_high)


def rule_columns(table: pd.DataFrame) -> dict:
    """The columns that name a row's env, update rule and step size."""
    return {
        "env": table["env"],
        "update rule": table["variant"],
        "step size": [
            step_size_label(r.variant, r.step_size_key, r.step_size) for r in table.itertuples()
        ],
    }


def zero_dose_cells(table: pd.DataFrame) -> list[str]:
    """Per row, the zero-dose control's collapses in the same env (the false-alarm rate)."""
    controls = table[table["variant"].isin(CONTROLS)].groupby("env")
    cells = {env: frequency(int(rows["collapsed"].sum()), int(rows["runs"].sum()),
                            *wilson_interval(int(rows["collapsed"].sum()), int(rows["runs"].sum())))
             for env, rows in controls}  # fmt: skip
    return [cells.get(env, "no zero-dose run") for env in table["env"]]


def collapse_frequency(table: pd.DataFrame) -> pd.DataFrame:
    """Per env × update rule × step size: run-level collapses with Wilson CI beside the
    zero-dose control's (the rule's false alarms), update size, final return."""
    return pd.DataFrame(
        {
            **rule_columns(table),
            "collapsed / runs = frequency [95% Wilson CI]": [
                frequency(r.collapsed, r.runs, r.collapse_ci_low, r.collapse_ci_high)
                for r in table.itertuples()
            ],
            "with no update at all (zero dose, same env)": zero_dose_cells(table),
            "diverged": table["diverged"],
            "recovered": table["recovered"],
            "excluded": table["excluded"],
            "kl_mean median (IQR)": [
                f"{r.kl_mean_median:.2g} ({r.kl_mean_q25:.2g}–{r.kl_mean_q75:.2g})"
                for r in table.itertuples()
            ],
            "final return [95% CI]": [
                interval(r.final_return, r.final_return_ci_low, r.final_return_ci_high, ".0f")
                for r in table.itertuples()
            ],
        }
    )


def dose_response(dose: pd.DataFrame) -> pd.DataFrame:
    """The logistic fit per scope: odds ratio per decade of KL and the crossing KL."""
    return pd.DataFrame(
        {
            "algo": dose["scope"],
            "updates at risk (runs)": [f"{r.updates} ({r.runs})" for r in dose.itertuples()],
            "followed by a collapse": dose["collapses"],
            "kl_mean observed": [
                f"{r.kl_observed_low:.2g}–{r.kl_observed_high:.2g}" for r in dose.itertuples()
            ],
            "odds ratio per 10× kl_mean [95% CI, clustered by run]": [
                interval(r.odds_ratio, r.odds_ratio_ci_low, r.odds_ratio_ci_high)
                for r in dose.itertuples()
            ],
            "p": dose["p_value"].map(lambda p: f"{p:.2g}" if np.isfinite(p) else "–"),
            "kl_mean where P(collapse) = level [95% bootstrap CI]": [
                interval(r.crossing_kl, r.crossing_ci_low, r.crossing_ci_high, ".2g")
                for r in dose.itertuples()
            ],
        }
    )


def kl_bins(bins: pd.DataFrame) -> pd.DataFrame:
    shown = bins[bins["shown"].astype(bool)]
    return pd.DataFrame(
        {
            "algo": shown["scope"],
            "kl_mean bin (nats)": [f"{r.kl_low:.2g}–{r.kl_high:.2g}" for r in shown.itertuples()],
            "collapses / updates = P [95% Wilson CI]": [
                frequency(r.collapses, r.updates, r.ci_low, r.ci_high) for r in shown.itertuples()
            ],
            "runs": shown["runs"],
        }
    )


def run_kl(by_run: pd.DataFrame) -> pd.DataFrame:
    names = {"run_kl_median": "median kl_mean of the run", "run_kl_max": "max kl_mean of the run"}
    return pd.DataFrame(
        {
            **({"task": by_run["env"]} if "env" in by_run else {}),
            "run's update size": by_run["measure"].map(names),
            "quantile bin (nats)": [f"{r.kl_low:.2g}–{r.kl_high:.2g}" for r in by_run.itertuples()],
            "collapsed / runs = frequency [95% Wilson CI]": [
                frequency(r.collapsed, r.runs, r.ci_low, r.ci_high) for r in by_run.itertuples()
            ],
            "runs per algo": by_run["algos"],
        }
    )


def kl_warning(warning: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "algo": warning["algo"],
            "score": warning["score"],
            "runs (collapsed)": [f"{r.runs} ({r.collapsed_runs})" for r in warning.itertuples()],
            "pre-collapse / other updates": [
                f"{r.positives} / {r.negatives}" for r in warning.itertuples()
            ],
            "verdict: ROC AUC [95% CI, bootstrap over runs]": warning["verdict"],
            "KL flagging share of pre-collapse updates": [
                f"≥ {r.threshold:.2g} flags {r.flag_share:.0%}" if np.isfinite(r.threshold) else "–"
                for r in warning.itertuples()
            ],
            "false-alarm rate": warning["false_alarm_rate"].map(
                lambda v: f"{v:.2f}" if np.isfinite(v) else "–"
            ),
        }
    )


def returns(aggregate: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "env": aggregate["env"],
            "update rule, step size": aggregate["group"],
            "runs": aggregate["runs"],
            "final return IQM [95% CI]": [
                interval(r.iqm, r.iqm_ci_low, r.iqm_ci_high, ".0f") for r in aggregate.itertuples()
            ],
            "final return mean [95% CI]": [
                interval(r.mean, r.mean_ci_low, r.mean_ci_high, ".0f")
                for r in aggregate.itertuples()
            ],
        }
    )


def probe_effects(table: pd.DataFrame, setting: str) -> pd.DataFrame:
    """The probe per arm setting (`setting`: target_kl for the ladder, knob_value for the
    study's settings) across checkpoints."""
    rows = list(table.itertuples())
    label = [f"{r.target_kl:g}" if setting == "target_kl" else r.knob_value for r in rows]
    return pd.DataFrame(
        {
            "env": table["env_id"],
            "arm": table["arm"],
            "target KL (nats)" if setting == "target_kl" else "setting": label,
            "kl_mean (median)": table["kl_mean"].map(lambda v: f"{v:.2g}"),
            "return change / gain [95% t CI]": [
                interval(r.change_frac, r.change_frac_ci_low, r.change_frac_ci_high, "+.2f")
                for r in rows
            ],
            "predicted / gain": table["predicted_frac"].map(lambda v: f"{v:+.2f}"),
            "destroyed [95% Wilson CI]": [
                frequency(r.destroyed, r.checkpoints, r.destroyed_ci_low, r.destroyed_ci_high)
                for r in rows
            ],
            "damage significant": [f"{r.damaged}/{r.checkpoints}" for r in rows],
            "prediction outside": [f"{r.parted}/{r.checkpoints}" for r in rows],
        }
    )


def probe_directions(differences: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "env": differences["env_id"],
            "target KL (nats)": differences["target_kl"].map(lambda v: f"{v:g}"),
            "direction − reference": differences["arm"] + " − " + differences["reference"],
            "checkpoints": differences["checkpoints"],
            "difference in change / gain [95% t CI, paired]": [
                interval(
                    r.difference_frac, r.difference_frac_ci_low, r.difference_frac_ci_high, "+.2f"
                )
                for r in differences.itertuples()
            ],  # fmt: skip
        }
    )


def implementation(table: pd.DataFrame) -> pd.DataFrame:
    """Per env × update rule × implementation setting: collapses, update sizes, final return."""
    rows = list(table.itertuples())
    return pd.DataFrame(
        {
            **rule_columns(table),
            "implementation": table["impl"],
            "collapsed / runs [95% Wilson CI]": [
                frequency(r.collapsed, r.runs, r.collapse_ci_low, r.collapse_ci_high) for r in rows
            ],
            "recovered": table["recovered"],
            "kl_mean median / 95th pct": [
                f"{r.kl_mean_median:.2g} / {r.kl_mean_q95:.2g}" for r in rows
            ],
            "ratio_max 95th pct": table["ratio_max_q95"].map(lambda v: f"{v:.3g}"),
            "final return [95% CI]": [
                interval(r.final_return, r.final_return_ci_low, r.final_return_ci_high, ".0f")
                for r in rows
            ],
        }
    )


def versus_base(effects: pd.DataFrame) -> pd.DataFrame:
    """Per rule × setting: its differences from its base setting, with intervals."""
    rows = list(effects.itertuples())
    return pd.DataFrame(
        {
            **rule_columns(effects),
            "implementation (against)": [f"{r.impl} ({r.base})" for r in rows],
            "runs (base)": [f"{r.runs} ({r.base_runs})" for r in rows],
            "final return (base)": [
                f"{r.final_return:,.0f} ({r.base_final_return:,.0f})" for r in rows
            ],
            "final return − base [95% Welch CI]": [
                interval(r.final_diff, r.final_diff_ci_low, r.final_diff_ci_high, "+,.0f")
                for r in rows
            ],
            "collapse frequency − base [95% Newcombe CI]": [
                interval(r.collapse_diff, r.collapse_diff_ci_low, r.collapse_diff_ci_high, "+.2f")
                for r in rows
            ],
            "kl_mean median (base)": [
                f"{r.kl_median:.2g} ({r.base_kl_median:.2g}) = ×{r.kl_ratio:.2g}" for r in rows
            ],
            "ended below start (base)": [
                f"{r.below_start}/{r.runs} ({r.base_below_start}/{r.base_runs})" for r in rows
            ],
        }
    )


def robustness(table: pd.DataFrame) -> pd.DataFrame:
    """The headline under each collapse definition tried, the report's own first."""
    rows = list(table.itertuples())
    return pd.DataFrame(
        {
            "update-level collapse: drop_frac, horizon": [
                f"{r.drop_frac:g}, {r.horizon}" + (" (the report's)" if i == 0 else "")
                for i, r in enumerate(rows)
            ],
            "updates at risk (runs)": [f"{r.updates} ({r.runs})" for r in rows],
            "followed by a collapse (runs with one)": [
                f"{r.collapses} ({r.collapsed_runs})" for r in rows
            ],
            "zero dose: collapses / updates [95% Wilson CI]": [
                frequency(
                    r.zero_dose_collapses,
                    r.zero_dose_updates,
                    r.zero_dose_ci_low,
                    r.zero_dose_ci_high,
                )
                for r in rows
            ],  # fmt: skip
            "odds ratio per 10× kl_mean [95% CI]": [
                interval(r.odds_ratio, r.odds_ratio_ci_low, r.odds_ratio_ci_high) for r in rows
            ],
            "kl_mean where P(collapse) = level [95% CI]": [
                interval(r.crossing_kl, r.crossing_ci_low, r.crossing_ci_high, ".2g") for r in rows
            ],
        }
    )


def none_observed(k: int, n: int) -> str:
    """A rate with no odds ratio (every update had one outcome): the count and its exact
    (Clopper–Pearson) 95% interval."""
    ci = stats.binomtest(int(k), int(n)).proportion_ci(0.95, method="exact")
    what = "none observed" if k == 0 else "every one observed"
    return f"no odds ratio: {what} ({k}/{n}; rate [{ci.low:.2g}, {ci.high:.2g}], exact)"


def mechanism_odds(ratios: pd.DataFrame) -> pd.DataFrame:
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


def kl_control(control: pd.DataFrame) -> pd.DataFrame:
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


def taylor(model: pd.DataFrame) -> pd.DataFrame:
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


def line_search_worth(worth: pd.DataFrame) -> pd.DataFrame:
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


def per_task(fits: pd.DataFrame, controls: pd.DataFrame) -> pd.DataFrame:
    """Per task (and pooled): the dose–response's odds ratio and crossing KL beside the
    zero-dose control's false alarms on that task."""
    zero = controls.set_index("env")

    def control_cell(env: str, kind: str) -> str:
        """The task's zero-dose counts; pooled over tasks on the pooled row."""
        rows = zero if env == "all" else zero.loc[[env]] if env in zero.index else zero.iloc[:0]
        k, n = int(rows[f"{kind}_k"].sum()), int(rows[f"{kind}_n"].sum())
        return frequency(k, n, *wilson_interval(k, n)) if n else "no zero-dose run"

    return pd.DataFrame(
        {
            "task": fits["env"],
            "updates at risk (runs)": [f"{r.updates} ({r.runs})" for r in fits.itertuples()],
            "followed by a collapse": fits["collapses"],
            "odds ratio per 10× kl_mean [95% CI, clustered by run]": [
                interval(r.odds_ratio, r.odds_ratio_ci_low, r.odds_ratio_ci_high)
                for r in fits.itertuples()
            ],
            "kl_mean where P(collapse) = level [95% bootstrap CI]": [
                interval(r.crossing_kl, r.crossing_ci_low, r.crossing_ci_high, ".2g")
                for r in fits.itertuples()
            ],
            "zero dose: runs collapsed": [control_cell(e, "runs") for e in fits["env"]],
            "zero dose: updates followed by a 'collapse'": [control_cell(e, "updates") for e in fits["env"]],
        }
    )  # fmt: skip


def p_text(p: float) -> str:
    return f"{p:.2g}" if np.isfinite(p) else "–"


def task_tests(tests: dict) -> pd.DataFrame:
    """The two transfer tests: does the slope differ between tasks, does the level."""
    return pd.DataFrame(
        {
            "question": ["does the slope (odds ratio per 10× kl_mean) differ between tasks?",
                         "does the level (the risk at a given kl_mean) differ, with one common slope?"],
            "Wald χ² (df)": [f"{tests['slope_chi2']:.3g} ({tests['df']})",
                             f"{tests['level_chi2']:.3g} ({tests['df']})"],
            "p": [p_text(tests["slope_p"]), p_text(tests["level_p"])],
        }
    )  # fmt: skip


def held_out_scores(table: pd.DataFrame) -> pd.DataFrame:
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


def held_out_settings(table: pd.DataFrame) -> pd.DataFrame:
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


def kl_parts(table: pd.DataFrame) -> pd.DataFrame:
    terms = {"log10_kl_shift": "per 10× kl_shift (at fixed kl_scale)",
             "log10_kl_scale": "per 10× kl_scale (at fixed kl_shift)",
             "log10_kl": "per 10× kl_mean (at fixed share)",
             "shift_share": "share spent on the shift, {share_from:.2f} → {share_to:.2f} (its 5th to 95th "
                            "percentile, at fixed kl_mean)"}  # fmt: skip
    return pd.DataFrame(
        {
            "model": table["model"],
            "odds ratio": [terms[r.term].format(share_from=r.share_from, share_to=r.share_to)
                           for r in table.itertuples()],  # fmt: skip
            "[95% CI, clustered by run]": [interval(r.odds_ratio, r.ci_low, r.ci_high, ".3g")
                                           for r in table.itertuples()],  # fmt: skip
            "p": table["p_value"].map(p_text),
            "updates at risk (runs)": [f"{r.updates} ({r.runs})" for r in table.itertuples()],
        }
    )  # fmt: skip


def shift_shares(table: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "update rule": table["variant"],
            "updates at risk": table["updates"],
            "kl_shift / kl_mean: median (5–95 %)": [
                f"{r.shift_share_median:.2f} ({r.shift_share_p05:.2f}–{r.shift_share_p95:.2f})"
                for r in table.itertuples()
            ],
        }
    )


def markdown(frame: pd.DataFrame) -> str:
    return frame.to_markdown(index=False)


def html(frame: pd.DataFrame) -> str:
    """An HTML table with the same columns; long cells wrap (the page's CSS) instead of
    widening the page."""
    head = "".join(f"<th>{html_lib.escape(str(c))}</th>" for c in frame.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html_lib.escape(str(v))}</td>" for v in row) + "</tr>"
        for row in frame.itertuples(index=False)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
