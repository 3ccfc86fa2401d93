"""The pages of the documentation that are generated, not typed (mkdocs-gen-files runs this
at every build): the reference from the declarations in the code and conf/, each committed
study's results from results/, and every `<!-- results:<name> -->` block of a page filled
from results/ the way README's are (analysis.readme_results)."""

import json
import re
from pathlib import Path

import mkdocs_gen_files
from omegaconf import OmegaConf
from ruamel.yaml import YAML

from algos.metrics import METRICS
from algos.registry import ALGOS, STEP_SIZE_KEYS
from analysis import readme_results
from analysis.export import schema_markdown
from analysis.run_frame import FRAME_COLUMNS
from analysis.settings import REPORT_KEYS, REPRODUCTION_KEYS
from experiments.evaluate import EVALUATE_KEYS
from experiments.probe import PROBE_KEYS
from experiments.validate import compose_run_config, schema
from records import schema as record_schema
from records.paths import CONF_DIR, REPO_ROOT
from records.record import Record

RESULTS = REPO_ROOT / "results"
DOCS = Path(__file__).parent
CONTINUED = re.compile(
    r"^\s+#\s{2,}(.*)$"
)  # an indented "#   ..." line goes on with the comment above


def comment_of(token) -> str:
    """The comment beside a key, with its indented continuation lines."""
    if token is None:
        return ""
    first, *rest = token.value.split("\n")
    words = [first.lstrip("#").strip()]
    for line in rest:
        more = CONTINUED.match(line)
        if not more:
            break
        words.append(more.group(1).strip())
    return " ".join(w for w in words if w)


def declared(path: Path, skip=("defaults", "hydra")) -> list[tuple[str, object, str]]:
    """Every leaf key of a conf file (dotted), its default and the comment beside it."""
    out = []

    def walk(node, prefix: str) -> None:
        for key, value in node.items():
            name = f"{prefix}{key}"
            token = (node.ca.items.get(key) or [None] * 4)[2]
            if hasattr(value, "items") and len(value) and name not in LEAF_MAPS:
                walk(value, name + ".")
            else:
                out.append((name, plain(value), comment_of(token)))

    data = YAML().load(path.read_text())
    for key in skip:
        data.pop(key, None)
    walk(data, "")
    return out


LEAF_MAPS = {"warm_start.params", "collapse.min_gain_per_env", "knobs", "sweep.grids"}


def plain(value):
    if hasattr(value, "items"):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def shown(value) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value
    return f"`{text}`".replace("|", "\\|")


def allowed_text(key: str, allowed) -> str:
    if allowed is not None:
        return escaped(allowed.describe(key))
    if key in STEP_SIZE_KEYS:
        return f"as `algo.{key}` of the algo that takes it (below)"
    return "checked in code: see its meaning"


def escaped(text: str) -> str:
    """Text for a Markdown table cell: no HTML from angle brackets, no cell break from a pipe."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")


def key_table(rows: list[tuple[str, object, str]], allowed: dict) -> str:
    lines = ["| key | default | allowed | meaning |", "|---|---|---|---|"]
    for key, default, meaning in rows:
        lines.append(f"| `{key}` | {shown(default)} | {allowed_text(key, allowed.get(key))} | "
                     f"{escaped(meaning)} |")  # fmt: skip
    return "\n".join(lines)


def leaves(tree: dict, prefix: str = "") -> list[tuple[str, object]]:
    out = []
    for key, value in tree.items():
        if isinstance(value, dict) and value and f"{prefix}{key}" not in LEAF_MAPS:
            out += leaves(value, f"{prefix}{key}.")
        else:
            out.append((f"{prefix}{key}", value))
    return out


def run_keys() -> list[tuple[str, object, str]]:
    """Every key of a run's composed default config (algo=ppo), with the comment of the
    conf file that sets it: config.yaml, impl/modern.yaml (train.*) or algo/ppo.yaml."""
    composed = OmegaConf.to_container(compose_run_config([]), resolve=False)
    composed.pop("hydra", None)
    meanings = {k: c for k, _, c in declared(CONF_DIR / "config.yaml")}
    meanings |= {f"train.{k}": c for k, _, c in declared(CONF_DIR / "impl" / "modern.yaml")}
    meanings |= {f"algo.{k}": c for k, _, c in declared(CONF_DIR / "algo" / "ppo.yaml")}
    return [(key, value, meanings.get(key, "")) for key, value in leaves(composed)
            if not key.startswith(("algo.", "sweep."))]  # fmt: skip


def config_reference() -> str:
    parts = [
        "# Config keys",
        "",
        "Generated from `conf/` (each key's default and the comment beside it) and from the "
        "allowed values declared beside each default in the code (`algos/allowed.py`, "
        "`experiments/validate.py`, each entry point's own list). A value outside them stops "
        "the command before anything runs, with one line saying what is allowed.",
        "",
        "## A run (`experiments/run.py`)",
        "",
        "The composed default config: `conf/config.yaml`, with `train.*`'s code-level "
        "switches from `conf/impl/modern.yaml` (the default `impl`); `sweep.*` is the "
        "preset's (below), `algo.*` the algo's.",
        "",
        key_table(run_keys(), schema("ppo")),
    ]
    for name in ALGOS:
        rows = [(f"algo.{k}", v, c) for k, v, c in declared(CONF_DIR / "algo" / f"{name}.yaml")]
        keys = {k: v for k, v in schema(name).items() if k.startswith("algo.")}
        parts += ["", f"## `algo={name}` (`conf/algo/{name}.yaml`)", "", key_table(rows, keys)]
    for title, path, keys in (
        ("The report (`python -m analysis.report`)", CONF_DIR / "analysis" / "report.yaml", REPORT_KEYS),
        ("The probe (`experiments/probe.py`)", CONF_DIR / "probe" / "probe.yaml", PROBE_KEYS),
        ("Evaluation (`experiments/evaluate.py`)", CONF_DIR / "evaluate" / "evaluate.yaml", EVALUATE_KEYS),
        ("Reproduction (`python -m analysis.reproduction`)", CONF_DIR / "analysis" / "reproduction.yaml",
         REPRODUCTION_KEYS),
    ):  # fmt: skip
        parts += ["", f"## {title}", "", f"`{path.relative_to(REPO_ROOT)}`", "",
                  key_table(declared(path), keys)]  # fmt: skip
    parts += ["", "## Sweep presets (`conf/sweep/`)", "", "| preset | what it says of itself |",
              "|---|---|"]  # fmt: skip
    for path in sorted((CONF_DIR / "sweep").glob("*.yaml")):
        first = next((line.lstrip("# ").strip() for line in path.read_text().splitlines()
                      if line.startswith("#")), "")  # fmt: skip
        parts.append(f"| `{path.stem}` | {escaped(first)} |")
    return "\n".join(parts) + "\n"


def described(title: str, entries: dict[str, str], intro: str = "") -> str:
    lines = [f"## {title}", ""] + ([intro, ""] if intro else [])
    lines += ["| name | meaning |", "|---|---|"]
    lines += [f"| `{k}` | {escaped(v)} |" for k, v in entries.items()]
    return "\n".join(lines) + "\n"


def metrics_reference() -> str:
    return ("# Metrics\n\nOne row per policy update, every column in every row (NaN where a "
            "metric does not apply to the update rule). The same names in the run record "
            f"(`{Record.METRICS_FILE}`), in W&B (each plotted against `global_step`, the env steps, "
            "as CleanRL's and SB3's runs are) and in the report. Generated from "
            "`algos/metrics.py`.\n\n" + described("Per update", METRICS)
            + "\n" + described("Per run (the report's per-run frame)", FRAME_COLUMNS,
                               "`runs.csv` and `runs.parquet` of a report; from `analysis/run_frame.py`."))  # fmt: skip


def record_reference() -> str:
    layout = record_schema.__doc__.split("\n\n")[0]
    return "\n".join([
        "# The run record", "", "Generated from `records/schema.py`.", "", "```text",
        layout.strip(), "```", "",
        described(f"Statuses (`{Record.STATUS_FILE}`'s `status`)", record_schema.STATUSES),
        described(f"`{Record.STATUS_FILE}`", record_schema.STATUS_KEYS),
        described(f"What a record adds to its `{Record.CONFIG_FILE}`", record_schema.CONFIG_KEYS
                  | record_schema.WARM_START_KEYS),
        described("A run's row (`records.load`)", record_schema.RUN_COLUMNS),
    ])  # fmt: skip


def report_body(study: Path) -> str:
    """A committed report's README without its title, its files copied beside the page."""
    if not (study / "README.md").exists():
        return f"_No committed report in `results/{study.name}/` yet._"
    for path in study.iterdir():
        if path.suffix in (".png", ".md", ".csv") and path.name != "README.md":
            with mkdocs_gen_files.open(f"results/{study.name}/{path.name}", "wb") as out:
                out.write(path.read_bytes())
    body = (study / "README.md").read_text().split("\n", 1)[1]
    return re.sub(r"^#", "##", body, flags=re.M)


def fill_blocks(text: str) -> str:
    text = readme_results.rebuilt(text, RESULTS)
    pattern = re.compile(r"(<!-- report:(\w+) -->\n)(?:.*?\n)?(<!-- /report:\2 -->)", re.S)
    return pattern.sub(
        lambda m: m.group(1) + report_body(RESULTS / m.group(2)) + "\n" + m.group(3), text
    )


def study_pages() -> None:
    """A page per committed report that no hand-written page introduces."""
    for study in sorted(p for p in RESULTS.iterdir() if (p / "README.md").exists()):
        page = DOCS / "results" / f"{study.name}.md"
        if page.exists():
            continue
        with mkdocs_gen_files.open(f"results/{study.name}.md", "w") as out:
            out.write(f"# `{study.name}`\n\nThe committed report of `results/{study.name}/`.\n\n"
                      f"<!-- report:{study.name} -->\n<!-- /report:{study.name} -->\n")  # fmt: skip


for name, text in {"reference/config.md": config_reference(),
                   "reference/metrics.md": metrics_reference(),
                   "reference/record.md": record_reference(),
                   "reference/export.md": schema_markdown()}.items():  # fmt: skip
    with mkdocs_gen_files.open(name, "w") as out:
        out.write(text)
study_pages()
for page in sorted(DOCS.rglob("*.md")):
    name = page.relative_to(DOCS).as_posix()
    text = page.read_text()
    if "<!-- results:" in text or "<!-- report:" in text:
        with mkdocs_gen_files.open(name, "w") as out:
            out.write(fill_blocks(text))
