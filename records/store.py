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
from records.paths import REPO_ROOT
from records.schema import STOPPED

STALE_LOCK_S = 900  # a lock whose heartbeat is older than this is taken over


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


class RunLocked(RuntimeError):
    """Another live process is training this run."""


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def checkpoint_update(path: Path) -> int:
    """k of checkpoints/update_<k>.pt."""
    return int(path.stem.split("_")[1])


class RunRecord:
    def __init__(self, directory: Path):
        self.dir = Path(directory)
        self.rows: list[dict] = []
        self.started = 0.0
        self.meta: dict = {}

    @property
    def lock_path(self) -> Path:
        return self.dir / "lock.json"

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
        """Take the lock; returns a note when a stale lock was taken over. Raises RunLocked."""
        self.dir.mkdir(parents=True, exist_ok=True)
        note = None
        for _ in range(2):
            try:
                fd = os.open(self.lock_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                holder = self.lock_holder()
                if not self.lock_is_stale(holder):
                    raise RunLocked(
                        f"{self.dir.name} is being trained by "
                        f"{holder.get('host')}:{holder.get('pid')}"
                    ) from None
                note = f"took over stale lock of {holder.get('host')}:{holder.get('pid')}"
                self.lock_path.unlink(missing_ok=True)
                continue
            with os.fdopen(fd, "w") as f:
                json.dump({"host": socket.gethostname(), "pid": os.getpid(), "since": now()}, f)
            return note
        raise RunLocked(f"{self.dir.name}: could not take the lock")

    def lock_holder(self) -> dict:
        try:
            return json.loads(self.lock_path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}

    def lock_is_stale(self, holder: dict) -> bool:
        try:
            age = time.time() - self.lock_path.stat().st_mtime
        except FileNotFoundError:
            return True
        if holder.get("host") == socket.gethostname() and "pid" in holder:
            return not pid_alive(int(holder["pid"])) or holder["pid"] == os.getpid()
        return age > STALE_LOCK_S

    def release(self) -> None:
        self.lock_path.unlink(missing_ok=True)

    @property
    def checkpoint_dir(self) -> Path:
        return self.dir / "checkpoints"

    def save_checkpoint(self, update: int, state: dict) -> None:
        """Write the metrics first: a record holds every update up to its last checkpoint."""
        if self.rows:
            self.flush()
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

    def resume_point(self) -> Path | None:
        """The checkpoint an attempt that was stopped (killed while running, interrupted,
        preempted) left behind, to continue from; None for a record that finished, failed
        (a failure would recur) or has no checkpoint yet."""
        status = self.status()
        if not status or status["status"] not in STOPPED:
            return None
        return self.last_checkpoint()

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
        self.meta = kept | {"host": socket.gethostname(), "pid": os.getpid(), "argv": sys.argv,
                            "resumes": int(previous.get("resumes", 0)) + 1, "resumed_from": update}  # fmt: skip
        self.write_status("running")

    def start(self, config: dict) -> None:
        """Begin (or begin again, from scratch) the run: an earlier attempt's metrics,
        checkpoints and W&B files are discarded, so neither the record nor a later
        `wandb sync` holds it twice."""
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
            "argv": sys.argv,
        }
        self.write_status("running")

    def append(self, row: dict, flush: bool) -> None:
        self.rows.append(row)
        if flush:
            self.flush()

    def flush(self) -> None:
        frame = pd.DataFrame(self.rows, columns=list(METRICS))
        atomic_write_bytes(self.dir / "metrics.parquet", frame.to_parquet(index=False))
        os.utime(self.lock_path)

    def finish(self, status: str, reason: str | None = None) -> dict:
        """Flush the metrics and write the final status; returns the status body written."""
        if self.rows:
            self.flush()
        return self.write_status(status, reason)

    def write_status(self, status: str, reason: str | None = None) -> dict:
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
