"""One export of a sweep, for pandas, polars or DuckDB: `updates.parquet`, every update of
every run with its run's columns, and `runs.parquet`, one row per run with the per-run
frame. Their columns are the record's and the frame's declarations, in this order, and
`export.md` beside them says what each holds."""

from pathlib import Path

import pandas as pd

from analysis.run_frame import FRAME_COLUMNS
from records.schema import METRICS, RUN_COLUMNS

HELD_OUT = {"held_out": "the held-out knob that set it (empty: a step-size grid's run)"}
UPDATES_SCHEMA = {**RUN_COLUMNS, **METRICS}
RUNS_SCHEMA = {**RUN_COLUMNS, **FRAME_COLUMNS, **HELD_OUT}


def updates_table(runs: pd.DataFrame, updates: pd.DataFrame) -> pd.DataFrame:
    """Every update, each with every column of its run, ordered by run and update."""
    if updates.empty:
        return pd.DataFrame(columns=list(UPDATES_SCHEMA))
    table = updates[["run_id", *METRICS]].merge(runs[list(RUN_COLUMNS)], on="run_id")
    return table[list(UPDATES_SCHEMA)].sort_values(["run_id", "update"], ignore_index=True)


def write(out: Path, runs: pd.DataFrame, updates: pd.DataFrame) -> list[Path]:
    """updates.parquet, runs.parquet and export.md under `out`; `runs` is the per-run table."""
    files = {"updates.parquet": (updates, UPDATES_SCHEMA), "runs.parquet": (runs, RUNS_SCHEMA)}
    for name, (table, schema) in files.items():
        table.reindex(columns=list(schema)).to_parquet(out / name, index=False)
    (out / "export.md").write_text(schema_markdown())
    return [out / name for name in [*files, "export.md"]]


def schema_markdown() -> str:
    lines = ["# The sweep's export", "",
             "`updates.parquet`: one row per policy update of every run. `runs.parquet`: one "
             "row per run. Read either with pandas (`pd.read_parquet`), polars "
             "(`pl.read_parquet`) or DuckDB (`SELECT * FROM 'updates.parquet'`).", ""]  # fmt: skip
    for name, schema in (("updates.parquet", UPDATES_SCHEMA), ("runs.parquet", RUNS_SCHEMA)):
        lines += [f"## {name}", "", "| column | holds |", "|---|---|"]
        lines += [f"| `{column}` | {meaning} |" for column, meaning in schema.items()]
        lines.append("")
    return "\n".join(lines)
