"""One training run: `python experiments/run.py algo=trpo delta=0.01 env=Hopper-v5 seed=1`.

Validates the config (one-line error, nothing written), skips the run if its record is
already `done`, continues an attempt that was stopped (killed, interrupted, preempted) from
its last checkpoint, trains with a progress bar, writes the run record and mirrors it to
W&B. SIGTERM/SIGUSR2 stop it at the next update with a checkpoint (experiments/stop_signals).
"""

import sys
from pathlib import Path

import hydra
import numpy as np
import torch
import yaml
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, open_dict
from tqdm import tqdm

from algos.registry import variant
from algos.train import Preempted, train
from experiments.objective import objective
from experiments.spec import RunSpec
from experiments.stop_signals import StopSignals
from experiments.validate import (
    ConfigError,
    check_writable,
    compose_run_config,
    validate,
    without_sweeps,
)
from experiments.wandb_mirror import WandbMirror
from experiments.warm_start import starting_state
from records.lock import LockLost, RunLocked
from records.paths import CONF_DIR
from records.store import RunRecord


def run(cfg: DictConfig, show_progress: bool = True) -> str:
    """Train the run a composed config describes unless its record is done; returns its
    final status. Raises ConfigError (one line) for a config that is not allowed."""
    return train_run(RunSpec.from_cfg(cfg), show_progress)


def train_run(spec: RunSpec, show_progress: bool = True) -> str:
    """Train the run `spec` describes unless its record is done; returns its final status."""
    rid, config, cfg = spec.run_id, spec.config, spec.resolved
    record = RunRecord(spec.record_dir)
    if record.is_done():
        print(f"skip {rid}: already done ({record.dir})")
        return "done"
    try:
        note = record.claim()
    except RunLocked as locked:
        print(f"skip {locked}")
        return "locked"
    if note:
        print(f"{rid}: {note}")
    begun = begin_attempt(spec, record)
    if begun is None:
        return "failed"
    stored, start_state, resume_state = begun
    wandb = cfg["wandb"]
    mirror = WandbMirror(
        wandb["mode"], wandb["project"], wandb["entity"], wandb["group"] or spec.sweep,
        rid, record.dir, stored | {"variant": variant(stored["algo"])}, spec.tags,
        record.meta.get("wandb_id"),
    )  # fmt: skip
    if resume_state is not None and not mirror.resumed:  # a new W&B run: give it the updates so far
        for row in record.rows:
            mirror.log(row)
    record.meta["wandb_id"] = mirror.run.id
    record.write_status("running")
    done = resume_state["update"] if resume_state else 0
    bar = tqdm(total=config.num_updates, initial=done, unit="update", desc=rid,
               disable=not show_progress)  # fmt: skip

    def on_update(row: dict) -> None:
        record.append(row, flush=row["update"] % cfg["flush_every"] == 0)
        mirror.log(row)
        bar.update()
        bar.set_postfix(return_mean=f"{row['return_mean']:.1f}", kl_mean=f"{row['kl_mean']:.2e}")

    status, reason = "failed", None
    with StopSignals() as signals:
        try:
            train(config, on_update, start_state, cfg["checkpoints"], record.save_checkpoint,
                  resume_state, signals.requested, cfg["compile"])  # fmt: skip
            status = "done"
        except Preempted as stop:
            status, reason = "preempted", str(stop)
        except LockLost as lost:
            status, reason = "lost", str(lost)
        except KeyboardInterrupt:
            status, reason = "interrupted", "interrupted (Ctrl-C); resumes from its last checkpoint"
            raise
        except Exception as error:  # recorded as the run's failure; a sweep goes on
            reason = f"{type(error).__name__}: {error}"
        finally:
            bar.close()
            if status == "lost":  # the record is the other attempt's now: nothing is written
                mirror.abandon()
            else:
                mirror.finish(record.finish(status, reason))
            record.release()
            print(
                f"{status}: {rid}" + (f" ({reason})" if reason else "") + f"\nrecord: {record.dir}"
            )
    if status == "preempted":
        signals.hand_over()
    return status


def begin_attempt(spec: RunSpec, record: RunRecord) -> tuple | None:
    """(the config the record holds, the warm start's state, the run's own checkpoint to
    resume from): a stopped attempt with a checkpoint continues from it; otherwise the run
    starts afresh, warm-started if it asks. None when its starting policy could not be had
    (recorded as failed)."""
    resume_state, note = record.resume_state()
    if note:
        print(f"{spec.run_id}: {note}")
    if resume_state is not None:
        record.resume(resume_state["update"])
        print(f"{spec.run_id}: resuming after update {resume_state['update']}")
        return yaml.safe_load((record.dir / "config.yaml").read_text()), None, resume_state
    if not spec.config.warm_start:
        stored = spec.stored_config()
        record.start(stored)
        return stored, None, None
    try:
        warm = starting_state(spec, train_run)
    except Exception as error:  # the run cannot start: recorded as failed, a sweep goes on
        record.start(spec.stored_config())
        record.finish("failed", f"{type(error).__name__}: {error}")
        record.release()
        print(f"failed: {spec.run_id} ({error})\nrecord: {record.dir}")
        return None
    stored = spec.stored_config(warm_start_run=warm.run_id, baseline_return=warm.baseline_return,
                                history_returns=warm.history_returns)  # fmt: skip
    record.start(stored)
    return stored, warm.state, None


def trial(cfg: DictConfig, show_progress: bool) -> float:
    """The number an optimising sweeper gets: the run's `trial.metric`, or with
    `trial.seeds` the mean over one run per seed (each its own record)."""
    values = []
    for seed in cfg.trial.seeds or [cfg.seed]:
        seeded = cfg.copy()
        with open_dict(seeded):
            seeded.seed = seed
        spec = RunSpec.from_cfg(seeded)
        train_run(spec, show_progress)
        values.append(objective(spec.record_dir, cfg.trial.metric))
    value = float(np.mean(values))
    seeds = ", ".join(map(str, cfg.trial.seeds or [cfg.seed]))
    print(f"trial: {cfg.trial.metric} = {value:.6g} (seeds {seeds})")
    return value


@hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")
def hydra_main(cfg: DictConfig) -> str | float:
    """The run's status; a number when `trial.metric` asks for one (an optimising sweep)."""
    torch.set_num_threads(cfg.torch_threads)
    multirun = HydraConfig.get().mode == RunMode.MULTIRUN
    show_progress = cfg.progress and not multirun
    if cfg.trial.metric is not None:
        return trial(cfg, show_progress)
    status = run(cfg, show_progress=show_progress)
    if status == "failed" and not multirun:
        sys.exit(1)
    return status


def main() -> None:
    """Check the config before Hydra starts, so a bad one costs one line and no record.

    A single run is validated whole; for a sweep, the parts shared by every job are
    composed here and the sweeper validates each job before launching any.
    """
    args = sys.argv[1:]
    try:
        if any(arg in ("-m", "--multirun") for arg in args):
            shared = compose_run_config(without_sweeps(args))
            check_writable(
                shared.out_dir
            )  # the sweep's folder holds its records (and a study's db)
            (Path(shared.out_dir) / shared.sweep.name).mkdir(parents=True, exist_ok=True)
        else:
            validate(compose_run_config(args))
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    hydra_main()


if __name__ == "__main__":
    main()
