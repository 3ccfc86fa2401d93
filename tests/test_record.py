"""The run record's lock: exclusive while its holder lives, taken over when it is stale."""

import json
import os
import socket

import pytest

from algos.train import TrainConfig
from experiments.record import RunLocked, RunRecord, run_id


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
