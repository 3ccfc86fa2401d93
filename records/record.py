"""A run's record as it lies on disk, read through one object: Record is the only code that
knows the names of a record's files (what they hold: records.schema). The writer
(records.store.RunRecord) is a Record too, and every reader, the report's loader included,
opens one, so a record is found, parsed and read one way everywhere.
"""

import json
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from records.schema import METRICS

SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's: same result, ~10x faster


def checkpoint_update(path: Path) -> int:
    """k of a checkpoint's name, update_<k>.pt."""
    return int(path.stem.split("_")[1])


def checkpoint_name(update: int) -> str:
    return f"update_{update}.pt"


def with_every_metric(metrics: pd.DataFrame) -> pd.DataFrame:
    """A record's metrics with every column METRICS declares: one written before a metric
    existed has it NaN, as a rule it does not apply to has."""
    if metrics.empty or set(METRICS) <= set(metrics.columns):
        return metrics
    return metrics.reindex(columns=[*METRICS, *(c for c in metrics if c not in METRICS)])


def records_under(directory: str | Path, depth: int = 1) -> list["Record"]:
    """The records `depth` folders below `directory` (1: a sweep's, 2: every sweep's of an
    out_dir) that have a status, in the order of their paths."""
    pattern = "/".join(["*"] * depth + [Record.STATUS_FILE])
    return [Record(path.parent) for path in sorted(Path(directory).glob(pattern))]


class Record:
    """One run's record directory. Its config is parsed once (libyaml's safe loader); its
    status and metrics are read afresh at each call, as a run may be writing them."""

    CONFIG_FILE = "config.yaml"
    STATUS_FILE = "status.json"
    METRICS_FILE = "metrics.parquet"
    LOCK_FILE = "lock"
    CHECKPOINTS_DIR = "checkpoints"
    TENSORBOARD_DIR = "tensorboard"
    WANDB_DIR = "wandb"  # where wandb puts its run when given the record's directory
    PROBE_DIR = "probe"  # the one-update probe's table, then its settings (experiments.probe)
    EVALUATE_DIR = "evaluate"  # evaluations of the run's policy (experiments.evaluate)

    def __init__(self, directory: str | Path):
        self.dir = Path(directory)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.dir)!r})"

    @property
    def config_path(self) -> Path:
        return self.dir / self.CONFIG_FILE

    @property
    def status_path(self) -> Path:
        return self.dir / self.STATUS_FILE

    @property
    def metrics_path(self) -> Path:
        return self.dir / self.METRICS_FILE

    @property
    def checkpoint_dir(self) -> Path:
        return self.dir / self.CHECKPOINTS_DIR

    @property
    def tensorboard_dir(self) -> Path:
        return self.dir / self.TENSORBOARD_DIR

    @property
    def wandb_dir(self) -> Path:
        return self.dir / self.WANDB_DIR

    @property
    def lock_path(self) -> Path:
        return self.dir / self.LOCK_FILE

    @property
    def probe_table(self) -> Path:
        return self.dir / self.PROBE_DIR / "probe.csv"

    @property
    def probe_settings_path(self) -> Path:
        """Written after the table: a record holding it has been probed with its settings."""
        return self.dir / self.PROBE_DIR / "probe.yaml"

    @property
    def evaluate_dir(self) -> Path:
        return self.dir / self.EVALUATE_DIR

    def exists(self) -> bool:
        """Whether the directory holds a record: a run writes its config first."""
        return self.config_path.exists()

    @cached_property
    def config(self) -> dict:
        """The resolved config the run recorded; raises when it has none or it is damaged."""
        return yaml.load(self.config_path.read_text(), Loader=SAFE_LOADER)

    def probe_settings(self) -> dict | None:
        """The settings the probe's table was made with; None when it has none (yet)."""
        if not self.probe_settings_path.exists():
            return None
        return yaml.load(self.probe_settings_path.read_text(), Loader=SAFE_LOADER)

    def read_status(self) -> dict:
        """Its status.json; raises when it has none or it is damaged."""
        return json.loads(self.status_path.read_text())

    def status(self) -> dict | None:
        """Its status, or None when it has none or it is damaged."""
        try:
            return self.read_status()
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def is_done(self) -> bool:
        status = self.status()
        return bool(status) and status["status"] == "done" and self.has_metrics()

    def has_metrics(self) -> bool:
        return self.metrics_path.exists()

    def metrics(self, columns: list[str] | None = None) -> pd.DataFrame:
        """One row per update: every column METRICS declares (NaN where the record predates
        it), or only `columns`."""
        if columns is not None:
            return pd.read_parquet(self.metrics_path, columns=columns)
        return with_every_metric(self.written_metrics())

    def written_metrics(self) -> pd.DataFrame:
        """The metrics with the columns the run wrote, no more: what a bit-for-bit comparison
        of two records reads."""
        return pd.read_parquet(self.metrics_path)

    def finite_returns(self) -> np.ndarray:
        """The run's return_mean per update, updates with no finished episode left out: its
        first is the run's initial return (records.load.initial_return)."""
        values = self.metrics(columns=["return_mean"])["return_mean"].to_numpy()
        return values[np.isfinite(values)]

    def checkpoints(self) -> list[Path]:
        """The run's checkpoints, in update order."""
        return sorted(self.checkpoint_dir.glob(checkpoint_name("*")), key=checkpoint_update)

    def last_checkpoint(self) -> Path | None:
        saved = self.checkpoints()
        return saved[-1] if saved else None
