"""TensorBoard event files in a run's record, beside its W&B run: each row's metrics under the
record's own names, at global_step = the row's `step`, so that `tensorboard --logdir
runs/<sweep>` shows every run of a study on the axis W&B plots them against.

The folder (records.record.Record.tensorboard_dir) is written afresh by each attempt: the
writer clears it, and the caller logs the rows the record holds so far (none for a new run;
those kept for a resumed one) before the new ones. So the event files hold each step once,
whatever an earlier attempt left there (a killed attempt's unflushed or later steps
included). A write the machine refuses raises RecordNotWritten, as the record's other
files' writes do.
"""

import math
import shutil
import threading
from pathlib import Path

from records.store import RecordNotWritten, written

WRITER_THREADS = "tensorboard.summary.writer.event_file_writer"  # where its writer thread is


def quiet_on_refused_writes(previous):
    """threading's excepthook, silent on the OSError that ends an event-file writer's thread
    (a full disk): the writer raises it again at its next call, where it becomes
    RecordNotWritten in one line; the thread's traceback would only say it twice."""

    def hook(args) -> None:
        if type(args.thread).__module__ == WRITER_THREADS and issubclass(args.exc_type, OSError):
            return
        previous(args)

    hook.quiet_on_refused_writes = True
    return hook


def discard(directory: Path) -> None:
    """Remove a record's event files (a run that writes none must not keep an earlier
    attempt's)."""
    shutil.rmtree(directory, ignore_errors=True)


def opened(directory: Path, enabled: bool) -> "TensorBoardLog | None":
    """A record's event files in `directory`, written afresh; when not `enabled`, none (and
    no earlier attempt's either)."""
    if enabled:
        return TensorBoardLog(directory)
    discard(directory)
    return None


class TensorBoardLog:
    def __init__(self, directory: Path):
        from torch.utils.tensorboard import SummaryWriter  # imports tensorboard: only when used

        discard(directory)
        if not getattr(threading.excepthook, "quiet_on_refused_writes", False):
            threading.excepthook = quiet_on_refused_writes(threading.excepthook)
        self.name = Path(directory).name
        with written(self.name):
            self.writer = SummaryWriter(log_dir=str(directory))

    def log(self, row: dict) -> None:
        """One row's metrics, each a scalar at the row's step; NaN ones (a metric the update
        rule has not) left out, as W&B leaves them out."""
        step = int(row["step"])
        with written(self.name):
            for name, value in row.items():
                value = float(value)
                if not math.isnan(value):
                    self.writer.add_scalar(name, value, global_step=step)

    def close(self) -> None:
        with written(self.name):
            self.writer.close()

    def close_ending(self, status: str, reason: str | None) -> tuple[str, str | None]:
        """Close the event files as a run ends with `status`: a run that ends done but whose
        event files the machine refuses ends failed, with why."""
        try:
            self.close()
        except RecordNotWritten as unwritten:
            if status == "done":
                return "failed", f"{type(unwritten).__name__}: {unwritten}"
        return status, reason
