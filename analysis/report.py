"""`python -m analysis.report out_dir=runs sweep=default`: tables, figures and an index page.

Writes <report_dir>/<sweep>/: index.html (self-contained: figures embedded, opens offline)
and README.md, both opening with Findings computed from the data; every table as CSV (raw
columns) and Markdown (readable ones); the figures as PNG + SVG, each with a caption
saying what to look at.
"""

import base64
import html
import time
from dataclasses import asdict, replace
from pathlib import Path

import hydra
import numpy as np
import pandas as pd
from omegaconf import DictConfig

from analysis import display, plots
from analysis.aggregate import interval_estimates, score_matrix
from analysis.collapse import CollapseRule, run_collapses
from analysis.dose_response import (
    collapse_by_run_kl,
    kl_bins,
    logistic_dose_response,
    update_trials,
)
from analysis.findings import findings, implementation_finding, probe_findings
from analysis.implementation_effects import finished_runs, versus_base
from analysis.probe_effects import (
    control_band,
    direction_differences,
    first_majority,
    knob_table,
    ladder_table,
    load_probe,
    with_gain,
)
from analysis.probe_plots import (
    probe_direction_at_equal_kl,
    probe_return_vs_kl,
    probe_surrogate_vs_actual,
)
from analysis.settings import REPORT_KEYS, check_or_exit
from analysis.tables import GROUP, collapse_table, per_run_returns
from analysis.warning import kl_warning, label_updates
from records.load import load, wandb_path


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
        f"return (the untrained policy's: for a warm-started run, its starting policy's before "
        f"training), then falls below its running best by more than drop_frac = {c.drop_frac:g} of the "
        f"gain. Recovered: it later regains {c.recover_frac:g} of the peak gain. A run that diverged "
        f"(non-finite loss, KL or parameters) counts as collapsed; runs that crashed otherwise or did "
        f"not finish are `excluded`. **Collapse (update level).** An update is at risk when the mean "
        f"return over the last {u.horizon} updates up to it has gained at least min_gain and its own "
        f"batch has not already fallen by more than {u.drop_frac:g} of that gain; it collapses when "
        f"the mean return over the next {u.horizon} updates falls by more than {u.drop_frac:g} of the "
        f"gain. A warm-started run's starting returns count as the updates before its first."
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
    starts = runs.set_index("run_id")[["baseline_return", "history_returns"]]
    collapses = run_collapses(updates, rules, starts)
    returns = per_run_returns(updates, cfg.final_window, cfg.collapse.smooth_window)
    kl_stats = updates.groupby("run_id").agg(
        run_kl_mean=("kl_mean", "mean"), run_kl_median=("kl_mean", "median"),
        run_kl_max=("kl_max", "max"), run_kl_mean_max=("kl_mean", "max"),
    )  # fmt: skip
    per_run = collapses.merge(returns, on="run_id").merge(kl_stats, on="run_id", how="left")
    table = collapse_table(runs, per_run, updates, cfg.seed)
    definition = definition_text(cfg)
    table.to_csv(out / "collapse_frequency.csv", index=False)
    runs.merge(per_run, on="run_id", how="left").to_csv(out / "runs.csv", index=False)

    done = runs[runs["status"] == "done"]
    d = cfg.dose_response
    update_rules = {
        env: replace(rule, drop_frac=cfg.update_collapse.drop_frac) for env, rule in rules.items()
    }
    trials = update_trials(updates, done, update_rules, cfg.update_collapse.horizon)
    at_risk = trials[trials["at_risk"].astype(bool)]
    bins = kl_bins(at_risk, "kl_mean", d.bins_per_decade, d.min_updates)
    dose = logistic_dose_response(at_risk, d.level, d.progress, d.bootstrap, cfg.seed)
    dose_kl_max = logistic_dose_response(at_risk, d.level, d.progress, 0, cfg.seed, "kl_max")
    bins.to_csv(out / "collapse_vs_kl_bins.csv", index=False)
    pd.concat([dose.assign(dose="kl_mean"), dose_kl_max.assign(dose="kl_max")]).to_csv(
        out / "collapse_vs_kl.csv", index=False
    )
    per_run_full = runs.merge(per_run, on="run_id", how="inner")
    finished = per_run_full[per_run_full["status"].eq("done") | per_run_full["diverged"]]
    by_run = collapse_by_run_kl(
        finished.assign(collapsed=finished["collapsed"] | finished["diverged"],
                        run_kl_max=finished["run_kl_mean_max"]), d.run_quantiles,
    )  # fmt: skip
    by_run.to_csv(out / "collapse_by_run_kl.csv", index=False)

    w = cfg.warning
    done_updates = updates[updates["run_id"].isin(done["run_id"])]
    labelled = label_updates(done_updates, collapses, w.horizon)
    results, curves = kl_warning(
        labelled, w.flag_share, w.min_positives, w.min_runs, w.bootstrap, cfg.seed
    )
    warning_table = pd.DataFrame([asdict(r) for r in results])
    warning_table.to_csv(out / "kl_warning.csv", index=False)
    returns_table = aggregate_returns(done.merge(returns, on="run_id"), cfg.seed)
    returns_table.to_csv(out / "returns.csv", index=False)

    level = f"{d.level:.0%}"
    tables = {
        "collapse_vs_kl": (
            f"Per update: logistic regression of 'a collapse follows within {cfg.update_collapse.horizon} "
            f"updates' on log10 kl_mean, with algo and training progress as covariates (statsmodels; "
            f"standard errors clustered by run); 'all' pools the algos. Level = {level}, for an update "
            f"{d.progress:.0%} of the way through its run; its interval is a percentile bootstrap over "
            f"runs ({d.bootstrap} resamples).",
            display.dose_response(dose).rename(columns=lambda c: c.replace("level", level)),
        ),
        "collapse_vs_kl_max": (
            "The same regression on log10 kl_max (the largest per-state KL of the update) instead of "
            "kl_mean (no bootstrap for its crossing).",
            display.dose_response(dose_kl_max).rename(
                columns=lambda c: c.replace("kl_mean", "kl_max").replace("level", level)
            ),
        ),
        "collapse_vs_kl_bins": (
            f"Per update: P(collapse) in half-decade bins of kl_mean (bins with ≥ {d.min_updates} "
            "updates at risk), 95% Wilson intervals.",
            display.kl_bins(bins),
        ),
        "collapse_by_run_kl": (
            "Per run: run-level collapse frequency in quantile bins of each run's measured update size "
            "(all algos pooled; a diverged run counts as collapsed), 95% Wilson intervals.",
            display.run_kl(by_run),
        ),
        "collapse_frequency": (
            "Per run, by nominal step size: " + definition,
            display.collapse_frequency(table),
        ),
        "kl_warning": (
            f"Does KL warn? Updates at most {w.horizon} updates before a run-level collapse begins "
            "against all others before it.",
            display.kl_warning(warning_table),
        ),
        "returns": (
            f"Final return (mean return_mean of the last {cfg.final_window} updates) per update rule and "
            "step size: interquartile mean and mean over runs with 95% stratified-bootstrap intervals "
            "(rliable).",
            display.returns(returns_table),
        ),
    }
    probe_tables, probe_figures, probe_found = probe_section(cfg, runs, out)
    tables |= probe_tables
    impl_table = impl_figures = None
    if runs.groupby(GROUP)["impl"].nunique().max() > 1:  # one rule under several settings
        impl_table = collapse_table(runs, per_run, updates, cfg.seed, [*GROUP, "impl"])
        impl_runs = finished_runs(runs, per_run)
        effects = versus_base(impl_runs)
        impl_table.to_csv(out / "implementation.csv", index=False)
        effects.to_csv(out / "implementation_effects.csv", index=False)
        tables["implementation"] = (
            "What prevents collapse: the clip, or the code-level optimisations around it? Per "
            "update rule and implementation setting (conf/impl: modern, paper, or modern with "
            "the switches named turned off): " + definition,
            display.implementation(impl_table),
        )
        tables["implementation_effects"] = (
            "Each setting against its base (paper and modern − X against modern, paper − X against "
            "paper) for the same update rule: difference of mean final return "
            "(Welch's t interval), of collapse frequency (Newcombe's interval), the ratio of median "
            "update size, and runs whose final return ended below their initial return.",
            display.versus_base(effects),
        )
        impl_figures = [("implementation", plots.implementation(impl_runs, out / "implementation"),
                         "What prevents collapse? Per update rule run under several implementation "
                         "settings: each run's final return and its median kl_mean; hollow = ended "
                         "below its initial return. Look for the setting that moves both.")]  # fmt: skip
    for name, (caption, frame) in tables.items():
        (out / f"{name}.md").write_text(f"{caption}\n\n{display.markdown(frame)}\n")

    deltas = sorted(runs.loc[runs["variant"] == "trpo", "step_size"].unique())
    figures = [
        ("collapse_vs_kl", plots.collapse_vs_kl(bins, {"trpo": deltas}, d.min_updates, out / "collapse_vs_kl"),
         f"The answer per update: P(a collapse follows within {cfg.update_collapse.horizon} updates) for "
         f"half-decade bins of the update's kl_mean, per algo (dashed) and pooled (solid), 95% Wilson "
         f"intervals. Only updates made while the policy still had a gain to lose count; bins with fewer "
         f"than {d.min_updates} such updates are not drawn. Dotted: TRPO's δ values."),
        ("collapse_frequency", plots.collapse_frequency(table, out / "collapse_frequency"),
         "Share of runs that collapsed at each step size, per update rule, with 95% Wilson intervals "
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
         "Learning curves per update rule and step size: mean over seeds with a 95% CI band."),
        ("kl_curves", plots.learning_curves(updates, out / "kl_curves", metric="kl_mean"),
         "Update size over training: each update's kl_mean per update rule and step size (log axis), "
         "TRPO's bound δ dotted. Look at whether ε or lr hold the KL steady as training goes on."),
        ("kl_warning_roc", plots.kl_warning_roc(curves, {(r.algo, r.score): r.verdict for r in results},
                                                out / "kl_warning_roc"),
         f"Does KL warn? ROC of an update's kl_max / kl_mean for 'a collapse begins within {w.horizon} "
         "updates', pooled and per algo. The diagonal is no warning at all."),
    ]  # fmt: skip
    found = findings(table, dose, warning_table, done_updates,
                     d.level, cfg.update_collapse.horizon, w.horizon)  # fmt: skip
    figures[1:1] = probe_figures
    found[3:3] = probe_found  # after the per-update answer (step size, odds ratio, crossing)
    if impl_table is not None:
        figures[1:1] = impl_figures
        if impl_found := implementation_finding(impl_table, effects):
            found.insert(1, impl_found)
    summary = summary_lines(runs, records.skipped, table)
    write_index(out, cfg.sweep, found, summary, tables, figures)
    write_readme(out, cfg.sweep, found, summary, tables, figures)
    if cfg.wandb.mode != "disabled":
        log_to_wandb(cfg, {"collapse_frequency": table, "collapse_vs_kl": dose,
                           "kl_warning": warning_table}, figures)  # fmt: skip
    print(f"report: {out / 'index.html'} ({time.perf_counter() - started:.1f} s, {len(runs)} runs)")
    return out


def probe_section(cfg: DictConfig, runs: pd.DataFrame, out: Path) -> tuple[dict, list, list]:
    """The one-update probe's tables, figures and findings, from the probe CSVs of the
    sweep's runs and of the policies they were warm-started from (experiments/probe.py);
    nothing when none was probed."""
    probed = set(runs["run_id"]) | set(runs["warm_start_run"].dropna())
    files = [f for f in sorted(Path(cfg.out_dir).glob("*/*/probe/probe.csv"))
             if f.parent.parent.name in probed]  # fmt: skip
    probe = load_probe(files)
    if probe.empty:
        return {}, [], []
    rules = collapse_rules(cfg, sorted(probe["env_id"].unique()))
    drop_frac = cfg.collapse.drop_frac
    frame = with_gain(probe, {env: rule.min_gain for env, rule in rules.items()}, drop_frac)
    ladder, knobs, differences = (
        ladder_table(frame),
        knob_table(frame),
        direction_differences(frame),
    )
    if ladder.empty:
        return {}, [], []
    ladder.to_csv(out / "probe_return_vs_kl.csv", index=False)
    knobs.to_csv(out / "probe_knobs.csv", index=False)
    differences.to_csv(out / "probe_direction_at_equal_kl.csv", index=False)
    control = {env: control_band(rows) for env, rows in frame.groupby("env_id")}
    gain = "a checkpoint counts when its policy had gained at least the collapse rule's min_gain"
    tables = {
        "probe_return_vs_kl": (
            f"One update along each direction, scaled to each target KL, from each probed checkpoint "
            f"({gain}): the return change as a fraction of the gain, mean over checkpoints [95% t CI]; "
            f"destroyed = lost more than {drop_frac:g} of the gain; damage significant = the "
            "checkpoint's paired 95% CI below 0; prediction outside = the surrogate's predicted change "
            "outside that CI (the prediction is made on the batch the direction was computed from, as "
            "the update rules do, so it is optimistic even where the approximation holds).",
            display.probe_effects(ladder, "target_kl"),
        ),
        "probe_knobs": (
            "One whole update at each of the study's own settings (PG's lr, TRPO's δ, PPO's ε), "
            "unscaled: the KL it took and what it did, as above.",
            display.probe_effects(knobs, "knob_value"),
        ),
        "probe_direction_at_equal_kl": (
            "At equal KL, each direction's change minus the vanilla gradient's, paired by checkpoint.",
            display.probe_directions(differences),
        ),
    }
    figures = [
        ("probe_return_vs_kl",
         probe_return_vs_kl(ladder, knobs, control, first_majority(ladder, "damaged"), drop_frac,
                            out / "probe_return_vs_kl"),
         "Does one update destroy the policy? Left: from each probed checkpoint, one update along "
         "each direction scaled to a target KL, and the true return change (fraction of the gain, "
         "mean over checkpoints, 95% t CI); grey band: the control (the unchanged policy on other "
         "episodes); dashed: the first KL at which the damage is significant in most checkpoints. "
         "Right: one whole update at each study setting (labels: its lr, δ or ε)."),
        ("probe_surrogate_vs_actual",
         probe_surrogate_vs_actual(ladder, first_majority(ladder, "parted"),
                                   out / "probe_surrogate_vs_actual"),
         "The trust region's premise, tested: the surrogate's predicted change (dashed) against "
         "the true change (solid, 95% t CI), as fractions of the gain, per direction. Look for the "
         "KL where they part (black dashed): beyond it the local approximation no longer holds."),
        ("probe_direction_at_equal_kl",
         probe_direction_at_equal_kl(ladder, differences, out / "probe_direction_at_equal_kl"),
         "At equal KL, does the direction matter? Left: the three directions side by side; right: "
         "natural and PPO's minus the vanilla gradient, paired by checkpoint (0 = no difference)."),
    ]  # fmt: skip
    return tables, figures, probe_findings(ladder, knobs, differences, drop_frac)


def aggregate_returns(per_run: pd.DataFrame, seed: int) -> pd.DataFrame:
    """rliable's IQM and mean of the final return per env × update rule × step size."""
    frames = []
    for env, part in per_run.groupby("env", sort=True):
        labels = [display.step_size_label(r.variant, r.step_size_key, r.step_size)
                  for r in part.itertuples()]  # fmt: skip
        part = part.assign(group=part["variant"] + ", " + pd.Series(labels, index=part.index),
                           score=part["final_return"])  # fmt: skip
        matrices = {g: score_matrix(rows) for g, rows in part.groupby("group", sort=False)}
        frames.append(interval_estimates(matrices, seed=seed).assign(env=env))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


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


STYLE = (
    "body{font-family:sans-serif;max-width:1200px;margin:auto;padding:1em;line-height:1.4}"
    "table{border-collapse:collapse;font-size:13px;width:100%;table-layout:auto;margin:.5em 0 1.5em}"
    "td,th{border:1px solid #ccc;padding:3px 6px;vertical-align:top;overflow-wrap:break-word}"
    "th{background:#f4f4f4;text-align:left}img{max-width:100%;border:1px solid #eee}"
    "figcaption{margin:.3em 0 1.5em}.findings li{margin:.4em 0}"
)

SECTIONS = [
    (
        "Update size and collapse, per update",
        ["collapse_vs_kl", "collapse_vs_kl_bins", "collapse_vs_kl_max"],
    ),
    (
        "One update of a controlled size (the probe)",
        ["probe_return_vs_kl", "probe_knobs", "probe_direction_at_equal_kl"],
    ),
    ("Update size and collapse, per run", ["collapse_by_run_kl", "collapse_frequency"]),
    (
        "What prevents collapse? Implementation settings",
        ["implementation", "implementation_effects"],
    ),
    ("Does KL warn before a collapse?", ["kl_warning"]),
    ("Returns", ["returns"]),
]


def present(sections, tables) -> list[tuple[str, list[str]]]:
    """The sections with the tables this report has (the probe's only when it was run)."""
    kept = [(title, [n for n in names if n in tables]) for title, names in sections]
    return [(title, names) for title, names in kept if names]


def write_index(out, sweep, found, summary, tables, figures) -> None:
    figure_names = {name for name, _, _ in figures}
    parts = [
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Report: {html.escape(sweep)}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>KL and policy collapse: sweep <code>{html.escape(sweep)}</code></h1>",
        "<h2>Findings</h2><ol class='findings'>"
        + "".join(
            f"<li>{html.escape(f.text)} <a href='#{f.figure}'>(figure: {f.figure})</a></li>"
            for f in found
            if f.figure in figure_names
        )
        + "</ol>",
        "<h2>Runs</h2><ul>" + "".join(f"<li>{html.escape(x)}</li>" for x in summary) + "</ul>",
    ]
    for title, names in present(SECTIONS, tables):
        parts.append(f"<h2>{html.escape(title)}</h2>")
        for name in names:
            caption, frame = tables[name]
            csv = "collapse_vs_kl" if name == "collapse_vs_kl_max" else name  # one CSV, both doses
            parts.append(f"<p>{html.escape(caption.replace('*', ''))} "
                         f"(<a href='{name}.md'>{name}.md</a>, <a href='{csv}.csv'>CSV</a>)</p>")  # fmt: skip
            parts.append(display.html(frame))
    parts.append("<h2>Figures</h2>")
    for name, paths, caption in figures:
        png = paths[0]
        parts.append(
            f"<figure id='{name}'><a href='{png.name}'><img src='{embed(png)}' "
            f"alt='{html.escape(name)}: {html.escape(caption)}'></a>"
            f"<figcaption><b>{name}</b> (<a href='{png.name}'>PNG</a>, <a href='{paths[1].name}'>SVG</a>): "
            f"{html.escape(caption)}</figcaption></figure>"
        )
    parts.append(
        "<p>Files: <a href='runs.csv'>runs.csv</a> (one row per run) and the CSV of every table.</p>"
    )
    parts.append("</body></html>")
    (out / "index.html").write_text("\n".join(parts))


def write_readme(out, sweep, found, summary, tables, figures) -> None:
    lines = [f"# Report: sweep `{sweep}`", "", "## Findings", ""]
    lines += [f"{i}. {f.text} ([{f.figure}]({f.figure}.png))" for i, f in enumerate(found, 1)]
    lines += ["", "## Runs", ""] + [f"- {x}" for x in summary]
    for title, names in present(SECTIONS, tables):
        lines += ["", f"## {title}", ""]
        for name in names:
            caption, frame = tables[name]
            lines += [caption, "", display.markdown(frame), ""]
    lines += ["## Figures", ""]
    for name, paths, caption in figures:
        lines += [f"### {name}", "", f"![{name}: {caption}]({paths[0].name})", "", caption, ""]
    (out / "README.md").write_text("\n".join(lines))


CONF_DIR = str(Path(__file__).resolve().parent.parent / "conf" / "analysis")


@hydra.main(config_path=CONF_DIR, config_name="report", version_base="1.3")
def main(cfg: DictConfig) -> None:
    check_or_exit(cfg, REPORT_KEYS)
    np.seterr(all="ignore")
    build_report(cfg)


if __name__ == "__main__":
    main()
