"""`python -m analysis.report out_dir=runs sweep=default`: tables, figures and an index page.

Writes <report_dir>/<sweep>/ with collapse_frequency.{csv,md}, kl_warning.csv, runs.csv,
the figures (PNG + SVG) and index.html (self-contained: figures embedded, opens offline)
plus README.md, each figure with a one-line caption saying what to look at.
"""

import base64
import html
import time
from dataclasses import asdict
from pathlib import Path

import hydra
import numpy as np
import pandas as pd
from omegaconf import DictConfig

from analysis import plots
from analysis.collapse import CollapseRule, run_collapses
from analysis.load import load, wandb_path
from analysis.tables import collapse_table, per_run_returns, to_markdown
from analysis.warning import kl_warning, label_updates


def collapse_rules(cfg: DictConfig, envs: list[str]) -> dict[str, CollapseRule]:
    c = cfg.collapse
    return {
        env: CollapseRule(
            c.smooth_window,
            float(c.min_gain_per_env.get(env, c.min_gain)),
            c.drop_frac,
            c.recover_frac,
        )
        for env in envs
    }


def definition_text(cfg: DictConfig) -> str:
    c, u = cfg.collapse, cfg.update_collapse
    per_env = ", ".join(f"{k}: {v:g}" for k, v in c.min_gain_per_env.items())
    return (
        f"**Collapse (run level).** The return_mean, smoothed by a trailing mean over {c.smooth_window} "
        f"updates, first gains at least min_gain = {c.min_gain:g} ({per_env}) over the run's initial "
        f"return, then falls below its running best by more than drop_frac = {c.drop_frac:g} of the "
        f"gain. Recovered: it later regains {c.recover_frac:g} of the peak gain. A run that diverged "
        f"(non-finite loss, KL or parameters) counts as collapsed; runs that crashed otherwise or did "
        f"not finish are `excluded`. Beside it, *update-level collapses*: updates after which the raw "
        f"return_mean drops by more than {u.drop_frac:g} of the gain within {u.horizon} updates."
    )


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
    out = Path(cfg.report_dir) / cfg.sweep
    out.mkdir(parents=True, exist_ok=True)
    runs, updates = records.runs, records.updates
    rules = collapse_rules(cfg, sorted(runs["env"].unique()))
    collapses = run_collapses(updates, rules, cfg.update_collapse.horizon)
    returns = per_run_returns(updates, cfg.final_window, cfg.collapse.smooth_window)
    kl_stats = updates.groupby("run_id").agg(
        run_kl_mean=("kl_mean", "mean"), run_kl_max=("kl_max", "max")
    )
    per_run = collapses.merge(returns, on="run_id").merge(kl_stats, on="run_id", how="left")
    table = collapse_table(runs, per_run, updates, cfg.seed)
    definition = definition_text(cfg)
    table.to_csv(out / "collapse_frequency.csv", index=False)
    (out / "collapse_frequency.md").write_text(to_markdown(table, definition))
    runs.merge(per_run, on="run_id", how="left").to_csv(out / "runs.csv", index=False)

    w = cfg.warning
    labelled = label_updates(updates[updates["run_id"].isin(runs.loc[runs["status"] == "done", "run_id"])],
                             collapses, w.horizon)  # fmt: skip
    results, curves = kl_warning(
        labelled, w.flag_share, w.min_positives, w.min_runs, w.bootstrap, cfg.seed
    )
    warning_table = pd.DataFrame([asdict(r) for r in results])
    warning_table.to_csv(out / "kl_warning.csv", index=False)

    per_run_full = runs.merge(per_run, on="run_id", how="inner")
    deltas = sorted(runs.loc[runs["algo"] == "trpo", "step_size"].unique())
    figures = [
        ("collapse_frequency", plots.collapse_frequency(table, out / "collapse_frequency"),
         "Headline: share of runs that collapsed at each step size, per algo, with 95% Wilson intervals "
         "(labels: collapsed/runs). Look for where each curve leaves zero."),
        ("return_vs_step_size", plots.return_vs_step_size(table, out / "return_vs_step_size"),
         "Final and best return against step size: separates 'never learned' (low best) from "
         "'learned, then collapsed' (high best, low final)."),
        ("kl_vs_return", plots.kl_vs_return(updates, cfg.kl_vs_return_horizon, deltas, out / "kl_vs_return"),
         f"Every update: its kl_mean against the return change over the next {cfg.kl_vs_return_horizon} "
         "updates. Look at whether large-KL updates are followed by drops, and where TRPO's δ lines sit."),
        ("kl_vs_final_return", plots.kl_vs_final_return(per_run_full, out / "kl_vs_final_return"),
         "Every run: its mean and max update KL against its final return; marker size = step-size rank."),
        ("learning_curves", plots.learning_curves(updates, out / "learning_curves"),
         "Learning curves per algo and step size: mean over seeds with a 95% CI band."),
        ("kl_curves", plots.learning_curves(updates, out / "kl_curves", metric="kl_mean"),
         "Update size over training: each update's kl_mean per algo and step size (log axis), TRPO's "
         "bound δ dotted. Look at whether ε or lr hold the KL steady as training goes on."),
        ("kl_warning_roc", plots.kl_warning_roc(curves, {(r.algo, r.score): r.verdict for r in results},
                                                out / "kl_warning_roc"),
         f"Does KL warn? ROC of an update's kl_max / kl_mean for 'a collapse begins within {w.horizon} "
         "updates'. The diagonal is no warning at all."),
    ]  # fmt: skip
    summary = summary_lines(runs, records.skipped, table, results)
    write_index(out, cfg.sweep, definition, summary, table, warning_table, figures)
    write_readme(out, cfg.sweep, definition, summary, table, figures)
    if cfg.wandb.mode != "disabled":
        log_to_wandb(cfg, {"collapse_frequency": table, "kl_warning": warning_table}, figures)
    print(f"report: {out / 'index.html'} ({time.perf_counter() - started:.1f} s, {len(runs)} runs)")
    return out


def summary_lines(runs, skipped, table: pd.DataFrame, results) -> list[str]:
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
    for (env, algo), rows in table.groupby(["env", "algo"]):
        if rows["runs"].sum() == 0:
            lines.append(
                f"{env} {algo}: no finished runs yet ({int(rows['excluded'].sum())} excluded)."
            )
            continue
        worst = rows.loc[rows["collapse_freq"].idxmax()]
        if worst["collapsed"] == 0:
            lines.append(f"{env} {algo}: no collapse at any {rows['step_size_key'].iloc[0]} tried "
                         f"({int(rows['runs'].sum())} runs).")  # fmt: skip
        else:
            lines.append(
                f"{env} {algo}: most collapses at {worst.step_size_key}={worst.step_size:g}: "
                f"{worst.collapsed}/{worst.runs} = {worst.collapse_freq:.2f} "
                f"(95% CI {worst.collapse_ci_low:.2f}–{worst.collapse_ci_high:.2f})."
            )
    lines += [f"KL warning, {r.algo} {r.score}: {r.verdict}" for r in results]
    return lines


def log_to_wandb(cfg: DictConfig, tables: dict[str, pd.DataFrame], figures) -> None:
    """The same tables and figures, under the same names, in a W&B run of the sweep's group."""
    import wandb

    run = wandb.init(mode=cfg.wandb.mode, project=cfg.wandb.project, entity=cfg.wandb.entity,
                     group=cfg.sweep, job_type="report", name=f"report-{cfg.sweep}",
                     dir=str(Path(cfg.report_dir) / cfg.sweep))  # fmt: skip
    run.log({name: wandb.Table(dataframe=table) for name, table in tables.items()})
    run.log({name: wandb.Image(str(paths[0]), caption=caption) for name, paths, caption in figures})
    run.finish()


def embed(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


def write_index(out, sweep, definition, summary, table, warning_table, figures) -> None:
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>Report: {html.escape(sweep)}</title>",
        "<style>body{font-family:sans-serif;max-width:1200px;margin:auto;padding:1em}"
        "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px}"
        "img{max-width:100%;border:1px solid #eee}figcaption{margin:.3em 0 1.5em}</style></head><body>",
        f"<h1>KL and policy collapse: sweep <code>{html.escape(sweep)}</code></h1>",
        "<h2>Summary</h2><ul>" + "".join(f"<li>{html.escape(x)}</li>" for x in summary) + "</ul>",
        f"<h2>Collapse frequency</h2><p>{html.escape(definition.replace('*', ''))}</p>",
        table.to_html(index=False, float_format=lambda v: f"{v:.3g}", na_rep="–"),
        "<p>Files: <a href='collapse_frequency.csv'>collapse_frequency.csv</a>, "
        "<a href='collapse_frequency.md'>collapse_frequency.md</a>, <a href='runs.csv'>runs.csv</a>, "
        "<a href='kl_warning.csv'>kl_warning.csv</a></p>",
        "<h2>Does KL warn before a collapse?</h2>",
        warning_table.to_html(index=False, float_format=lambda v: f"{v:.3g}", na_rep="–"),
        "<h2>Figures</h2>",
    ]
    for name, paths, caption in figures:
        png = paths[0]
        parts.append(
            f"<figure id='{name}'><a href='{png.name}'><img src='{embed(png)}' alt='{name}'></a>"
            f"<figcaption><b>{name}</b> (<a href='{png.name}'>PNG</a>, <a href='{paths[1].name}'>SVG</a>): "
            f"{html.escape(caption)}</figcaption></figure>"
        )
    parts.append("</body></html>")
    (out / "index.html").write_text("\n".join(parts))


def write_readme(out, sweep, definition, summary, table, figures) -> None:
    lines = [f"# Report: sweep `{sweep}`", "", "## Summary", ""] + [f"- {x}" for x in summary]
    lines += ["", "## Collapse frequency", "", to_markdown(table, definition), "## Figures", ""]
    for name, paths, caption in figures:
        lines += [f"### {name}", "", f"![{name}]({paths[0].name})", "", caption, ""]
    (out / "README.md").write_text("\n".join(lines))


CONF_DIR = str(Path(__file__).resolve().parent.parent / "conf" / "analysis")


@hydra.main(config_path=CONF_DIR, config_name="report", version_base="1.3")
def main(cfg: DictConfig) -> None:
    np.seterr(all="ignore")
    build_report(cfg)


if __name__ == "__main__":
    main()
