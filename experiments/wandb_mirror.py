"""Mirror of the run record in Weights & Biases: same config, same metric names.

Offline by default (no account, no network; `wandb sync` uploads later). The API key is
read by wandb itself from the environment or `wandb login` and never passes through here.
"""

import math
from pathlib import Path

import wandb

from records.schema import STATUS_FIELDS


class WandbMirror:
    def __init__(
        self, mode: str, project: str, entity: str | None, group: str, name: str,
        directory: Path, config: dict, tags: list[str], run_id: str | None = None,
    ):  # fmt: skip
        """A new W&B run, or with `run_id` the same run continued (a resumed attempt: W&B
        keeps the steps it has and takes the later ones). If W&B will not continue it (the
        stopped attempt's W&B process may still hold the id), a new run is started and
        `resumed` is False: the caller logs the record's earlier updates into it."""
        settings = wandb.Settings(console="off", x_disable_stats=True, silent=True)
        common = dict(mode=mode, project=project, entity=entity, group=group, name=name,
                      job_type="train", dir=str(directory), config=config, tags=tags,
                      reinit="create_new", settings=settings)  # fmt: skip
        self.resumed = run_id is not None
        try:
            self.run = wandb.init(id=run_id, resume="allow" if run_id else None, **common)
        except Exception:  # W&B refuses in several error types
            if run_id is None:
                raise
            self.resumed = False
            self.run = wandb.init(**common)

    def log(self, row: dict) -> None:
        self.run.log({k: v for k, v in row.items() if not _is_nan(v)}, step=int(row["step"]))

    def finish(self, status_body: dict) -> None:
        """End the W&B run with the record's final status fields in its summary, which is
        where `records.load.load_wandb` reads them back."""
        for key in STATUS_FIELDS:
            if status_body.get(key) is not None:
                self.run.summary[key] = status_body[key]
        self.run.finish(exit_code=0 if status_body["status"] == "done" else 1)


def _is_nan(value) -> bool:
    return isinstance(value, float) and math.isnan(value)
