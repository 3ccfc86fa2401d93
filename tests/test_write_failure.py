"""A write the machine refuses (a full disk, a permission) ends the run failed, its reason in
one line and no traceback, with no record left running; the others of its population go
on; a re-run resumes it from its last checkpoint (or from scratch without one) and ends
bit for bit as a run that never failed, each update once."""

import errno
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from algos.metrics import TIMING
from experiments.attempt import train_runs
from experiments.run import run
from experiments.spec import RunSpec
from experiments.validate import compose_run_config
from records import store
from records.record import Record, records_under
from tests.conftest import ROOT

HOPPER = ["algo=ppo", "env=Hopper-v5", "total_steps=3072", "train.horizon=256",
          "train.hidden=[16]", "train.value_epochs=2", "checkpoints=4", "progress=false",
          "wandb.mode=disabled"]  # fmt: skip
REFUSED = "RecordNotWritten: "  # how a failed run's reason begins when its record was refused


def metrics(out_dir: Path) -> pd.DataFrame:
    (record,) = records_under(out_dir / "single")
    return record.written_metrics().drop(columns=TIMING)


def only_status(out_dir: Path) -> dict:
    (record,) = records_under(out_dir / "single")
    return record.read_status()


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> pd.DataFrame:
    out = tmp_path_factory.mktemp("whole")
    assert run(compose_run_config([*HOPPER, f"out_dir={out}"]), show_progress=False) == "done"
    return metrics(out)


class Refusing:
    """atomic_write_bytes, refusing with `error` the writes `refused(path, count)` picks
    (count: the writes so far, this one included)."""

    def __init__(self, error: OSError, refused):
        self.error, self.refused, self.count = error, refused, 0
        self.write = store.atomic_write_bytes

    def __call__(self, path: Path, data: bytes) -> None:
        self.count += 1
        if self.refused(Path(path), self.count):
            raise self.error
        self.write(path, data)


def full_after(writes: int) -> Refusing:
    """A disk that fills up: every write from the `writes`-th on is refused, the failed
    status's too (it is then written over the old one, in the space that one holds)."""
    return Refusing(OSError(errno.ENOSPC, "No space left on device"), lambda _, n: n >= writes)


def forbidden(name: str) -> Refusing:
    """A file the run may not write: a permission error for it, every other write allowed."""
    return Refusing(PermissionError(errno.EACCES, "Permission denied"), lambda p, _: p.name == name)


@pytest.mark.parametrize(
    "refusal, reason, resumed_from",
    [
        (lambda: full_after(8), "metrics.parquet not written: No space left on device", 3),
        (lambda: forbidden("update_9.pt"), "checkpoints/update_9.pt not written: Permission denied", 6),
        (lambda: forbidden("config.yaml"), "config.yaml not written: Permission denied", None),
    ],
    ids=["disk full", "checkpoint forbidden", "config forbidden"],
)  # fmt: skip
def test_a_refused_write_fails_the_run_in_one_line_and_the_rerun_resumes_it(
    refusal, reason, resumed_from, uninterrupted, tmp_path, monkeypatch, capfd
):
    cfg = compose_run_config([*HOPPER, f"out_dir={tmp_path}"])
    with monkeypatch.context() as patched:
        patched.setattr(store, "atomic_write_bytes", refusal())
        assert run(cfg, show_progress=False) == "failed"
    out, err = capfd.readouterr()
    (record,) = records_under(tmp_path / "single")
    status = record.read_status()
    assert status["status"] == "failed" and status["reason"] == REFUSED + reason
    assert status["started_at"] and 0 <= status["wall_s"] < 600  # the attempt's own fields
    assert f"failed: {record.dir.name} ({REFUSED}{reason})\nrecord: {record.dir}" in out
    assert "Traceback" not in out + err
    assert not record.lock_path.exists()
    assert run(cfg, show_progress=False) == "done"
    out, _ = capfd.readouterr()
    assert (f"resuming after update {resumed_from}" in out) == (resumed_from is not None)
    assert record.read_status().get("resumed_from") == resumed_from
    resumed = metrics(tmp_path)
    assert resumed["update"].is_unique
    pd.testing.assert_frame_equal(resumed, uninterrupted, check_exact=True)


def no_overwriting(path, mode="r", *args, **kwargs):
    """open, refusing to write over a file in place."""
    if mode == "r+b":
        raise PermissionError(errno.EACCES, "Permission denied", str(path))
    return open(path, mode, *args, **kwargs)


def test_a_run_whose_status_cannot_be_written_at_all_resumes_as_a_killed_run(
    uninterrupted, tmp_path, monkeypatch
):
    """Not even its failed status can be written, nor the old one overwritten: the status
    still says running, but its lock is released, and a re-run resumes it."""
    cfg = compose_run_config([*HOPPER, f"out_dir={tmp_path}"])
    with monkeypatch.context() as patched:
        patched.setattr(store, "atomic_write_bytes", full_after(8))
        patched.setattr(store, "open", no_overwriting, raising=False)
        assert run(cfg, show_progress=False) == "failed"
    assert only_status(tmp_path)["status"] == "running"
    assert run(cfg, show_progress=False) == "done"
    assert only_status(tmp_path)["resumed_from"] == 3
    pd.testing.assert_frame_equal(metrics(tmp_path), uninterrupted, check_exact=True)


def test_a_population_goes_on_when_one_members_record_is_refused(tmp_path, monkeypatch):
    specs = [RunSpec.from_cfg(compose_run_config([*HOPPER, f"out_dir={tmp_path}", f"seed={s}"]))
             for s in (1, 2)]  # fmt: skip
    refused = specs[0].record_dir
    with monkeypatch.context() as patched:
        patched.setattr(store, "atomic_write_bytes", Refusing(
            OSError(errno.ENOSPC, "No space left on device"),
            lambda path, _: path.parent == refused and path.name == "metrics.parquet",
        ))  # fmt: skip
        assert train_runs(specs, show_progress=False) == ["failed", "done"]
    assert Record(refused).read_status()["reason"].startswith(REFUSED)
    assert train_runs(specs, show_progress=False) == ["done", "done"]


@pytest.fixture
def small_disk(tmp_path):
    """A real filesystem of 120 KiB (tmpfs; mounting one needs root)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=120k", "tmpfs", str(mount)],
                          capture_output=True)  # fmt: skip
    if made.returncode != 0:
        pytest.skip("no tmpfs to fill here (mounting one needs root)")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


def test_a_full_disk_fails_the_run_and_once_it_has_room_the_run_resumes(uninterrupted, small_disk):
    command = [sys.executable, "experiments/run.py", *HOPPER, f"out_dir={small_disk}"]
    full = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    (record,) = records_under(small_disk / "single")
    status = record.read_status()
    assert status["status"] == "failed", "the disk did not fill up: make it smaller"
    assert status["reason"].startswith(REFUSED) and "No space left on device" in status["reason"]
    assert f"failed: {record.dir.name} ({status['reason']})\nrecord: {record.dir}" in full.stdout
    assert "Traceback" not in full.stdout + full.stderr
    subprocess.run(["mount", "-o", "remount,size=4m", str(small_disk)], check=True)
    again = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "resuming after update" in again.stdout
    resumed = metrics(small_disk)
    assert resumed["update"].is_unique
    pd.testing.assert_frame_equal(resumed, uninterrupted, check_exact=True)


def test_a_monitored_run_whose_record_is_refused_ends_failed(tmp_path, monkeypatch):
    from monitor.record import ForeignRun

    run = ForeignRun(tmp_path, "mine", "Toy-v0", 1, "my_pg", {"lr": 0.1}, "lr", flush_s=0.0,
                     tensorboard=False)  # fmt: skip
    with monkeypatch.context() as patched:
        patched.setattr(store, "atomic_write_bytes", full_after(4))
        with pytest.raises(store.RecordNotWritten, match="metrics.parquet not written"):
            with run:
                for update in range(1, 5):
                    run.log(8 * update, {"kl_mean": 0.01})
    status = run.record.read_status()
    assert status["status"] == "failed" and status["reason"].startswith(REFUSED)
    assert not run.record.lock_path.exists()


EVENTS_REFUSED = """
import errno, runpy, sys
from tensorboard.compat.tensorflow_stub.io import gfile
append, count = gfile.LocalFileSystem.append, [0]
def refusing(self, *args, **kwargs):
    count[0] += 1
    if count[0] > 40:  # an update's events are about 35 writes
        raise OSError(errno.ENOSPC, "No space left on device")
    return append(self, *args, **kwargs)
gfile.LocalFileSystem.append = refusing
sys.argv = ["experiments/run.py", *sys.argv[1:]]
runpy.run_path("experiments/run.py", run_name="__main__")
"""


def test_refused_event_files_fail_the_run_in_one_line_from_their_writer_thread(
    uninterrupted, tmp_path
):
    """TensorBoard writes its event files in a thread of its own: the error that ends it
    comes back at the writer's next call, as the run's reason, and the thread's traceback
    is not printed."""
    args = [*HOPPER, f"out_dir={tmp_path}"]
    refused = subprocess.run([sys.executable, "-c", EVENTS_REFUSED, *args], cwd=ROOT,
                             capture_output=True, text=True, timeout=300)  # fmt: skip
    status = only_status(tmp_path)
    assert status["reason"] == REFUSED + "tensorboard not written: No space left on device"
    assert "Traceback" not in refused.stdout + refused.stderr, refused.stderr[-2000:]
    again = subprocess.run([sys.executable, "experiments/run.py", *args], cwd=ROOT,
                           capture_output=True, text=True, timeout=300)  # fmt: skip
    assert again.returncode == 0, again.stderr[-2000:]
    pd.testing.assert_frame_equal(metrics(tmp_path), uninterrupted, check_exact=True)
