"""The report's renderers: the sections' figures saved as PNG and SVG, and their Parts laid
out as a self-contained HTML page, as a Markdown README, and as a W&B run. They know how to
lay out, not what a section says."""

import base64
import html
import json
from dataclasses import asdict
from pathlib import Path

import pandas as pd
from omegaconf import DictConfig

from analysis.plot_style import plt
from analysis.section import Figure, Finding, Part

STYLE = (
    "body{font-family:sans-serif;max-width:1200px;margin:auto;padding:1em;line-height:1.4}"
    "table{border-collapse:collapse;font-size:13px;width:100%;table-layout:auto;margin:.5em 0 1.5em}"
    "td,th{border:1px solid #ccc;padding:3px 6px;vertical-align:top;overflow-wrap:break-word}"
    "th{background:#f4f4f4;text-align:left}img{max-width:100%;border:1px solid #eee}"
    "figcaption{margin:.3em 0 1.5em}.findings li{margin:.4em 0}"
    ".answer{font-size:1.15em;margin:.4em 0}.headline{margin:.3em 0}.headline img{max-height:430px}"
    ".headline figcaption{margin:.2em 0;font-size:12px}.short li{margin:.15em 0}"
)


def save(fig: plt.Figure, stem: Path) -> list[Path]:
    """A figure as `<stem>.png` and `<stem>.svg`, then closed; returns the two paths."""
    paths = [stem.with_suffix(".png"), stem.with_suffix(".svg")]
    fig.savefig(paths[0], dpi=110, bbox_inches="tight")
    fig.savefig(paths[1], bbox_inches="tight")
    plt.close(fig)
    return paths


def figure_paths(out: Path, figure: Figure) -> list[Path]:
    """Where a section's figure is saved: `<out>/<name>.png` and `.svg`."""
    stem = out / figure.name
    return [stem.with_suffix(".png"), stem.with_suffix(".svg")]


def save_figures(out: Path, part: Part) -> None:
    """Every figure of a part, saved under its name."""
    for figure in part.figures:
        save(figure.drawn, out / figure.name)


def markdown(frame: pd.DataFrame) -> str:
    return frame.to_markdown(index=False)


def html_table(frame: pd.DataFrame) -> str:
    """An HTML table with the same columns; long cells wrap (the page's CSS) instead of
    widening the page."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
        for row in frame.itertuples(index=False)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def embed(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


def write_files(out: Path, parts: list[Part]) -> None:
    """Every part's raw frames as CSV, every table as Markdown (its caption, then the
    table), and findings.json: the answer and every Finding, by section, for scripts (the
    project README's results are generated from it)."""
    lead, rest = lead_and_rest(parts)
    findings = {
        "answer": lead.answer if lead is not None else None,
        "first_screen": [asdict(f) for f in lead.findings] if lead is not None else [],
        "sections": {part.title: [asdict(f) for f in part.findings] for part in rest},
        "skipped": {part.title: part.skipped for part in parts if part.skipped},
    }
    (out / "findings.json").write_text(json.dumps(findings, indent=1, ensure_ascii=False) + "\n")
    for part in parts:
        for name, frame in part.data.items():
            frame.to_csv(out / f"{name}.csv", index=False)
        for table in part.tables:
            (out / f"{table.name}.md").write_text(f"{table.caption}\n\n{markdown(table.shown)}\n")


def lead_and_rest(parts: list[Part]) -> tuple[Part | None, list[Part]]:
    """The part that answers (it opens the report) and the sections after it (those
    skipped left out: `left_out` lists them)."""
    lead = next((part for part in parts if part.answer is not None), None)
    return lead, [part for part in parts if part is not lead and not part.skipped]


def left_out(parts: list[Part]) -> list[str]:
    """One line per section this report leaves out, saying why."""
    return [f"{part.title}: {part.skipped}." for part in parts if part.skipped]


def anchors(parts: list[Part]) -> set[str]:
    return {x.name for part in parts for x in [*part.figures, *part.tables]}


def finding_items(findings: list[Finding], known: set[str], link: str) -> str:
    return "".join(
        f"<li>{html.escape(f.text)}"
        + (f" <a href='#{f.figure}'>({link}: {f.figure})</a>" if f.figure in known else "")
        + "</li>"
        for f in findings
    )


def figure_html(out: Path, figure: Figure, css_class: str = "") -> str:
    png, svg = figure_paths(out, figure)
    return (
        f"<figure id='{figure.name}' class='{css_class}'><a href='{png.name}'><img src='{embed(png)}' "
        f"alt='{html.escape(figure.name)}: {html.escape(figure.caption)}'></a>"
        f"<figcaption><b>{figure.name}</b> (<a href='{png.name}'>PNG</a>, <a href='{svg.name}'>SVG</a>): "
        f"{html.escape(figure.caption)}</figcaption></figure>"
    )


def write_index(out: Path, sweep: str, parts: list[Part], summary: list[str]) -> None:
    """The first screen holds the answer, the headline figure and the short Findings; each
    section below opens with its own (long) Findings."""
    lead, rest = lead_and_rest(parts)
    known = anchors(parts)
    page = [
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Report: {html.escape(sweep)}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>KL and policy collapse: sweep <code>{html.escape(sweep)}</code></h1>",
    ]
    if lead is not None:
        page.append(f"<p class='answer'>{html.escape(lead.answer)}</p>")
        page += [figure_html(out, figure, "headline") for figure in lead.figures]
        page.append(
            f"<ol class='findings short'>{finding_items(lead.findings, known, 'details')}</ol>"
        )
    page.append(
        "<h2>Runs</h2><ul>" + "".join(f"<li>{html.escape(x)}</li>" for x in summary) + "</ul>"
    )
    if left_out(parts):
        page.append("<p>Not in this report:</p><ul>"
                    + "".join(f"<li>{html.escape(x)}</li>" for x in left_out(parts)) + "</ul>")  # fmt: skip
    for part in rest:
        page.append(f"<h2>{html.escape(part.title)}</h2>")
        if part.findings:
            page.append(f"<ul class='findings'>{finding_items(part.findings, known, 'see')}</ul>")
        for table in part.tables:
            csv = table.csv or table.name
            page.append(f"<p id='{table.name}'>{html.escape(table.caption.replace('*', ''))} "
                        f"(<a href='{table.name}.md'>{table.name}.md</a>, <a href='{csv}.csv'>CSV</a>)</p>")  # fmt: skip
            page.append(html_table(table.shown))
        page += [figure_html(out, figure) for figure in part.figures]
    page.append(
        "<p>Files: <a href='runs.csv'>runs.csv</a> (one row per run), the CSV of every table, "
        "and the sweep's export: <a href='updates.parquet'>updates.parquet</a> (every update of "
        "every run), <a href='runs.parquet'>runs.parquet</a> and their schema, "
        "<a href='export.md'>export.md</a>.</p>"
    )
    page.append("</body></html>")
    (out / "index.html").write_text("\n".join(page))


def write_readme(out: Path, sweep: str, parts: list[Part], summary: list[str]) -> None:
    lead, rest = lead_and_rest(parts)
    lines = [f"# Report: sweep `{sweep}`", ""]
    if lead is not None:
        lines += [lead.answer, ""]
        lines += [f"![{f.name}: {f.caption}]({f.name}.png)" for f in lead.figures] + [""]
        lines += [
            f"{i}. {f.text} ([{f.figure}]({f.figure}.md))" for i, f in enumerate(lead.findings, 1)
        ]
    lines += ["", "## Runs", ""] + [f"- {x}" for x in summary]
    if left_out(parts):
        lines += ["", "Not in this report:", ""] + [f"- {x}" for x in left_out(parts)]
    for part in rest:
        lines += ["", f"## {part.title}", ""]
        lines += [f"- {f.text}" for f in part.findings] + ([""] if part.findings else [])
        for table in part.tables:
            lines += [table.caption, "", markdown(table.shown), ""]
        for figure in part.figures:
            png = f"{figure.name}.png"
            lines += [f"### {figure.name}", "", f"![{figure.name}: {figure.caption}]({png})", "",
                      figure.caption, ""]  # fmt: skip
    (out / "README.md").write_text("\n".join(lines))


def log_to_wandb(cfg: DictConfig, out: Path, parts: list[Part]) -> None:
    """The sections' W&B tables and every figure, under the same names, in a W&B run of the
    sweep's group."""
    import wandb

    tables: dict[str, pd.DataFrame] = {k: v for part in parts for k, v in part.wandb.items()}
    run = wandb.init(mode=cfg.wandb.mode, project=cfg.wandb.project, entity=cfg.wandb.entity,
                     group=cfg.sweep, job_type="report", name=f"report-{cfg.sweep}",
                     dir=str(out))  # fmt: skip
    run.log({name: wandb.Table(dataframe=table) for name, table in tables.items()})
    run.log({f.name: wandb.Image(str(figure_paths(out, f)[0]), caption=f.caption)
             for part in parts for f in part.figures})  # fmt: skip
    run.finish()
