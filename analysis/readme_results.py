"""`python -m analysis.readme_results`: the result blocks of README and of the
documentation, generated from the committed results, so that no number is typed by hand.

A block sits between `<!-- results:<name> -->` and `<!-- /results:<name> -->`; each is
rebuilt from the files under results/ that BLOCKS names. README's blocks are rebuilt in
place (`--check` writes nothing and exits 1 when one differs from what the results say;
the test suite runs it); the documentation's are filled at each build (docs/gen_pages.py).
"""

import argparse
import json
import re
import sys
from pathlib import Path

import pandas as pd

from analysis.cells import interval
from analysis.history import HISTORY, headline_row
from records.paths import REPO_ROOT

README = REPO_ROOT / "README.md"
RESULTS = REPO_ROOT / "results"


def study_block(results: Path, name: str) -> str:
    """A study's committed report: where and how it ran, its answer and Findings
    (findings.json, the sections its provenance.json names), and, where it keeps a
    history (headlines.csv), how far its headline has moved between runs."""
    study = results / name
    if not (study / "findings.json").exists():
        return (f"_No committed {name}-study results yet: run `make sweep SWEEP={name}` and "
                "commit its report._")  # fmt: skip
    findings = json.loads((study / "findings.json").read_text())
    run = json.loads((study / "provenance.json").read_text())
    runs = pd.read_csv(study / "runs.csv")
    counts = runs["status"].value_counts().to_dict()
    wall = run.get(
        "wall",
        f"{run['wall_s'] / 60:.0f} min wall-clock including the install, the probe and the report",
    )
    lines = [
        f"`results/{name}/` ({run['command']} on {run.get('checkout', 'a fresh clone')} of {run['commit'][:7]}, "
        f"{run['date']}, {run['machine']}): {len(runs)} runs "
        f"({', '.join(f'{n} {s}' for s, n in sorted(counts.items()))}), {wall}; "
        f"versions {runs['versions'].iloc[0]}. Its answer, as the report writes it:",
        "",
        f"> {findings['answer']}",
        "",
    ]
    lines += [f"{i}. {f['text']}" for i, f in enumerate(findings["first_screen"], 1)]
    for title in run.get("sections", []):
        lines += ["", f"**{title}:**", ""] + [
            f"- {f['text']}" for f in findings["sections"].get(title, [])
        ]
    if (study / HISTORY).exists() and (study / "answer_bands.csv").exists():
        lines += [
            "",
            f"How far the headline has moved between runs of the {name} study (each row one "
            f"`make sweep`; earlier rows from `results/{name}/headlines.csv`, the last from this "
            "report's `collapse_vs_kl.csv`):",
            "",
            headline_history(study, run).to_markdown(index=False),
        ]
    return "\n".join(lines)


def headline_history(study: Path, run: dict) -> pd.DataFrame:
    """Earlier runs' headlines as they were recorded, then this report's, computed."""
    dose = pd.read_csv(study / "collapse_vs_kl.csv")
    pooled = dose[(dose["scope"] == "all") & (dose["dose"] == "kl_mean")].iloc[0]
    current = {
        "run": f"{run['date']}, {run['machine']}, {run['commit'][:7]}",
        "design": run["design"],
        "updates at risk (runs)": f"{int(pooled['updates'])} ({int(pooled['runs'])})",
        **headline_row(pd.read_csv(study / "answer_bands.csv"), pooled),
        "source": "this report",
    }
    return pd.concat(
        [pd.read_csv(study / HISTORY), pd.DataFrame([current])], ignore_index=True
    ).fillna("–")


def grad_clip_pair_block(results: Path) -> str:
    """The implementation ablation's decisive pair: 3 seeds (impl_ablation) against ten."""
    rows = []
    for study in ("impl_ablation", "grad_clip_pair"):
        path = results / study / "implementation_effects.csv"
        if not path.exists():
            continue
        effects = pd.read_csv(path)
        pair = effects[(effects["variant"] == "ppo_none") & (effects["impl"] == "modern − max_grad_norm")
                       & (effects["base"] == "modern")]  # fmt: skip
        for r in pair.itertuples():
            rows.append({
                "study": f"`results/{study}/`", "runs (base)": f"{r.runs} ({r.base_runs})",
                "final return, no grad clip (modern)": f"{r.final_return:,.0f} ({r.base_final_return:,.0f})",
                "difference [95% Welch CI]": interval(r.final_diff, r.final_diff_ci_low, r.final_diff_ci_high, "+,.0f"),
                "collapsed, no grad clip (modern)": f"{r.collapsed}/{r.runs} ({r.base_collapsed}/{r.base_runs})",
                "kl_mean median ratio": f"×{r.kl_ratio:.2g}",
            })  # fmt: skip
    if not rows:
        return "_No committed results of the decisive pair yet._"
    return pd.DataFrame(rows).to_markdown(index=False)


def probe_coverage_block(results: Path) -> str:
    """How often each interval the probe can use covers the control's true change of 0."""
    tables = [pd.read_csv(path) for path in sorted((results / "probe_coverage").glob("*.csv"))]
    if not tables:
        return "_No committed coverage tables yet._"
    table = pd.concat(tables, ignore_index=True)
    shown = pd.DataFrame({
        "task": table["task"], "M episodes per arm": table["episodes"], "interval": table["interval"],
        "covered 0 / repeats": [f"{r.covered}/{r.repeats}" for r in table.itertuples()],
        "coverage [95% Wilson CI]": [interval(r.coverage, r.coverage_ci_low, r.coverage_ci_high, ".3f")
                                     for r in table.itertuples()],
        "median width": table["median_width"].map(lambda v: f"{v:.3g}"),
    })  # fmt: skip
    return shown.to_markdown(index=False)


TRANSFER = "Transfer: the suite's dose–response on these runs"  # analysis.sections.transfer
SUMMARY_FINDINGS = (
    "With no collapse definition",  # the damage quantiles
    "Redrawing every setting's seeds",  # how often another study would say the same
    "A run of",  # what a practitioner can act on
    "Odds of a collapse", "The fitted risk crosses", "Per task",  # reports of the earlier statistics
)  # fmt: skip


def summary_block(results: Path) -> str:
    """README's few lines: each main study's answer, where it ran, and the Findings of its
    first screen that say how firm the answer is and what to do with it."""
    lines = []
    for name, what in (("default", "`make sweep`: Hopper-v5"),
                       ("tasks", "`SWEEP=tasks`: Hopper, HalfCheetah, Walker2d"),
                       ("sb3_ppo", "`make sb3-study`: Stable-Baselines3's PPO, code the suite did "
                                   "not write, Hopper and HalfCheetah")):  # fmt: skip
        study = results / name
        if not (study / "findings.json").exists():
            continue
        findings = json.loads((study / "findings.json").read_text())
        run = json.loads((study / "provenance.json").read_text())
        runs = pd.read_csv(study / "runs.csv")
        lines.append(f"- **{what}, {runs['seed'].nunique()} seeds** ({len(runs)} runs, "
                     f"`results/{name}/`, {run['date']}, commit {run['commit'][:7]}): "
                     f"{findings['answer']}")  # fmt: skip
        lines += [
            f"  - {f['text']}"
            for f in findings["first_screen"]
            if f["text"].startswith(SUMMARY_FINDINGS)
        ]
        lines += [f"  - {f['text']}" for f in findings["sections"].get(TRANSFER, [])]
    return "\n".join(lines) or "_No committed study results yet._"


BLOCKS = {"summary": summary_block,
          "default": lambda results: study_block(results, "default"),
          "tasks": lambda results: study_block(results, "tasks"),
          "sb3_ppo": lambda results: study_block(results, "sb3_ppo"),
          "grad_clip_pair": grad_clip_pair_block, "probe_coverage": probe_coverage_block}  # fmt: skip


def rebuilt(text: str, results: Path) -> str:
    """A page's text with every block it has regenerated."""
    for name, build in BLOCKS.items():
        pattern = re.compile(
            rf"(<!-- results:{name} -->\n)(?:.*?\n)?(<!-- /results:{name} -->)", re.S
        )
        text = pattern.sub(lambda m, b=build: m.group(1) + b(results) + "\n" + m.group(2), text)
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if README is not up to date")
    args = parser.parse_args(argv)
    text = README.read_text()
    new = rebuilt(text, RESULTS)
    if args.check:
        if new != text:
            print(
                "README.md's result blocks differ from results/: run python -m analysis.readme_results"
            )
            return 1
        return 0
    README.write_text(new)
    print(f"README.md: {len(BLOCKS)} result blocks rebuilt from {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
