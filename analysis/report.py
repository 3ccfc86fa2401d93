"""`python -m analysis.report out_dir=runs sweep=default`: tables, figures and an index page.

load the records → the study's data (analysis.section.Context) → each section of
analysis.sections.SECTIONS builds its Part, whose figures the renderer saves at once →
the renderers (analysis.render) write
<report_dir>/<sweep>/: index.html (self-contained: figures embedded, opens offline) and
README.md, both opening with the sections' Findings in section order; every table as CSV
(raw columns) and Markdown (readable ones); the figures as PNG + SVG, each with a caption
saying what to look at; runs.csv, the per-run frame; and the sweep's export for other
tools (analysis.export): updates.parquet, runs.parquet and their schema, export.md.
"""

import sys
import time
from pathlib import Path

import hydra
import numpy as np
import pandas as pd
from joblib import parallel_config
from omegaconf import DictConfig

from analysis import export, render, vocabulary
from analysis.section import Context, Part
from analysis.sections import SECTIONS
from analysis.settings import REPORT_KEYS, check_command_line, check_or_exit
from analysis.tables import study_collapse_table
from records.held_out import read_held_out
from records.load import load, wandb_path
from records.paths import CONF_DIR


def build_report(cfg: DictConfig) -> Path:
    started = time.perf_counter()
    records = load(cfg, cfg.sweep)
    if records.runs.empty:
        where = (
            Path(cfg.out_dir) / cfg.sweep
            if cfg.source == "records"
            else f"W&B project {wandb_path(cfg)}"
        )
        raise SystemExit(f"error: no runs of sweep {cfg.sweep} in {where}")
    vocabulary.admit([*records.runs["algo"], *records.runs["variant"]])
    out = Path(cfg.report_dir) / cfg.sweep
    out.mkdir(parents=True, exist_ok=True)
    try:
        held_out = read_held_out(cfg.out_dir, cfg.sweep)
    except ValueError as error:
        raise SystemExit(f"error: {error}") from None
    ctx = Context(cfg, records, held_out)
    runs = run_table(ctx)
    runs.to_csv(out / "runs.csv", index=False)
    export.write(out, runs, export.updates_table(records.runs, records.updates))
    parts: list[Part] = []
    for section in SECTIONS:
        part = section.build(ctx)
        if part is not None:
            render.save_figures(out, part)
            parts.append(part)
    summary = summary_lines(ctx.runs, records.skipped, study_collapse_table(ctx))
    render.write_files(out, parts)
    render.write_index(out, cfg.sweep, parts, summary)
    render.write_readme(out, cfg.sweep, parts, summary)
    if cfg.wandb.mode != "disabled":
        render.log_to_wandb(cfg, out, parts)
    print(
        f"report: {out / 'index.html'} ({time.perf_counter() - started:.1f} s, {len(ctx.runs)} runs)"
    )
    return out


def run_table(ctx: Context) -> pd.DataFrame:
    """One row per run with its per-run frame; a held-out run also names its knob."""
    runs = ctx.runs.merge(ctx.frame, on="run_id", how="left")
    if not ctx.held_out:
        return runs
    held = ctx.held_runs.merge(ctx.held_out_frame, on="run_id", how="left")
    return pd.concat([runs, held.assign(held_out=held["run_id"].map(ctx.held_out))],
                     ignore_index=True)  # fmt: skip


def summary_lines(runs, skipped, table: pd.DataFrame) -> list[str]:
    counts = runs["status"].value_counts().to_dict()
    lines = [
        f"{len(runs)} runs: "
        + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        + (f"; {len(skipped)} unreadable records skipped" if skipped else "")
    ]
    lines += [f"skipped {path}: {why}" for path, why in skipped]
    lines += [
        f"failed {r.run_id}: {r.reason}" for r in runs[runs["status"] == "failed"].itertuples()
    ]
    for (env, algo), rows in table.groupby(["env", "variant"], sort=False):
        if rows["runs"].sum() == 0:
            lines.append(
                f"{env} {algo}: no finished runs yet ({int(rows['excluded'].sum())} excluded)."
            )
            continue
        worst = rows.loc[rows["collapse_freq"].idxmax()]
        if len(rows) == 1:
            lines.append(f"{env} {algo}: {worst.collapsed}/{worst.runs} collapsed = "
                         f"{worst.collapse_freq:.2f} (95% CI {worst.collapse_ci_low:.2f}–"
                         f"{worst.collapse_ci_high:.2f}).")  # fmt: skip
        elif worst["collapsed"] == 0:
            lines.append(f"{env} {algo}: no collapse at any {rows['step_size_key'].iloc[0]} tried "
                         f"({int(rows['runs'].sum())} runs).")  # fmt: skip
        else:
            lines.append(
                f"{env} {algo}: most collapses at {worst.step_size_key}={worst.step_size:g}: "
                f"{worst.collapsed}/{worst.runs} = {worst.collapse_freq:.2f} "
                f"(95% CI {worst.collapse_ci_low:.2f}–{worst.collapse_ci_high:.2f})."
            )
    return lines


@hydra.main(config_path=str(CONF_DIR / "analysis"), config_name="report", version_base="1.3")
def main(cfg: DictConfig) -> None:
    check_or_exit(cfg, REPORT_KEYS)
    np.seterr(all="ignore")
    with parallel_config(n_jobs=cfg.jobs):
        build_report(cfg)


if __name__ == "__main__":
    check_command_line(sys.argv[1:], "report", REPORT_KEYS)
    main()
