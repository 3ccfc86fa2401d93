"""A recorded run's policy at any update, not only at its checkpoints: the newest checkpoint
at or before that update, trained on to it as the run trained (a resume continues a run
bit-identically), each replayed update compared with the record's metrics. So any run can
be evaluated or filmed just before and just after any one of its updates.
"""

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from algos.metrics import METRICS
from algos.train import Learner, Preempted, TrainConfig, make_learner, train
from records.paths import PRETRAIN_SWEEP
from records.record import Record, checkpoint_update
from records.store import load_checkpoint
from records.train_config import train_config

TIMING = ("sps", "rollout_s", "update_s")  # wall-clock columns: never equal on a replay


@dataclass
class PolicyAt:
    learner: Learner  # its actor and observation normaliser are the policy after `update`
    config: TrainConfig
    update: int
    state: dict | None  # the full training state after `update` (None: update 0, no checkpoint)
    replayed: int  # updates trained from the checkpoint to reach it
    # None: every replayed update equals the record's; else where the first one differs
    differs: str | None


def recorded_updates(run_dir: Path) -> int:
    status = Record(run_dir).status() or {}
    return int(status.get("updates") or 0)


def policy_at(run_dir: Path, update: int, after: PolicyAt | None = None) -> PolicyAt:
    """The run's policy after `update` (0: the policy it started from), replayed with the
    run's own torch threads; from `after` (this run's policy at an earlier update) instead
    of a checkpoint when it is the nearer. Raises ValueError, one line, when the run has no
    such update or nothing to replay it from."""
    run_dir = Path(run_dir)
    stored = Record(run_dir).config
    threads = torch.get_num_threads()
    torch.set_num_threads(stored["torch_threads"])
    try:
        return replay(run_dir, stored, update, after)
    finally:
        torch.set_num_threads(threads)


def replay(run_dir: Path, stored: dict, update: int, after: PolicyAt | None) -> PolicyAt:
    config = train_config(stored)
    recorded = recorded_updates(run_dir)
    if not 0 <= update <= recorded:
        raise ValueError(
            f"update {update} is not one of the run's: it recorded updates 1–{recorded}"
        )
    saved = [c for c in Record(run_dir).checkpoints() if checkpoint_update(c) <= update]
    state = load_checkpoint(saved[-1]) if saved else None
    if (
        after is not None
        and after.state is not None
        and after.update <= update
        and (state is None or after.update > state["update"])
    ):
        state = after.state
    start_state = (starting_checkpoint(run_dir, stored)
                   if state is None and config.warm_start else None)  # fmt: skip
    if (state["update"] if state else 0) == update:
        learner = make_learner(config)
        if state is not None:
            learner.resume(state)
        elif start_state is not None:
            learner.warm_start(start_state)
        return PolicyAt(learner, config, update, state, 0, None)
    rows, reached = [], {}
    try:
        train(config, rows.append, start_state, 0, lambda _, snapshot: reached.update(state=snapshot),
              state, lambda: rows[-1]["update"] >= update, stored["compile"])  # fmt: skip
    except Preempted:  # how train stops at a request: here, after `update`
        pass
    learner = make_learner(config)
    learner.resume(reached["state"])
    return PolicyAt(learner, config, update, reached["state"], len(rows),
                    first_difference(run_dir, rows))  # fmt: skip


def starting_checkpoint(run_dir: Path, stored: dict) -> dict:
    """The state a warm-started run began from: its pretrain run's last checkpoint."""
    pretrain = Record(run_dir.parent.parent / PRETRAIN_SWEEP / stored["warm_start_run"])
    checkpoint = pretrain.last_checkpoint()
    if checkpoint is None:
        raise ValueError(f"its starting policy's record {pretrain.dir} has no checkpoint")
    return load_checkpoint(checkpoint)


def first_difference(run_dir: Path, rows: list[dict]) -> str | None:
    """Where the replayed updates part from the record (timing aside), or None."""
    recorded = Record(run_dir).metrics().set_index("update")
    for row in rows:
        kept = recorded.loc[row["update"]]
        for name in METRICS:
            if name in TIMING or name == "update":
                continue
            mine, theirs = float(row[name]), float(kept[name])
            if not (mine == theirs or (math.isnan(mine) and math.isnan(theirs))):
                return (f"replayed update {row['update']} differs from the record in {name} "
                        f"({mine!r} against {theirs!r}; relative {relative(mine, theirs):.1e})")  # fmt: skip
    return None


def relative(a: float, b: float) -> float:
    return float(abs(a - b) / max(abs(b), np.finfo(float).tiny))
