"""Is KL the risk variable, or only a label of the step-size knob? The dose–response fitted
on the step-size runs predicts the held-out runs, whose update size another knob changed
(analysis.out_of_sample). Only for a study with held-out grids."""

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

TITLE = "Out of sample: knobs the fit never saw"


def build(ctx: Context) -> Part | None:
    held = ctx.held_out_at_risk
    if held.empty:
        return skipped(
            TITLE, "no held-out runs (a sweep preset's held_out grids) with updates at risk"
        )
    d, seed, updates_ahead = (
        ctx.cfg.dose_response,
        ctx.cfg.seed,
        ctx.cfg.update_collapse.updates_ahead,
    )
    scored = predictions(ctx.at_risk, held)
    if scored is None or scored.empty:
        return skipped(TITLE, "the dose–response could not be fitted on the step-size runs")
    shift = predictions(ctx.at_risk, held, "kl_shift")
    others = {}
    if shift is not None and len(shift) == len(scored):
        others["kl_shift alone (fitted on the step-size grids)"] = shift["p"].to_numpy()
    said = evaluation(ctx.at_risk, scored, ctx.held_out_frame, d.bootstrap, seed, others)
    table, calibrated, bins, settings = (
        said[k] for k in ("scores", "calibration", "bins", "settings")
    )
    return Part(
        TITLE,
        data={"held_out_scores": table, "held_out_calibration": pd.DataFrame([calibrated]),
              "held_out_bins": bins, "held_out_settings": settings},
        tables=[
            Table("held_out_settings",
                  f"Held-out runs (a knob other than the step size changed, the step size at its default): "
                  f"per task and setting, the collapses the dose–response fitted on the step-size runs "
                  f"predicts (the sum of its per-update P(a collapse within {updates_ahead} updates)) against those "
                  "observed, and the run-level collapses.",
                  shown_settings(settings)),
            Table("held_out_scores",
                  "Proper scores of the prediction on every held-out update at risk (lower is better), against "
                  "two baselines that see the held-out outcomes, each leaving the scored run out: the base "
                  "rate, and the rate at the same knob setting on the same task; each score minus the update-size fit's, with a 95% "
                  f"bootstrap interval over held-out runs ({d.bootstrap} resamples; positive: the fit is better).",
                  shown_scores(table)),
        ],
        figures=[
            Figure("held_out_calibration", draw_calibration(bins, settings),
                   "Calibration out of sample: the held-out updates' observed collapse rate against the rate "
                   "predicted from their kl_mean by the fit on the step-size runs; on the dotted diagonal the "
                   "prediction is right."),
        ],
        findings=[calibration_finding(calibrated, table)],
    )  # fmt: skip


def calibration_finding(c: dict, table: pd.DataFrame) -> Finding:
    rows = table.set_index("predictor")
    verdict = (
        "does not predict them: the observed rate is outside the prediction's interval"
        if c["miscalibrated"]
        else "predicts the collapses of runs made unstable by other knobs"
    )
    shift = "kl_shift alone (fitted on the step-size grids)"
    shift_text = ""
    if shift in rows.index:
        r = rows.loc[shift]
        word = ("worse" if r["log_loss_gap_low"] > 0 else "better" if r["log_loss_gap_high"] < 0
                else "no better or worse")  # fmt: skip
        shift_text = (f" Fitted on kl_shift instead of kl_mean, the prediction is {word} out of sample "
                      f"(log-loss minus the kl_mean fit's {interval(r['log_loss_gap'], r['log_loss_gap_low'], r['log_loss_gap_high'], '.4f')}).")  # fmt: skip
    slope = interval(c["slope"], c["slope_low"], c["slope_high"])
    return Finding(
        f"Fitted on the step-size runs alone (δ, ε, lr, target_kl), update size {verdict}: over {c['updates']} held-out updates of "
        f"{c['runs']} runs, predicted P(collapse) {c['predicted']:.3f}, observed {c['observed']:.3f} "
        f"(observed − predicted {interval(c['gap'], c['gap_low'], c['gap_high'], '.3f')}, refitting and "
        f"resampling runs; recalibration slope {slope}, 1 when the spread is right). It "
        + against_baselines(table) + "." + shift_text,
        "held_out_settings",
    )  # fmt: skip
