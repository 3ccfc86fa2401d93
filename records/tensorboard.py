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
from pathlib import Path

from records.store import written


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
