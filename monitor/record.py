"""The run record (records.schema) of a run of code this suite did not write: the same
config.yaml, metrics.parquet and status.json as experiments/run.py writes, so the report
reads it like the suite's own runs.

A foreign record's config holds the run's identity (sweep, env, seed), the update rule's
name, `variant` (which runs form one setting: with the step size, what the report groups
by), its library's hyperparameters (the ones given: a documented subset is enough), which
of them sizes the updates (`step_size_key`) and where its starting policy came from. Its
metrics hold what the monitor measured; every metric it could not measure is NaN, as an
update rule's metrics that do not apply are in the suite's own records. Like the suite's
runs, it also writes TensorBoard event files (records.tensorboard) unless told not to.
"""

import hashlib
import json
import math
import re
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from records.store import RecordNotWritten, RunRecord
from records.tensorboard import TensorBoardLog, opened

REQUIRED = ("kl_mean",)
"""What every update of a foreign record measures; `step`, `update` and the returns the
record fills in itself. The other metrics may be left out (NaN)."""


class RunDone(RuntimeError):
    """The run's record is done: it is not written again."""


def plain(value):
    """A hyperparameter as YAML holds it: numbers, strings, booleans, None and lists of them
    as they are, anything else (a schedule, a class) by its repr."""
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, float | np.floating):
        return float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    return repr(value)


def safe_name(text: str) -> str:
    """`text` usable as one folder name (an env id may hold `/` or `:`)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)


class ForeignRun:
    """One run's record, written as its training goes: `start()`, `log(...)` after each
    update, `finish()`; or use it as a context manager, which records an exception as the
    run's failure with its reason. A record that is done is never written again
    (`is_done()`); any other is started afresh, since a foreign loop cannot be resumed
    from the record."""

    def __init__(
        self,
        out_dir: str | Path,
        sweep: str,
        env: str,
        seed: int,
        algo: str,
        hyperparameters: dict,
        step_size_key: str,
        *,
        variant: str | None = None,
        library: str | None = None,
        total_steps: int | None = None,
        warm_start: dict | None = None,
        flush_s: float = 10.0,
        tensorboard: bool = True,
    ):
        if step_size_key not in hyperparameters:
            raise ValueError(f"step_size_key {step_size_key!r} is not one of the hyperparameters "
                             f"given: {', '.join(sorted(hyperparameters))}")  # fmt: skip
        step_size = hyperparameters[step_size_key]
        if not isinstance(step_size, int | float | np.number) or not math.isfinite(step_size):
            raise ValueError(f"the step size {step_size_key}={step_size!r} must be a finite number")
        params = plain(hyperparameters)
        config = {
            "sweep": {"name": sweep},
            "algo": {"name": algo, "variant": variant or algo, **params},
            "env": env,
            "seed": int(seed),
            "total_steps": total_steps,
            "step_size_key": step_size_key,
            "step_size": float(step_size),
            "source": {"library": library or "own code"},
        }
        if warm_start:
            config |= {
                "warm_start_run": warm_start["run"],
                "baseline_return": float(warm_start["baseline_return"]),
                "history_returns": [float(r) for r in warm_start["history_returns"]],
            }
        digest = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:10]
        self.run_id = safe_name(  # the env named as experiments.spec names it: no module
            f"{variant or algo}-{env.split(':')[-1]}-{step_size_key}{float(step_size):g}-s{seed}-{digest}"
        )
        self.config = {"run_id": self.run_id, **config}
        self.record = RunRecord(Path(out_dir) / sweep / self.run_id)
        self.flush_s = flush_s  # metrics.parquet is rewritten at most this often
        self.tensorboard = tensorboard
        self.events: TensorBoardLog | None = None
        self.active = False

    @property
    def dir(self) -> Path:
        return self.record.dir

    def is_done(self) -> bool:
        return self.record.is_done()

    def start(self) -> None:
        """Claim the record (records.lock) and begin it afresh; a done record is refused, so
        that a re-run never writes a finished run twice."""
        if self.is_done():
            raise RunDone(f"{self.run_id} is done: its record in {self.dir} is kept (delete it to "
                          "train the run again)")  # fmt: skip
        self.record.dir.mkdir(parents=True, exist_ok=True)
        self.record.claim()
        self.record.rows = []
        try:
            self.record.start(self.config)
            self.events = opened(self.record.tensorboard_dir, self.tensorboard)
        except RecordNotWritten as unwritten:  # the run ends failed before it began
            self.record.end_unwritten(unwritten)
            self.record.release()
            raise
        self.last_flush = time.monotonic()
        self.active = True

    def log(self, step: int, metrics: dict, episodes: Iterable[tuple[float, float]] = ()) -> dict:
        """Record one update: env steps so far, its measured metrics (algos.metrics names)
        and the (return, length) of each episode that finished in the batch it was
        computed from. Returns the row written."""
        missing = [name for name in REQUIRED if name not in metrics]
        if missing:
            raise ValueError(f"an update's metrics must hold {', '.join(missing)}")
        finished = np.asarray(list(episodes), dtype=float).reshape(-1, 2)
        returns, lengths = finished[:, 0], finished[:, 1]
        row = {
            "step": int(step),
            "update": len(self.record.rows) + 1,
            "return_mean": returns.mean() if len(returns) else math.nan,
            "return_std": returns.std() if len(returns) else math.nan,
            "episode_length": lengths.mean() if len(lengths) else math.nan,
            "episodes": len(returns),
            **metrics,
        }
        flush = time.monotonic() - self.last_flush >= self.flush_s
        self.record.append(row, flush=flush)
        if flush:
            self.last_flush = time.monotonic()
        if self.events:
            self.events.log(row)
        return row

    def finish(self, status: str = "done", reason: str | None = None) -> None:
        """Write the record's final status (a record the machine refuses ends failed, with
        why: records.store.RecordNotWritten) and release it."""
        if self.events:
            status, reason = self.events.close_ending(status, reason)
        self.record.finish(status, reason)
        self.record.release()
        self.active = False

    def __enter__(self) -> "ForeignRun":
        self.start()
        return self

    def __exit__(self, kind, error, traceback) -> None:
        if error is None:
            self.finish("done")
        else:
            why = str(error).splitlines()[0] if str(error) else ""
            self.finish("failed", f"{kind.__name__}: {why}")

    def starting_point(self) -> dict:
        """What a run branched from this one's final policy records as its warm start: this
        run, its first return (the untrained policy's) and its last returns."""
        baseline, history = self.record.starting_returns()
        return {"run": self.run_id, "baseline_return": baseline, "history_returns": history}
