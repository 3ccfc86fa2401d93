"""The run record: its lock (exclusive while its holder lives, taken over when it is stale)
and its schema (what a run writes is what records.schema declares)."""

import json
import os
import socket

import pandas as pd
import pytest
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
from records.store import RunLocked, RunRecord


def test_run_id_depends_on_science_only():
    a = TrainConfig(algo="trpo", algo_params={"delta": 0.01}, seed=1)
    b = TrainConfig(algo="trpo", algo_params={"delta": 0.01}, seed=1)
    c = TrainConfig(algo="trpo", algo_params={"delta": 0.02}, seed=1)
    assert run_id(a) == run_id(b) != run_id(c)
    assert run_id(a).startswith("trpo-Hopper-v5-delta0.01-s1-")


def test_second_claim_of_a_live_run_is_refused(tmp_path):
    first = RunRecord(tmp_path / "r")
    first.claim()
    (tmp_path / "r" / "lock.json").write_text(
        json.dumps({"host": socket.gethostname(), "pid": os.getppid()})
    )
    with pytest.raises(RunLocked, match="is being trained by"):
        RunRecord(tmp_path / "r").claim()


def test_lock_of_a_dead_process_is_taken_over(tmp_path):
    record = RunRecord(tmp_path / "r")
    record.dir.mkdir()
    dead_pid = 2**22 + 12345  # above Linux's default pid_max: never a live process
    (record.dir / "lock.json").write_text(
        json.dumps({"host": socket.gethostname(), "pid": dead_pid})
    )
    assert "took over stale lock" in record.claim()
    assert json.loads((record.dir / "lock.json").read_text())["pid"] == os.getpid()


def test_lock_of_another_host_is_stale_only_after_its_heartbeat_expires(tmp_path):
    record = RunRecord(tmp_path / "r")
    record.dir.mkdir()
    lock = record.dir / "lock.json"
    lock.write_text(json.dumps({"host": "elsewhere", "pid": 1}))
    with pytest.raises(RunLocked):
        record.claim()
    os.utime(lock, (0, 0))
    assert "elsewhere:1" in record.claim()


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
