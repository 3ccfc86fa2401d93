"""The run record: its id and its schema (what a run writes is what records.schema declares).
Its lock is tested in test_lock."""

import pandas as pd

from algos.train import TrainConfig
from experiments.run import run
from experiments.spec import run_id
from experiments.validate import compose_run_config
from records.load import load_records
from records.record import Record, records_under
from records.schema import (
    CONFIG_KEYS,
    METRICS,
    RUN_COLUMNS,
    STATUS_KEYS,
    STATUSES,
    UPDATE_LABELS,
    WARM_START_KEYS,
)


def test_run_id_depends_on_science_only():
    a = TrainConfig(algo="trpo", algo_params={"delta": 0.01}, seed=1)
    b = TrainConfig(algo="trpo", algo_params={"delta": 0.01}, seed=1)
    c = TrainConfig(algo="trpo", algo_params={"delta": 0.02}, seed=1)
    assert run_id(a) == run_id(b) != run_id(c)
    assert run_id(a).startswith("trpo-Hopper-v5-delta0.01-s1-")


def test_a_written_record_and_its_run_row_follow_the_schema(tmp_path):
    tiny = ["env=InvertedPendulum-v5", "total_steps=256", "train.horizon=128", "train.hidden=[8]",
            "warm_start.algo=pg", "warm_start.total_steps=128", f"out_dir={tmp_path}",
            "wandb.mode=disabled", "algo=trpo"]  # fmt: skip
    assert run(compose_run_config(tiny), show_progress=False) == "done"
    (record,) = records_under(tmp_path / "single")
    config, status = record.config, record.read_status()
    assert set(CONFIG_KEYS) | set(WARM_START_KEYS) <= set(config)
    assert set(status) <= set(STATUS_KEYS) and status["status"] in STATUSES
    assert list(record.written_metrics().columns) == list(METRICS)
    assert sorted(p.name for p in record.dir.iterdir()) == sorted(
        [
            Record.CONFIG_FILE,
            Record.STATUS_FILE,
            Record.METRICS_FILE,
            Record.CHECKPOINTS_DIR,
            Record.TENSORBOARD_DIR,
        ]
    )
    records = load_records(tmp_path, "single")
    assert list(records.runs.columns) == list(RUN_COLUMNS)
    assert list(records.updates.columns) == [*METRICS, *UPDATE_LABELS]


def test_a_metric_the_schema_does_not_declare_is_refused_when_written(tmp_path):
    from records.store import RunRecord

    record = RunRecord(tmp_path)
    record.append({"step": 1, "update": 1, "kl_mean": 0.1}, flush=False)
    try:
        record.append({"step": 2, "update": 2, "kl_meen": 0.1}, flush=False)
    except ValueError as error:
        assert str(error) == "not a metric name: kl_meen; names: algos/metrics.py"
    else:
        raise AssertionError("an undeclared metric was accepted")
    assert len(record.rows) == 1


def test_an_undeclared_metric_of_a_run_reaches_neither_its_record_nor_wandb(tmp_path, monkeypatch):
    """The record refuses the name before the W&B mirror and the event files see the row."""
    from experiments import attempt
    from experiments.wandb_mirror import WandbMirror

    mirrored = []
    monkeypatch.setattr(WandbMirror, "log", lambda self, row: mirrored.append(row))
    on_update = attempt.Attempt.on_update
    monkeypatch.setattr(attempt.Attempt, "on_update",
                        lambda self, row: on_update(self, row | {"kl_meen": 0.1}))  # fmt: skip
    cfg = compose_run_config(["env=InvertedPendulum-v5", "total_steps=256", "train.horizon=128",
                              "train.hidden=[8]", f"out_dir={tmp_path}", "wandb.mode=disabled"])  # fmt: skip
    assert run(cfg, show_progress=False) == "failed"
    (record,) = records_under(tmp_path / "single")
    assert record.read_status()["reason"].startswith("ValueError: not a metric name: kl_meen")
    assert mirrored == [] and not record.has_metrics()


def test_a_record_written_before_a_metric_existed_reads_it_as_nan(tmp_path):
    record = Record(tmp_path)
    pd.DataFrame({"step": [64], "update": [1], "kl_mean": [0.1]}).to_parquet(record.metrics_path)
    metrics = record.metrics()
    assert list(metrics.columns) == list(METRICS)
    assert metrics["kl_mean"].iloc[0] == 0.1 and metrics["kl_reported"].isna().all()
    assert list(record.written_metrics().columns) == ["step", "update", "kl_mean"]


def test_a_records_config_is_parsed_once_and_read_again_once_rewritten(tmp_path):
    from records.store import RunRecord

    record = RunRecord(tmp_path)
    record.start({"run_id": "a", "seed": 1})
    assert record.config == {"run_id": "a", "seed": 1}
    record.config_path.write_text("run_id: b\n")  # not through the record: not seen
    assert record.config["run_id"] == "a"
    record.start({"run_id": "c"})
    assert record.config == {"run_id": "c"} and Record(tmp_path).config == {"run_id": "c"}


NAMED_ELSEWHERE = {
    # conf/config.yaml: Hydra's root config, not a record's
    "docs/gen_pages.py",
}


def test_only_the_record_object_names_a_records_files():
    """Code reaches a record's files through records.record.Record: a file name in a string
    of any other module (docstrings aside) is a second place that knows it."""
    import ast

    from tests.conftest import ROOT

    names = (Record.CONFIG_FILE, Record.STATUS_FILE, Record.METRICS_FILE)
    found = set()
    for layer in ("algos", "records", "monitor", "experiments", "analysis", "hydra_plugins",
                  "benchmarks", "docs"):  # fmt: skip
        for path in sorted((ROOT / layer).rglob("*.py")):
            tree = ast.parse(path.read_text())
            docstrings = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Expr)}
            for node in ast.walk(tree):
                if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                        and id(node) not in docstrings
                        and any(name in node.value for name in names)):  # fmt: skip
                    found.add(path.relative_to(ROOT).as_posix())
    assert found - NAMED_ELSEWHERE == {"records/record.py"}
