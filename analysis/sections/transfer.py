"""Does the dose–response learnt on the suite's own runs hold for code it did not write?
The per-update model of P(collapse) on KL, fitted on a reference study of the suite's runs
(report setting `reference`), predicts this study's updates at risk: calibration in the
large, Cox's recalibration slope and proper scores against the base rate and the knob
baseline (analysis.out_of_sample). Only KL and training progress carry over: an update
rule the fit never saw has no level of its own, so the fit pools the rules, and it keeps
the task as a stratum only when it saw every task of this study."""

import pandas as pd

from analysis.cells import interval
from analysis.out_of_sample import (
    against_baselines,
    draw_calibration,
    evaluation,
    predictions,
    shown_scores,
    shown_settings,
)
from analysis.section import Context, Figure, Finding, Part, Table, skipped
from analysis.vocabulary import step_size_label
from records.load import load_records

TITLE = "Transfer: the suite's dose–response on these runs"
OURS = "update size (fitted on the reference study)"


def build(ctx: Context) -> Part | None:
    ref = ctx.cfg.reference
    if ref.out_dir is None:
        return None
    fitted = reference_at_risk(ctx)
    if fitted.empty:
        return skipped(
            TITLE, f"the reference study {ref.out_dir}/{ref.sweep} has no updates at risk"
        )
    d, seed = ctx.cfg.dose_response, ctx.cfg.seed
    fitted, target = comparable(fitted, ctx.at_risk, ctx.runs)
    scored = predictions(fitted, target)
    if scored is None or scored.empty:
        return skipped(TITLE, "the dose–response could not be fitted on the reference study, or "
                              "no update of this study moved the policy")  # fmt: skip
    scored = scored.assign(env=scored["task"])
    said = evaluation(fitted, scored, ctx.frame, d.bootstrap, seed, name=OURS)
    table, calibrated, bins, settings = (
        said[k] for k in ("scores", "calibration", "bins", "settings")
    )
    reference = (
        f"`{ref.sweep}` study ({fitted['run_id'].nunique()} runs, {len(fitted):,} updates at risk)"
    )
    return Part(
        TITLE,
        data={"transfer_scores": table, "transfer_calibration": pd.DataFrame([calibrated]),
              "transfer_bins": bins, "transfer_settings": settings},
        tables=[
            Table("transfer_settings",
                  f"Per task and setting of this study: the collapses the dose–response fitted on the reference "
                  f"{reference} predicts (the sum of its per-update P(a collapse within "
                  f"{ctx.cfg.update_collapse.updates_ahead} updates)) against those observed, and the run-level collapses.",
                  shown_settings(settings).rename(columns={"held-out setting": "setting"})),
            Table("transfer_scores",
                  "Proper scores of the prediction on every update of this study that moved the policy while it "
                  "had a gain to lose (lower is better), against two baselines that see this study's outcomes, "
                  "each leaving the scored run out: the base rate, and the rate at the same setting on the same "
                  f"task; each minus the fit's, with a 95% bootstrap interval over runs ({d.bootstrap} resamples; "
                  "positive: the fit is better).",
                  shown_scores(table)),
        ],
        figures=[
            Figure("transfer_calibration", draw_calibration(bins, settings, f"the {ref.sweep} study", "this study's"),
                   f"Calibration across code bases: this study's observed collapse rate against the rate the fit on "
                   f"the reference study {ref.sweep} predicts from kl_mean; on the dotted diagonal the prediction is right."),
        ],
        findings=[transfer_finding(calibrated, table, reference)],
    )  # fmt: skip


def reference_at_risk(ctx: Context) -> pd.DataFrame:
    """The updates at risk of the reference study (setting `reference`: a study of the
    suite's own runs, whose dose–response this section carries over), judged by this
    report's rules, its envs' min_gain from its own records where the table has none."""
    ref = ctx.cfg.reference
    records = load_records(ref.out_dir, ref.sweep)
    if not records.runs["status"].eq("done").any():
        return pd.DataFrame(columns=ctx.at_risk.columns)
    return Context(ctx.cfg, records).at_risk


def comparable(
    fitted: pd.DataFrame, target: pd.DataFrame, runs: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Both studies' updates with the strata the fit can carry over: update rules pooled (one
    level), tasks kept apart only when the reference has every task of this study (else
    pooled too, the task kept in `task`); each update of this study labelled with its
    run's setting (`runs`: run_id, variant, step_size_key, step_size)."""
    setting = {r.run_id: f"{r.variant} {step_size_label(r.variant, r.step_size_key, r.step_size)}"
               for r in runs.itertuples()}  # fmt: skip
    fitted = fitted.assign(variant="any")
    target = target.assign(variant="any", setting=target["run_id"].map(setting), task=target["env"])
    if not set(target["env"]) <= set(fitted["env"]):
        fitted, target = fitted.assign(env="any"), target.assign(env="any")
    return fitted, target


def transfer_finding(c: dict, table: pd.DataFrame, reference: str) -> Finding:
    verdict = (
        "does not carry over: the observed rate is outside the prediction's interval"
        if c["miscalibrated"]
        else "carries over: the observed rate is within the prediction's interval"
    )
    slope = interval(c["slope"], c["slope_low"], c["slope_high"])
    return Finding(
        f"Fitted on the suite's own {reference}, the dose–response {verdict}: over "
        f"{c['updates']} updates of {c['runs']} runs of this study, predicted P(collapse) "
        f"{c['predicted']:.3f}, observed {c['observed']:.3f} (observed − predicted "
        f"{interval(c['gap'], c['gap_low'], c['gap_high'], '.3f')}, refitting and resampling runs; "
        f"recalibration slope {slope}, 1 when the spread is right). It " + against_baselines(table) + ".",
        "transfer_settings",
    )  # fmt: skip
