"""The run record on disk (its layout: records.schema): how a run writes it, locks it while
training, checkpoints into it and resumes from it. Every file is written to a temporary name
and renamed, so a reader never sees half a file.
"""

import io
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml

from algos.metrics import METRICS
from records.load import initial_return
from records.lock import RunLock
from records.numerics import numerics
from records.paths import REPO_ROOT
from records.schema import HISTORY, STOPPED

DECLARED = frozenset(METRICS)  # the names a metrics row may hold


def atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


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


def checkpoint_update(path: Path) -> int:
    """k of checkpoints/update_<k>.pt."""
    return int(path.stem.split("_")[1])


class RunRecord:
    def __init__(self, directory: Path):
        self.dir = Path(directory)
        self.rows: list[dict] = []
        self.started = 0.0
        self.meta: dict = {}
        self.lock = RunLock(self.dir / "lock")
        self.claimed = False

    def status(self) -> dict | None:
        try:
            return json.loads((self.dir / "status.json").read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def is_done(self) -> bool:
        status = self.status()
        return (
            bool(status) and status["status"] == "done" and (self.dir / "metrics.parquet").exists()
        )

    def claim(self) -> str | None:
        """Take the run's lock (records.lock); returns a note when a stale lock was taken over.
        Raises RunLocked. From here on every write first checks the lock is still this
        process's, and raises LockLost if it is not, so an attempt that lost its lock never
        writes over the record of the one that took it."""
        note = self.lock.claim()
        self.claimed = True
        return note

    def heartbeat(self) -> None:
        if self.claimed:
            self.lock.heartbeat()

    def release(self) -> None:
        self.lock.release()
        self.claimed = False

    @property
    def checkpoint_dir(self) -> Path:
        return self.dir / "checkpoints"

    def save_checkpoint(self, update: int, state: dict) -> None:
        """Write the metrics first: a record holds every update up to its last checkpoint."""
        if self.rows:
            self.flush()
        else:
            self.heartbeat()
        self.checkpoint_dir.mkdir(exist_ok=True)
        buffer = io.BytesIO()
        torch.save(state, buffer)
        atomic_write_bytes(self.checkpoint_dir / f"update_{update}.pt", buffer.getvalue())

    def checkpoints(self) -> list[Path]:
        """The run's checkpoints, in update order."""
        return sorted(self.checkpoint_dir.glob("update_*.pt"), key=checkpoint_update)

    def last_checkpoint(self) -> Path | None:
        saved = self.checkpoints()
        return saved[-1] if saved else None

    def finite_returns(self) -> np.ndarray:
        """The finished run's return_mean per update, updates with no finished episode left
        out: its first is the run's initial return (records.load.initial_return)."""
        returns = pd.read_parquet(self.dir / "metrics.parquet", columns=["return_mean"])
        values = returns["return_mean"].to_numpy()
        return values[np.isfinite(values)]

    def starting_returns(self) -> tuple[float, list[float]]:
        """What a run started from this finished run's final policy carries: its initial
        return (the untrained policy's, records.load.initial_return) and its last HISTORY
        returns (the level the new run starts at)."""
        finite = self.finite_returns()
        return initial_return(finite), [float(r) for r in finite[-HISTORY:]]

    def resume_state(self) -> tuple[dict | None, str | None]:
        """The state to continue an attempt that was stopped (killed while running,
        interrupted, preempted) from: its newest checkpoint that loads and whose updates the
        metrics hold, with a note naming any damaged file passed over. (None, note) when it
        must start over for damage; (None, None) for a record that finished, failed (a
        failure would recur), has no checkpoint yet, or only checkpoints from before runs
        could resume."""
        if (self.dir / "status.json").exists() and self.status() is None:
            return None, "status.json is damaged: the run starts over"
        status = self.status()
        if not status or status["status"] not in STOPPED or not self.checkpoints():
            return None, None
        try:
            metrics = pd.read_parquet(self.dir / "metrics.parquet", columns=["update"])
            yaml.safe_load((self.dir / "config.yaml").read_text())
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
                passed_over.append(f"{path.name} (metrics.parquet lacks its updates)")
                continue
            note = f"passed over damaged {', '.join(passed_over)}" if passed_over else None
            return state, note
        return None, f"no checkpoint loads ({', '.join(passed_over)}): the run starts over"

    def resume(self, update: int) -> None:
        """Continue the stopped attempt after its checkpoint at `update`: its metrics up to
        that update are kept, later ones (computed again, identically) dropped, and its
        config and W&B files kept; the status counts the resumes."""
        previous = self.status() or {}
        metrics_file = self.dir / "metrics.parquet"
        if metrics_file.exists():
            metrics = pd.read_parquet(metrics_file)
            self.rows = metrics[metrics["update"] <= update].to_dict("records")
        for path in self.checkpoints():
            if checkpoint_update(path) > update:
                path.unlink()
        self.started = time.time() - float(previous.get("wall_s") or 0.0)
        kept = {
            k: previous[k]
            for k in ("started_at", "git_sha", "versions", "wandb_id")
            if k in previous
        }
        self.meta = kept | {"host": socket.gethostname(), "pid": os.getpid(), "numerics": numerics(),
                            "argv": sys.argv, "resumes": int(previous.get("resumes", 0)) + 1,
                            "resumed_from": update}  # fmt: skip
        self.write_status("running")

    def start(self, config: dict) -> None:
        """Begin (or begin again, from scratch) the run: an earlier attempt's metrics,
        checkpoints and W&B files are discarded, so neither the record nor a later
        `wandb sync` holds it twice."""
        self.heartbeat()
        (self.dir / "metrics.parquet").unlink(missing_ok=True)
        shutil.rmtree(self.dir / "wandb", ignore_errors=True)
        shutil.rmtree(self.checkpoint_dir, ignore_errors=True)
        atomic_write_bytes(
            self.dir / "config.yaml", yaml.safe_dump(config, sort_keys=False).encode()
        )
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
        atomic_write_bytes(self.dir / "metrics.parquet", frame.to_parquet(index=False))

    def finish(self, status: str, reason: str | None = None) -> dict:
        """Flush the metrics and write the final status; returns the status body written."""
        if self.rows:
            self.flush()
        return self.write_status(status, reason)

    def write_status(self, status: str, reason: str | None = None) -> dict:
        self.heartbeat()
        body = {
            "status": status,
            "reason": reason,
            **self.meta,
            "updated_at": now(),
            "wall_s": round(time.time() - self.started, 3),
            "updates": len(self.rows),
            "steps": int(self.rows[-1]["step"]) if self.rows else 0,
        }
        atomic_write_bytes(self.dir / "status.json", json.dumps(body, indent=2).encode())
        return body


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
