"""The report's renderers: the sections' Parts laid out as a self-contained HTML page, as a
Markdown README, and as a W&B run. They know how to lay out, not what a section says."""

import base64
import html
from pathlib import Path

import pandas as pd
from omegaconf import DictConfig

from analysis import display
from analysis.section import Part

STYLE = (
    "body{font-family:sans-serif;max-width:1200px;margin:auto;padding:1em;line-height:1.4}"
    "table{border-collapse:collapse;font-size:13px;width:100%;table-layout:auto;margin:.5em 0 1.5em}"
    "td,th{border:1px solid #ccc;padding:3px 6px;vertical-align:top;overflow-wrap:break-word}"
    "th{background:#f4f4f4;text-align:left}img{max-width:100%;border:1px solid #eee}"
    "figcaption{margin:.3em 0 1.5em}.findings li{margin:.4em 0}"
)


def embed(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


def write_files(out: Path, parts: list[Part]) -> None:
    """Every part's raw frames as CSV and every table as Markdown (its caption, then the table)."""
    for part in parts:
        for name, frame in part.data.items():
            frame.to_csv(out / f"{name}.csv", index=False)
        for table in part.tables:
            (out / f"{table.name}.md").write_text(
                f"{table.caption}\n\n{display.markdown(table.shown)}\n"
            )


def write_index(out: Path, sweep: str, parts: list[Part], summary: list[str]) -> None:
    figure_names = {f.name for part in parts for f in part.figures}
    findings = [f for part in parts for f in part.findings if f.figure in figure_names]
    page = [
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Report: {html.escape(sweep)}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>KL and policy collapse: sweep <code>{html.escape(sweep)}</code></h1>",
        "<h2>Findings</h2><ol class='findings'>"
        + "".join(
            f"<li>{html.escape(f.text)} <a href='#{f.figure}'>(figure: {f.figure})</a></li>"
            for f in findings
        )
        + "</ol>",
        "<h2>Runs</h2><ul>" + "".join(f"<li>{html.escape(x)}</li>" for x in summary) + "</ul>",
    ]
    for part in parts:
        page.append(f"<h2>{html.escape(part.title)}</h2>")
        for table in part.tables:
            csv = table.csv or table.name
            page.append(f"<p>{html.escape(table.caption.replace('*', ''))} "
                        f"(<a href='{table.name}.md'>{table.name}.md</a>, <a href='{csv}.csv'>CSV</a>)</p>")  # fmt: skip
            page.append(display.html(table.shown))
        for figure in part.figures:
            png, svg = figure.paths
            page.append(
                f"<figure id='{figure.name}'><a href='{png.name}'><img src='{embed(png)}' "
                f"alt='{html.escape(figure.name)}: {html.escape(figure.caption)}'></a>"
                f"<figcaption><b>{figure.name}</b> (<a href='{png.name}'>PNG</a>, <a href='{svg.name}'>SVG</a>): "
                f"{html.escape(figure.caption)}</figcaption></figure>"
            )
    page.append(
        "<p>Files: <a href='runs.csv'>runs.csv</a> (one row per run) and the CSV of every table.</p>"
    )
    page.append("</body></html>")
    (out / "index.html").write_text("\n".join(page))


def write_readme(out: Path, sweep: str, parts: list[Part], summary: list[str]) -> None:
    findings = [f for part in parts for f in part.findings]
    lines = [f"# Report: sweep `{sweep}`", "", "## Findings", ""]
    lines += [f"{i}. {f.text} ([{f.figure}]({f.figure}.png))" for i, f in enumerate(findings, 1)]
    lines += ["", "## Runs", ""] + [f"- {x}" for x in summary]
    for part in parts:
        lines += ["", f"## {part.title}", ""]
        for table in part.tables:
            lines += [table.caption, "", display.markdown(table.shown), ""]
        for figure in part.figures:
            png = figure.paths[0].name
            lines += [f"### {figure.name}", "", f"![{figure.name}: {figure.caption}]({png})", "",
                      figure.caption, ""]  # fmt: skip
    (out / "README.md").write_text("\n".join(lines))


def log_to_wandb(cfg: DictConfig, parts: list[Part]) -> None:
    """The sections' W&B tables and every figure, under the same names, in a W&B run of the
    sweep's group."""
    import wandb

    tables: dict[str, pd.DataFrame] = {k: v for part in parts for k, v in part.wandb.items()}
    run = wandb.init(mode=cfg.wandb.mode, project=cfg.wandb.project, entity=cfg.wandb.entity,
                     group=cfg.sweep, job_type="report", name=f"report-{cfg.sweep}",
                     dir=str(Path(cfg.report_dir) / cfg.sweep))  # fmt: skip
    run.log({name: wandb.Table(dataframe=table) for name, table in tables.items()})
    run.log({f.name: wandb.Image(str(f.paths[0]), caption=f.caption)
             for part in parts for f in part.figures})  # fmt: skip
    run.finish()
