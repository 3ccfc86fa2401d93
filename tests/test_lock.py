"""The run lock, with real processes: one holder at a time, a dead or expired holder taken
over and said so, only its owner releases it, an attempt that lost it writes nothing, and
a lock held elsewhere (a claim refused, a wait for a starting policy) logs no ERROR."""

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

import experiments.warm_start
import records.lock
from experiments.attempt import train_run
from experiments.run import run
from experiments.spec import RunSpec
from experiments.validate import compose_run_config
from experiments.warm_start import pretrain_spec, starting_state
from records.lock import LockLost, RunLock, RunLocked
from records.paths import REPO_ROOT
from records.record import records_under
from records.store import RunRecord

HOST = socket.getfqdn().split(".")[0]

HOLDER = """
import sys, time
from pathlib import Path
from records.lock import RunLock, RunLocked
path, lifetime, start_at, hold_s = Path(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
lock = RunLock(path, lifetime)
while time.time() < start_at:
    time.sleep(0.001)
try:
    lock.claim()
except RunLocked as locked:
    print("refused", locked, flush=True)
    sys.exit(0)
print("claimed", flush=True)
time.sleep(hold_s)
print("owned" if lock.owned() else "not owned", flush=True)
lock.release()
"""


def holder(path: Path, lifetime_s=900.0, start_at=0.0, hold_s=60.0) -> subprocess.Popen:
    """Another process that claims the lock at `start_at`, holds it `hold_s`, releases it."""
    return subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path), str(lifetime_s), str(start_at), str(hold_s)],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip


def claimed(process: subprocess.Popen) -> None:
    assert process.stdout.readline().strip() == "claimed"


def test_of_processes_claiming_at_once_exactly_one_trains(tmp_path):
    path = tmp_path / "run" / "lock"
    path.parent.mkdir()
    start_at = time.time() + 3.0
    processes = [holder(path, start_at=start_at, hold_s=2.0) for _ in range(6)]
    outputs = [p.communicate(timeout=60)[0] for p in processes]
    winners = [
        p.pid for p, out in zip(processes, outputs, strict=True) if out.startswith("claimed")
    ]
    assert len(winners) == 1, outputs
    refused = [out for out in outputs if out.startswith("refused")]
    assert len(refused) == 5 and all(f"{HOST}:{winners[0]}" in out for out in refused), outputs
    assert not list(path.parent.iterdir())  # the winner released: no lock, no claim file left


def test_the_lock_of_a_killed_process_is_taken_over_and_said_so(tmp_path):
    path = tmp_path / "run" / "lock"
    process = holder(path)
    claimed(process)
    with pytest.raises(RunLocked, match=f"is being trained by {HOST}:{process.pid}"):
        RunLock(path).claim()
    process.send_signal(signal.SIGKILL)
    process.wait()
    lock = RunLock(path)
    assert lock.claim() == f"took over stale lock of {HOST}:{process.pid}"
    assert lock.owned()
    lock.release()
    assert not list(path.parent.iterdir())  # the dead holder's claim file went with its lock


def test_a_claim_refused_by_a_live_holder_logs_no_error(tmp_path, caplog):
    """A lock held elsewhere is the ordinary case of a sweep, not an error: flufl.lock's
    own ERROR "timed out" is not passed on, and its logger is left without the filter."""
    path = tmp_path / "run" / "lock"
    process = holder(path, hold_s=3.0)
    claimed(process)
    with caplog.at_level(logging.DEBUG), pytest.raises(RunLocked):
        RunLock(path).claim()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    assert logging.getLogger("flufl.lock").filters == []
    assert process.communicate(timeout=30)[0].strip() == "owned"


def test_a_run_whose_starting_policy_another_process_claims_waits_without_an_error(
    tmp_path, monkeypatch, caplog, capsys
):
    """Two runs that need one starting policy at once: the one whose claim comes second
    waits for the other's (its plain lines say so; nothing is logged as an ERROR), then
    uses it."""
    monkeypatch.setattr(experiments.warm_start, "WAIT_S", 0.2)
    cfg = compose_run_config(["algo=pg", "lr=0.01", "env=InvertedPendulum-v5", "total_steps=128",
                              "train.horizon=64", "train.hidden=[8]", "wandb.mode=disabled",
                              "warm_start.algo=ppo", "warm_start.total_steps=128",
                              "progress=false", f"out_dir={tmp_path}"])  # fmt: skip
    spec = RunSpec.from_cfg(cfg)
    other = []

    def claimed_in_between(pre: RunSpec, show_progress: bool) -> str:
        """The other process claims between this run's look at the lock and its claim."""
        if not other:
            other.append(holder(pre.record_dir / "lock", hold_s=2.0))
            claimed(other[0])
        return train_run(pre, show_progress)

    with caplog.at_level(logging.DEBUG):
        warm = starting_state(spec, claimed_in_between)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    rid = pretrain_spec(spec).run_id
    assert warm.run_id == rid
    assert capsys.readouterr().out.count(f"waiting for the starting policy {rid}") == 1
    assert other[0].communicate(timeout=30)[0].strip() == "owned"


def test_a_live_holder_past_its_lifetime_is_taken_over(tmp_path, monkeypatch):
    monkeypatch.setattr(records.lock, "CLOCK_SLOP", timedelta(0))
    path = tmp_path / "run" / "lock"
    process = holder(path, lifetime_s=3.0)  # it never beats: a hung process
    claimed(process)
    lock = RunLock(path)
    with pytest.raises(RunLocked):
        lock.claim()
    time.sleep(4.0)
    assert lock.claim() == f"took over stale lock of {HOST}:{process.pid}"
    process.kill()
    process.wait()


def test_an_owner_that_lost_its_lock_stops_writing_and_leaves_the_new_holder_alone(tmp_path):
    record = RunRecord(tmp_path / "run")
    record.claim()
    record.write_status("running")
    before = record.status_path.read_text()
    record.lock.path.unlink()  # removed under it, as a stray release of an old attempt did
    process = holder(record.lock.path, hold_s=3.0)
    claimed(process)
    with pytest.raises(LockLost, match=f"taken by {HOST}:{process.pid}"):
        record.write_status("done")
    assert record.status_path.read_text() == before
    record.release()
    assert process.communicate(timeout=30)[0].strip() == "owned"


def test_a_run_that_loses_its_lock_mid_training_stops_cleanly_and_writes_nothing(
    tmp_path, monkeypatch, capsys
):
    taken = {}
    append = RunRecord.append

    def steal_at_update_2(self, row, flush):
        if row["update"] == 2 and not taken:
            taken["status"] = self.status_path.read_text()
            self.lock.path.unlink()
            taken["holder"] = holder(self.lock.path, hold_s=5.0)
            claimed(taken["holder"])
        append(self, row, flush)

    monkeypatch.setattr(RunRecord, "append", steal_at_update_2)
    cfg = compose_run_config(["algo=ppo", "env=InvertedPendulum-v5", "total_steps=512",
                              "train.horizon=128", "train.hidden=[8]", f"out_dir={tmp_path}",
                              "wandb.mode=disabled"])  # fmt: skip
    assert run(cfg, show_progress=False) == "lost"
    (record,) = records_under(tmp_path / "single")
    assert record.status_path.read_text() == taken["status"]
    assert json.loads(taken["status"])["status"] == "running"
    out = capsys.readouterr().out
    assert f"taken by {HOST}:{taken['holder'].pid}" in out and "Traceback" not in out
    assert taken["holder"].communicate(timeout=30)[0].strip() == "owned"
    assert os.path.lexists(record.lock_path) is False
