"""Mirror of the run record in Weights & Biases: same config, same metric names.

Offline by default (no account, no network; `wandb sync` uploads later). The API key is
read by wandb itself from the environment or `wandb login` and never passes through here.
"""

import math
from pathlib import Path

import wandb

from records.schema import STATUS_FIELDS

ONLINE_WAIT_S = 30  # how long an online run waits for W&B before it logs offline instead
STEP_AXIS = "global_step"  # the x-axis CleanRL, SB3, Tianshou and openrlbenchmark plot against


def login_problem(mode: str) -> str | None:
    """Why W&B cannot start in `mode` here, before any run starts: online needs an API key
    (from WANDB_API_KEY, `wandb login`'s .netrc or a settings file; never prompted for)."""
    if mode != "online" or wandb.login(verify=False, prompt=False):
        return None
    return ("wandb.mode=online needs a W&B API key and none is set: run `wandb login` or set "
            "WANDB_API_KEY, or keep wandb.mode=offline (the default) and upload later with "
            "`wandb sync`")  # fmt: skip


class WandbMirror:
    def __init__(
        self, mode: str, project: str, entity: str | None, group: str, name: str,
        directory: Path, config: dict, tags: list[str], run_id: str | None = None,
    ):  # fmt: skip
        """A new W&B run, or with `run_id` the same run continued (a resumed attempt: W&B
        keeps the steps it has and takes the later ones). If W&B will not continue it (the
        stopped attempt's W&B process may still hold the id), a new run is started and
        `resumed` is False: the caller logs the record's earlier updates into it. An online
        run that W&B does not answer within ONLINE_WAIT_S logs offline, and says so."""
        settings = wandb.Settings(console="off", x_disable_stats=True, silent=True,
                                  init_timeout=ONLINE_WAIT_S)  # fmt: skip
        common = dict(project=project, entity=entity, group=group, name=name,
                      job_type="train", dir=str(directory), config=config, tags=tags,
                      reinit="create_new", settings=settings)  # fmt: skip
        try:
            self.run = self.start(mode, run_id, common)
        except wandb.errors.CommError as unreachable:
            if mode != "online":
                raise
            cause = str(unreachable).splitlines()[0]
            print(f"{name}: W&B did not answer within {ONLINE_WAIT_S} s ({cause}); this run "
                  f"logs offline: upload it later with `wandb sync {directory}/wandb/offline-run-*`")  # fmt: skip
            self.run = self.start("offline", run_id, common)
        self.run.define_metric(STEP_AXIS)
        self.run.define_metric("*", step_metric=STEP_AXIS)

    def start(self, mode: str, run_id: str | None, common: dict):
        self.resumed = run_id is not None
        try:
            return wandb.init(mode=mode, id=run_id, resume="allow" if run_id else None, **common)
        except wandb.errors.CommError:
            raise
        except Exception:  # W&B refuses to continue a run in several error types
            if run_id is None:
                raise
            self.resumed = False
            return wandb.init(mode=mode, **common)

    def log(self, row: dict) -> None:
        """One update's metrics, under the record's names, at its env step: `step` as the
        record has it, and again as STEP_AXIS, the step axis every metric is declared on."""
        logged = {k: v for k, v in row.items() if not _is_nan(v)}
        self.run.log({**logged, STEP_AXIS: int(row["step"])}, step=int(row["step"]))

    def finish(self, status_body: dict) -> None:
        """End the W&B run with the record's final status fields in its summary, which is
        where `records.load.load_wandb` reads them back."""
        for key in STATUS_FIELDS:
            if status_body.get(key) is not None:
                self.run.summary[key] = status_body[key]
        self.run.finish(exit_code=0 if status_body["status"] == "done" else 1)

    def abandon(self) -> None:
        """End the W&B run of an attempt that lost its lock, with no status: the attempt that
        took the lock writes the run's record and its summary."""
        self.run.finish(exit_code=1)


def _is_nan(value) -> bool:
    return isinstance(value, float) and math.isnan(value)
