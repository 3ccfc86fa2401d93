"""The run record: its id and its schema (what a run writes is what records.schema declares).
Its lock is tested in test_lock."""

import json

import pandas as pd
import yaml

from algos.train import TrainConfig
from experiments.run import run
from experiments.spec import run_id
from experiments.validate import compose_run_config
from records.load import load_records
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
    (path,) = (tmp_path / "single").iterdir()
    config = yaml.safe_load((path / "config.yaml").read_text())
    status = json.loads((path / "status.json").read_text())
    assert set(CONFIG_KEYS) | set(WARM_START_KEYS) <= set(config)
    assert set(status) <= set(STATUS_KEYS) and status["status"] in STATUSES
    assert list(pd.read_parquet(path / "metrics.parquet").columns) == list(METRICS)
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


def test_a_record_written_before_a_metric_existed_reads_it_as_nan(tmp_path):
    from algos.metrics import METRICS
    from records.load import read_metrics

    pd.DataFrame({"step": [64], "update": [1], "kl_mean": [0.1]}).to_parquet(
        tmp_path / "metrics.parquet"
    )
    metrics = read_metrics(tmp_path)
    assert list(metrics.columns) == list(METRICS)
    assert metrics["kl_mean"].iloc[0] == 0.1 and metrics["kl_reported"].isna().all()
