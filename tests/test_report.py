"""The report from the smoke sweep's records, and loading that survives bad records."""

import json
import re
import shutil

import duckdb
import pytest
from PIL import Image

from analysis.report import main as report_main
from records.load import load_records
from tests.conftest import ROOT

FIGURES = [
    "collapse_vs_kl", "collapse_frequency", "return_vs_step_size", "kl_vs_return", "kl_vs_final_return",
    "learning_curves", "kl_curves", "kl_warning_roc", "headline", "taylor_model", "multiverse", "behaviour",
]  # fmt: skip


def build(out_dir, sweep, report_dir, monkeypatch, *overrides):
    monkeypatch.chdir(ROOT)
    argv = [
        "report",
        f"out_dir={out_dir}",
        f"sweep={sweep}",
        f"report_dir={report_dir}",
        *overrides,
    ]
    monkeypatch.setattr("sys.argv", argv)
    report_main()
    return report_dir / sweep


@pytest.fixture(scope="module")
def smoke_report(smoke_sweep, tmp_path_factory):
    with pytest.MonkeyPatch.context() as monkeypatch:
        reports = tmp_path_factory.mktemp("reports")
        return build(smoke_sweep, "smoke", reports, monkeypatch, "wandb.mode=offline")


def test_report_builds_from_smoke_sweep_with_every_figure_linked(smoke_report):
    report = smoke_report
    index = (report / "index.html").read_text()
    for name in FIGURES:
        for suffix in (".png", ".svg"):
            assert (report / f"{name}{suffix}").stat().st_size > 1000
        with Image.open(report / f"{name}.png") as image:
            image.verify()
        assert f"href='{name}.png'" in index
        assert re.search(rf"!\[{name}: [^\]]+\]\({name}\.png\)", (report / "README.md").read_text())
    assert "data:image/png;base64," in index  # self-contained: opens offline
    assert not re.search(r"src='(?!data:)", index)
    table = (report / "collapse_frequency.csv").read_text().splitlines()
    assert len(table) == 1 + 8  # one row per algo × step size
    assert "smoothed by a trailing mean" in (report / "collapse_frequency.md").read_text()
    for name in (
        "collapse_vs_kl",
        "collapse_vs_kl_bins",
        "collapse_by_run_kl",
        "kl_warning",
        "returns",
    ):
        assert (report / f"{name}.csv").exists() and (report / f"{name}.md").exists()
    readme = (report / "README.md").read_text()
    runs_at = index.index("<h2>Runs</h2>")  # the first screen comes before it
    assert index.index("<p class='answer'>") < index.index("id='headline'") < runs_at
    short = re.search(r"<ol class='findings short'>(.*?)</ol>", index).group(1)
    assert 1 <= short.count("<li>") <= 5 and index.index("findings short") < runs_at
    assert readme.index("![headline") < readme.index("## Runs")
    assert "with no update at all (zero dose, same env)" in index
    assert "collapse_ci_low" not in index  # the page shows readable columns, not raw CSV names
    assert "collapsed / runs = frequency [95% Wilson CI]" in index
    assert all(re.search(r"alt='[^']+'", tag) for tag in re.findall(r"<img[^>]*>", index))
    assert list((report / "wandb").glob("offline-run-*/run-*.wandb"))  # mirrored to W&B too


def test_the_sweeps_export_reads_in_duckdb_as_its_schema_says(smoke_sweep, smoke_report):
    """Every update of every record once, under the columns export.md lists, counted
    against the records' own status files."""
    schema = (smoke_report / "export.md").read_text().split("## ")[1:]
    listed = {part.split("\n")[0]: re.findall(r"^\| `(\w+)` \|", part, re.M) for part in schema}
    db = duckdb.connect()
    for name, columns in listed.items():
        described = db.sql(f"DESCRIBE SELECT * FROM '{smoke_report / name}'").fetchall()
        assert [row[0] for row in described] == columns
    statuses = [json.loads(p.read_text()) for p in (smoke_sweep / "smoke").glob("*/status.json")]
    per_run = dict(db.sql(f"SELECT run_id, count(*) FROM '{smoke_report / 'updates.parquet'}' "
                          "GROUP BY run_id").fetchall())  # fmt: skip
    assert sum(per_run.values()) == sum(s["updates"] for s in statuses)
    assert len(per_run) == sum(s["updates"] > 0 for s in statuses)
    runs = db.sql(f"SELECT run_id, updates, collapsed FROM '{smoke_report / 'runs.parquet'}'")
    rows = runs.fetchall()
    assert len(rows) == len(statuses)
    assert all(per_run.get(run_id, 0) == updates for run_id, updates, _ in rows)
    steps = db.sql(f"SELECT max(step) FROM '{smoke_report / 'updates.parquet'}'").fetchall()[0][0]
    assert steps == max(s["steps"] for s in statuses)


def test_load_skips_and_reports_corrupt_and_half_written_records(smoke_sweep, tmp_path):
    sweep = tmp_path / "smoke"
    shutil.copytree(smoke_sweep / "smoke", sweep, ignore=shutil.ignore_patterns("wandb", ".hydra"))
    first, second, third = sorted(p for p in sweep.iterdir() if p.is_dir())[:3]
    (first / "metrics.parquet").write_bytes(b"PAR1 truncated")
    (second / "status.json").write_text('{"status": "do')
    (third / "config.yaml").unlink()
    records = load_records(tmp_path, "smoke")
    assert len(records.runs) == 16 - 3
    assert {p for p, _ in records.skipped} == {str(first), str(second), str(third)}
    assert all(why for _, why in records.skipped)
    assert set(records.updates["run_id"]) == set(records.runs["run_id"])


def test_report_of_a_sweep_in_progress_or_with_a_damaged_record_says_which_and_still_builds(
    smoke_sweep, tmp_path, monkeypatch
):
    runs = tmp_path / "runs"
    shutil.copytree(smoke_sweep / "smoke", runs / "smoke", ignore=shutil.ignore_patterns("wandb"))
    for status_file in (runs / "smoke").glob("trpo-*/status.json"):
        status_file.write_text(
            status_file.read_text().replace('"status": "done"', '"status": "running"')
        )
    damaged = sorted((runs / "smoke").glob("pg-*"))[0]
    (damaged / "metrics.parquet").write_bytes(b"PAR1 truncated")
    report = build(runs, "smoke", tmp_path / "reports", monkeypatch)
    summary = (report / "README.md").read_text()
    assert "InvertedPendulum-v5 trpo: no finished runs yet (4 excluded)." in summary
    assert "15 runs: 11 done, 4 running; 1 unreadable records skipped" in summary
    assert f"skipped {damaged}: " in summary
