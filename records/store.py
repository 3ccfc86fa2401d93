"""The run record on disk (its files: records.record; what they hold: records.schema): how a
run writes it, locks it while training, checkpoints into it and resumes from it. Every file
is written to a temporary name and renamed, so a reader never sees half a file. A write the
machine refuses (a full disk, a permission) raises RecordNotWritten, which ends the run
failed with that reason; a re-run resumes it, as the cause is the machine's, not the run's.
"""

import contextlib
import io
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import torch
import yaml

from algos.metrics import METRICS
from records.load import initial_return
from records.lock import RunLock
from records.numerics import numerics
from records.paths import REPO_ROOT
from records.record import Record, checkpoint_name, checkpoint_update
from records.schema import HISTORY, STOPPED

DECLARED = frozenset(METRICS)  # the names a metrics row may hold


class RecordNotWritten(OSError):
    """The machine refused a write to the record (a full disk, a permission). A run it ends is
    failed with this as its reason, and a re-run resumes it."""


@contextlib.contextmanager
def written(what: str) -> Iterator[None]:
    """Writes to the record's `what`: an OSError they raise is re-raised as RecordNotWritten,
    in one line that names the file."""
    try:
        yield
    except RecordNotWritten:
        raise
    except OSError as error:
        raise RecordNotWritten(f"{what} not written: {error.strerror or error}") from error


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `path` whole or not at all; a write that fails leaves no temporary file behind
    (on a full disk, it would hold the space the failed status needs)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise


def versions() -> dict[str, str]:
    import gymnasium
    import hydra
    import mujoco
    import numpy
    import torch
    import wandb

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "gymnasium": gymnasium.__version__,
        "mujoco": mujoco.__version__,
        "numpy": numpy.__version__,
        "hydra": hydra.__version__,
        "wandb": wandb.__version__,
    }


def git_sha() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def load_checkpoint(path: str | Path) -> dict:
    """A checkpoint written by a run (`<record>/checkpoints/update_<k>.pt`): actor, critic,
    normalisers, optimiser states, update/step counters and RNG states, as
    algos.train.Learner.state_dict made them. Holds numpy arrays, so it is unpickled in
    full: load only checkpoints you (or your sweep) wrote."""
    return torch.load(path, weights_only=False)


class RunRecord(Record):
    """The record as its run writes it (a Record, so it reads itself as every reader does)."""

    def __init__(self, directory: Path):
        super().__init__(directory)
        self.rows: list[dict] = []
        self.started = 0.0
        self.meta: dict = {}
        self.lock = RunLock(self.lock_path)
        self.claimed = False

    def claim(self) -> str | None:
        """Take the run's lock (records.lock); returns a note when a stale lock was taken over.
        Raises RunLocked. From here on every write first checks the lock is still this
        process's, and raises LockLost if it is not, so an attempt that lost its lock never
        writes over the record of the one that took it."""
        with written(self.LOCK_FILE):
            note = self.lock.claim()
        self.claimed = True
        return note

    def heartbeat(self) -> None:
        if self.claimed:
            self.lock.heartbeat()

    def release(self) -> None:
        self.lock.release()
        self.claimed = False

    def write(self, path: Path, data: bytes) -> None:
        """One of the record's files, atomically (RecordNotWritten when the machine refuses)."""
        with written(str(path.relative_to(self.dir))):
            path.parent.mkdir(exist_ok=True)
            atomic_write_bytes(path, data)

    def save_checkpoint(self, update: int, state: dict) -> None:
        """Write the metrics first: a record holds every update up to its last checkpoint."""
        if self.rows:
            self.flush()
        else:
            self.heartbeat()
        buffer = io.BytesIO()
        torch.save(state, buffer)
        self.write(self.checkpoint_dir / checkpoint_name(update), buffer.getvalue())

    def starting_returns(self) -> tuple[float, list[float]]:
        """What a run started from this finished run's final policy carries: its initial
        return (the untrained policy's, records.load.initial_return) and its last HISTORY
        returns (the level the new run starts at)."""
        finite = self.finite_returns()
        return initial_return(finite), [float(r) for r in finite[-HISTORY:]]

    def resumable(self, status: dict | None) -> bool:
        """Whether an attempt that ended with `status` continues: it was stopped (killed while
        running, interrupted, preempted) or its record could not be written."""
        if not status:
            return False
        unwritten = str(status.get("reason") or "").startswith(RecordNotWritten.__name__)
        return status["status"] in STOPPED or (status["status"] == "failed" and unwritten)

    def resume_state(self) -> tuple[dict | None, str | None]:
        """The state to continue a resumable attempt from: its newest checkpoint that loads
        and whose updates the metrics hold, with a note naming any damaged file passed over.
        (None, note) when it must start over for damage; (None, None) for a record that
        finished, failed for its run's own error (which would recur), has no checkpoint
        yet, or only checkpoints from before runs could resume."""
        if self.status_path.exists() and self.status() is None:
            return None, f"{self.STATUS_FILE} is damaged: the run starts over"
        if not self.resumable(self.status()) or not self.checkpoints():
            return None, None
        try:
            metrics, _ = self.metrics(columns=["update"]), self.config  # both must read
        except Exception as error:
            why = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
            return None, f"its record is damaged ({why}): the run starts over"
        passed_over = []
        for path in reversed(self.checkpoints()):
            try:
                state = load_checkpoint(path)
            except Exception as error:
                passed_over.append(f"{path.name} ({type(error).__name__})")
                continue
            if "collector" not in state:
                return None, None
            if int((metrics["update"] <= state["update"]).sum()) != state["update"]:
                passed_over.append(f"{path.name} ({self.METRICS_FILE} lacks its updates)")
                continue
            note = f"passed over damaged {', '.join(passed_over)}" if passed_over else None
            return state, note
        return None, f"no checkpoint loads ({', '.join(passed_over)}): the run starts over"

    def resume(self, update: int) -> None:
        """Continue the stopped attempt after its checkpoint at `update`: its metrics up to
        that update are kept, later ones (computed again, identically) dropped, and its
        config and W&B files kept; the status counts the resumes."""
        previous = self.status() or {}
        if self.has_metrics():
            metrics = self.written_metrics()
            self.rows = metrics[metrics["update"] <= update].to_dict("records")
        self.started = time.time() - float(previous.get("wall_s") or 0.0)
        kept = {
            k: previous[k]
            for k in ("started_at", "git_sha", "versions", "wandb_id")
            if k in previous
        }
        self.meta = kept | {"host": socket.gethostname(), "pid": os.getpid(), "numerics": numerics(),
                            "argv": sys.argv, "resumes": int(previous.get("resumes", 0)) + 1,
                            "resumed_from": update}  # fmt: skip
        with written(self.CHECKPOINTS_DIR):
            for path in self.checkpoints():
                if checkpoint_update(path) > update:
                    path.unlink()
        self.write_status("running")

    def start(self, config: dict) -> None:
        """Begin (or begin again, from scratch) the run: an earlier attempt's metrics,
        checkpoints and W&B files are discarded, so neither the record nor a later
        `wandb sync` holds it twice."""
        self.heartbeat()
        self.started = time.time()
        self.meta = {
            "started_at": now(),
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "git_sha": git_sha(),
            "versions": versions(),
            "numerics": numerics(),
            "argv": sys.argv,
        }
        with written(self.METRICS_FILE):
            self.metrics_path.unlink(missing_ok=True)
        shutil.rmtree(self.wandb_dir, ignore_errors=True)
        shutil.rmtree(self.checkpoint_dir, ignore_errors=True)
        self.write(self.config_path, yaml.safe_dump(config, sort_keys=False).encode())
        self.__dict__.pop("config", None)  # parsed again from what was written, when read
        self.write_status("running")

    def append(self, row: dict, flush: bool) -> None:
        """Keep an update's metrics (written at the next flush); each update is a heartbeat.
        A name algos.metrics does not declare is refused here, where it is made, rather than
        left out of metrics.parquet while W&B and TensorBoard get it."""
        unknown = sorted(row.keys() - DECLARED)
        if unknown:
            raise ValueError(f"not a metric name: {', '.join(unknown)}; names: algos/metrics.py")
        self.rows.append(row)
        if flush:
            self.flush()
        else:
            self.heartbeat()

    def flush(self) -> None:
        self.heartbeat()
        frame = pd.DataFrame(self.rows, columns=list(METRICS))
        self.write(self.metrics_path, frame.to_parquet(index=False))

    def finish(self, status: str, reason: str | None = None) -> dict:
        """Flush the metrics and write the final status; returns the status body written. A
        record that cannot be written ends failed with why (end_unwritten)."""
        try:
            if self.rows:
                self.flush()
            return self.write_status(status, reason)
        except RecordNotWritten as error:
            return self.end_unwritten(error)

    def end_unwritten(self, error: RecordNotWritten) -> dict:
        """Write the status failed, with why the record could not be written; returns its body.
        Where not even a new status file can be made (a full disk), the old one is overwritten
        in place, in the space it holds, so that the record does not say running with no
        attempt behind it. Where that is refused too, it still does, and a re-run resumes it
        as it resumes a killed run."""
        self.heartbeat()
        body = self.status_body("failed", f"{type(error).__name__}: {error}")
        data = json.dumps(body, indent=2).encode()
        try:
            atomic_write_bytes(self.status_path, data)
        except OSError:
            with contextlib.suppress(OSError), open(self.status_path, "r+b") as status_file:
                status_file.write(data)
                status_file.truncate()
        return body

    def write_status(self, status: str, reason: str | None = None) -> dict:
        self.heartbeat()
        body = self.status_body(status, reason)
        self.write(self.status_path, json.dumps(body, indent=2).encode())
        return body

    def status_body(self, status: str, reason: str | None) -> dict:
        return {
            "status": status,
            "reason": reason,
            **self.meta,
            "updated_at": now(),
            "wall_s": round(time.time() - self.started, 3),
            "updates": len(self.rows),
            "steps": int(self.rows[-1]["step"]) if self.rows else 0,
        }


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
