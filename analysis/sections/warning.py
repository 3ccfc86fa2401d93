"""Does KL warn before a collapse? How well one update's KL predicts that a run-level
collapse begins within the next `updates_ahead` updates, pooled and per algo.

Each update before a run's collapse (or every update of a run that never collapsed) is
one example: positive when the collapse begins (the first update after the peak) at
most `updates_ahead` updates later. Updates after a collapse began are left out: they describe
the fall, not a warning of it. The score is the update's kl_max (or kl_mean); ROC AUC
= P(score of a positive > score of a negative), with a bootstrap interval over runs.
"""

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score, roc_curve

from analysis.intervals import HALF_WIDTH, bootstrap_over_runs, percentile_interval, runs_needed
from analysis.plot_style import plt
from analysis.section import Context, Figure, Finding, Part, Table
from analysis.vocabulary import ALL, ORDER, PALETTE, SCOPE_LABEL

TITLE = "Does KL warn before a collapse?"
SCORES = ("kl_max", "kl_mean")


def build(ctx: Context) -> Part:
    w = ctx.cfg.warning
    labelled = label_updates(ctx.done_updates, ctx.frame, w.updates_ahead)
    results, curves = kl_warning(labelled, w.flag_share, w.min_positives, w.min_runs, w.bootstrap,
                                 ctx.cfg.seed)  # fmt: skip
    table = pd.DataFrame([asdict(r) for r in results])
    verdicts = {(r.algo, r.score): r.verdict for r in results}
    return Part(
        TITLE,
        data={"kl_warning": table},
        tables=[
            Table("kl_warning",
                  f"Does KL warn? Updates at most {w.updates_ahead} updates before a run-level collapse "
                  "begins against all others before it.",
                  shown(table)),
        ],
        figures=[
            Figure("kl_warning_roc", draw(curves, verdicts),
                   f"Does KL warn? ROC of an update's kl_max / kl_mean for 'a collapse begins within "
                   f"{w.updates_ahead} updates', pooled and per algo. The diagonal is no warning at all."),
        ],
        findings=[warning_finding(table, w.updates_ahead)],
        wandb={"kl_warning": table},
    )  # fmt: skip


def shown(warning: pd.DataFrame) -> pd.DataFrame:
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


def draw(curves: dict, verdicts: dict) -> plt.Figure:
    order = [ALL, *ORDER]
    algos = sorted(
        {algo for algo, _ in verdicts}, key=lambda a: order.index(a) if a in order else 9
    )
    fig, axes = plt.subplots(
        1, max(len(algos), 1), figsize=(4.6 * max(len(algos), 1), 4.4), squeeze=False
    )
    for ax, algo in zip(axes[0], algos, strict=False):
        for score, ls in (("kl_max", "-"), ("kl_mean", "--")):
            if (algo, score) in curves:
                fpr, tpr = curves[(algo, score)]
                ax.plot(
                    fpr,
                    tpr,
                    ls=ls,
                    color=PALETTE.get(algo),
                    label=f"{score}: {verdicts[(algo, score)]}",
                )
        ax.plot([0, 1], [0, 1], color="grey", lw=0.8)
        ax.set_title(SCOPE_LABEL.get(algo, algo))
        ax.set_xlabel("false-alarm rate")
        ax.set_ylabel("share of pre-collapse updates flagged")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, loc="lower right")
        else:  # no curve to draw: say why in the panel instead of leaving it blank
            verdict = "\n".join(f"{score}: {verdicts[(algo, score)]}"
                                 for score in ("kl_max", "kl_mean") if (algo, score) in verdicts)  # fmt: skip
            ax.text(0.5, 0.5, verdict, ha="center", va="center", fontsize=8, wrap=True)
    return fig


def warning_finding(warning_table: pd.DataFrame, updates_ahead: int) -> Finding:
    """Does an update's KL warn of a run-level collapse? AUC, threshold, false alarms."""
    rows = warning_table[(warning_table["algo"] == ALL) & (warning_table["score"] == "kl_max")]
    if rows.empty or rows.iloc[0]["verdict"].startswith("too few"):
        r = rows.iloc[0] if len(rows) else None
        collapsed, runs = (int(r.collapsed_runs), int(r.runs)) if r is not None else (0, 0)
        positives = int(r.positives) if r is not None else 0
        return Finding(
            f"Whether KL warns before a collapse, the data cannot tell: {collapsed} collapsed runs "
            f"with {positives} updates in the {updates_ahead} before a collapse began; at the observed "
            f"rate of {collapsed} collapsed in {runs} runs, about {runs_needed(collapsed, runs)} "
            f"runs would pin the collapse rate to ±{HALF_WIDTH:g}.",
            "kl_warning_roc",
        )
    r = rows.iloc[0]
    per_algo = warning_table[(warning_table["algo"] != ALL) & (warning_table["score"] == "kl_max")]
    told = [
        f"{a.algo} {a.auc:.2f}"
        for a in per_algo.itertuples()
        if not a.verdict.startswith("too few")
    ]
    untold = [a.algo for a in per_algo.itertuples() if a.verdict.startswith("too few")]
    detail = "; per algo: " + ", ".join(told) if told else ""
    detail += f"; too few collapses to tell for {', '.join(untold)}" if untold else ""
    return Finding(
        f"An update's kl_max warns of a run-level collapse beginning within {updates_ahead} updates "
        f"with ROC AUC {r.auc:.2f} [{r.auc_ci_low:.2f}, {r.auc_ci_high:.2f}] (all algos, "
        f"{r.collapsed_runs} collapsed runs{detail}); flagging updates with kl_max ≥ "
        f"{r.threshold:.2g} catches {r.flag_share:.0%} of the pre-collapse updates at a "
        f"false-alarm rate of {r.false_alarm_rate:.2f}.",
        "kl_warning_roc",
    )


@dataclass
class WarningResult:
    algo: str  # or "all": every algo pooled
    score: str
    runs: int
    positives: int
    negatives: int
    collapsed_runs: int
    auc: float
    auc_ci_low: float
    auc_ci_high: float
    flag_share: float
    threshold: float  # KL at or above which `flag_share` of positives are flagged
    false_alarm_rate: float  # share of negatives at or above that threshold
    verdict: str


def label_updates(
    updates: pd.DataFrame, collapses: pd.DataFrame, updates_ahead: int
) -> pd.DataFrame:
    """Updates usable as examples, with `positive` set as in the module docstring."""
    merged = updates.merge(collapses[["run_id", "collapsed", "peak_step"]], on="run_id")
    onset_update = merged.groupby("run_id", group_keys=False).apply(
        _onset_update, include_groups=False
    )
    merged = merged.assign(onset=merged["run_id"].map(onset_update))
    before = merged["onset"].isna() | (merged["update"] < merged["onset"])
    merged = merged[before]
    positive = merged["onset"].notna() & (merged["onset"] - merged["update"] <= updates_ahead)
    return merged.assign(positive=positive)


def _onset_update(run: pd.DataFrame) -> float:
    """Update number of the first update after the peak; NaN when the run did not collapse."""
    if not run["collapsed"].iloc[0]:
        return np.nan
    after_peak = run.loc[run["step"] > run["peak_step"].iloc[0], "update"]
    return float(after_peak.min()) if len(after_peak) else np.nan


class RankedScores:
    """Scores sorted once, so that the AUC under each bootstrap resample of runs (a weight
    per run) needs no sort of its own: sklearn's `roc_auc_score(sample_weight=...)` gives
    the same value (a test holds them equal) but sorts for every resample."""

    def __init__(self, scores: np.ndarray, positive: np.ndarray, run_index: np.ndarray):
        order = np.argsort(scores, kind="mergesort")
        sorted_scores = scores[order]
        self.positive = positive[order].astype(bool)
        self.run_index = run_index[order]
        _, first, inverse = np.unique(sorted_scores, return_index=True, return_inverse=True)
        last = np.append(first[1:], len(sorted_scores))
        self.tie_start, self.tie_end = first[inverse], last[inverse]

    def auc(self, run_weights: np.ndarray) -> float:
        """Mann–Whitney AUC = P(positive score > negative score), ties counted half, each
        example weighted by its run's weight."""
        w = run_weights[self.run_index].astype(float)
        neg_w = np.where(self.positive, 0.0, w)
        pos_w = np.where(self.positive, w, 0.0)
        total_pos, total_neg = pos_w.sum(), neg_w.sum()
        if total_pos == 0 or total_neg == 0:
            return float("nan")
        cum_neg = np.concatenate([[0.0], np.cumsum(neg_w)])
        below = cum_neg[self.tie_start]
        tied = cum_neg[self.tie_end] - below
        return float((pos_w * (below + 0.5 * tied)).sum() / (total_pos * total_neg))


def kl_warning(
    labelled: pd.DataFrame,
    flag_share: float,
    min_positives: int,
    min_runs: int,
    resamples: int,
    seed: int,
) -> tuple[list[WarningResult], dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]]:
    """Per algo and pooled over algos ("all"), per score: AUC with CI, threshold for
    `flag_share`, false alarms; ROC curves."""
    rng = np.random.default_rng(seed)
    results, curves = [], {}
    for algo, data in [("all", labelled), *labelled.groupby("algo", sort=True)]:
        collapsed_runs = data.loc[data["positive"], "run_id"].nunique()
        for score in SCORES:
            d = data[np.isfinite(data[score])]
            s, y = d[score].to_numpy(), d["positive"].to_numpy()
            n_pos, n_neg = int(y.sum()), int((~y).sum())
            auc = low = high = threshold = false_alarms = np.nan
            if n_pos and n_neg:
                auc = float(roc_auc_score(y, s))
                fpr, tpr, _ = roc_curve(y, s)
                curves[(algo, score)] = (fpr, tpr)
                threshold = float(np.quantile(s[y], 1.0 - flag_share))
                false_alarms = float((s[~y] >= threshold).mean())
                low, high = bootstrap_auc(d, score, resamples, rng)
            enough = n_pos >= min_positives and collapsed_runs >= min_runs
            verdict = (
                f"AUC {auc:.2f} [{low:.2f}, {high:.2f}]"
                if enough
                else f"too few collapses to tell ({collapsed_runs} collapsed runs, {n_pos} warning-window updates)"
            )
            results.append(
                WarningResult(
                    algo,
                    score,
                    d["run_id"].nunique(),
                    n_pos,
                    n_neg,
                    collapsed_runs,
                    auc,
                    low,
                    high,
                    flag_share,
                    threshold,
                    false_alarms,
                    verdict,
                )
            )
    return results, curves


def bootstrap_auc(
    data: pd.DataFrame, score: str, resamples: int, rng: np.random.Generator
) -> tuple[float, float]:
    """95% percentile interval of the AUC, resampling whole runs (updates within a run are correlated)."""
    run_index, runs = pd.factorize(data["run_id"])
    ranked = RankedScores(data[score].to_numpy(), data["positive"].to_numpy(), run_index)

    def auc(picked: np.ndarray) -> float:
        return ranked.auc(np.bincount(picked, minlength=len(runs)))

    return percentile_interval(bootstrap_over_runs(auc, len(runs), resamples, rng))
