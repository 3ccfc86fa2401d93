"""Does an update's KL warn before a run-level collapse begins? ROC of kl_max and kl_mean
for 'a collapse begins within the next few updates', pooled and per algo
(analysis.warning), with a bootstrap over runs."""

from dataclasses import asdict

import pandas as pd

from analysis import display, plots
from analysis.intervals import HALF_WIDTH, runs_needed
from analysis.section import Context, Figure, Finding, Part, Table
from analysis.vocabulary import ALL
from analysis.warning import kl_warning, label_updates

TITLE = "Does KL warn before a collapse?"


def build(ctx: Context) -> Part:
    w = ctx.cfg.warning
    labelled = label_updates(ctx.done_updates, ctx.frame, w.horizon)
    results, curves = kl_warning(labelled, w.flag_share, w.min_positives, w.min_runs, w.bootstrap,
                                 ctx.cfg.seed)  # fmt: skip
    table = pd.DataFrame([asdict(r) for r in results])
    verdicts = {(r.algo, r.score): r.verdict for r in results}
    return Part(
        TITLE,
        data={"kl_warning": table},
        tables=[
            Table("kl_warning",
                  f"Does KL warn? Updates at most {w.horizon} updates before a run-level collapse "
                  "begins against all others before it.",
                  display.kl_warning(table)),
        ],
        figures=[
            Figure("kl_warning_roc", plots.kl_warning_roc(curves, verdicts, ctx.figure_stem("kl_warning_roc")),
                   f"Does KL warn? ROC of an update's kl_max / kl_mean for 'a collapse begins within "
                   f"{w.horizon} updates', pooled and per algo. The diagonal is no warning at all."),
        ],
        findings=[warning_finding(table, w.horizon)],
        wandb={"kl_warning": table},
    )  # fmt: skip


def warning_finding(warning_table: pd.DataFrame, horizon: int) -> Finding:
    """Does an update's KL warn of a run-level collapse? AUC, threshold, false alarms."""
    rows = warning_table[(warning_table["algo"] == ALL) & (warning_table["score"] == "kl_max")]
    if rows.empty or rows.iloc[0]["verdict"].startswith("too few"):
        r = rows.iloc[0] if len(rows) else None
        collapsed, runs = (int(r.collapsed_runs), int(r.runs)) if r is not None else (0, 0)
        positives = int(r.positives) if r is not None else 0
        return Finding(
            f"Whether KL warns before a collapse, the data cannot tell: {collapsed} collapsed runs "
            f"with {positives} updates in the {horizon} before a collapse began; at the observed "
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
        f"An update's kl_max warns of a run-level collapse beginning within {horizon} updates "
        f"with ROC AUC {r.auc:.2f} [{r.auc_ci_low:.2f}, {r.auc_ci_high:.2f}] (all algos, "
        f"{r.collapsed_runs} collapsed runs{detail}); flagging updates with kl_max ≥ "
        f"{r.threshold:.2g} catches {r.flag_share:.0%} of the pre-collapse updates at a "
        f"false-alarm rate of {r.false_alarm_rate:.2f}.",
        "kl_warning_roc",
    )
