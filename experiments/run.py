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
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, open_dict

from algos.allowed import named_function, stop_on_bad_input
from experiments.attempt import train_run, train_runs
from experiments.spec import RunSpec
from experiments.validate import (
    check_writable,
    compose_run_config,
    validate,
    without_sweeps,
)
from records.numerics import pinned, reexec_pinned
from records.paths import CONF_DIR


def run(cfg: DictConfig, show_progress: bool = True) -> str:
    """Train the run a composed config describes unless its record is done; returns its
    final status. Raises ConfigError (one line) for a config that is not allowed."""
    return train_run(RunSpec.from_cfg(cfg), show_progress)


def run_population(cfg: DictConfig, overrides: list[str], show_progress: bool) -> list[str]:
    """Train the runs a population job lists (`members`: each member's overrides on top of
    the job's own) side by side; returns their statuses."""
    shared = [o for o in overrides if not o.startswith("members=")]
    specs = [RunSpec.from_cfg(compose_run_config([*shared, *member.split()]))
             for member in cfg.members]  # fmt: skip
    return train_runs(specs, show_progress)


def trial(cfg: DictConfig, show_progress: bool) -> float:
    """The number an optimising sweeper gets: the run's `trial.metric`, or with
    `trial.seeds` the mean over one run per seed (each its own record)."""
    judge = named_function(cfg.trial.metric, ("record_dir",))
    values = []
    for seed in cfg.trial.seeds or [cfg.seed]:
        seeded = cfg.copy()
        with open_dict(seeded):
            seeded.seed = seed
        spec = RunSpec.from_cfg(seeded)
        train_run(spec, show_progress)
        values.append(float(judge(spec.record_dir)))
    value = float(np.mean(values))
    seeds = ", ".join(map(str, cfg.trial.seeds or [cfg.seed]))
    print(f"trial: {cfg.trial.metric} = {value:.6g} (seeds {seeds})")
    return value


@hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")
def hydra_main(cfg: DictConfig) -> str | float | list[str]:
    """The run's status (a population job's: its members'); a number when `trial.metric`
    asks for one (an optimising sweep)."""
    torch.set_num_threads(cfg.torch_threads)
    if pinned():
        torch.use_deterministic_algorithms(True)
    multirun = HydraConfig.get().mode == RunMode.MULTIRUN
    show_progress = cfg.progress and not multirun
    if cfg.trial.metric is not None:
        return trial(cfg, show_progress)
    if cfg.members:
        statuses = run_population(cfg, list(HydraConfig.get().overrides.task), show_progress)
        if "failed" in statuses and not multirun:
            sys.exit(1)
        return statuses
    status = run(cfg, show_progress=show_progress)
    if status == "failed" and not multirun:
        sys.exit(1)
    return status


def main() -> None:
    """Check the config before Hydra starts, so a bad one costs one line and no record.

    A single run is validated whole; for a sweep, the parts shared by every job are
    composed here and the sweeper validates each job before launching any.

    In reproducible mode (records.numerics) the process re-executes itself with the CPU
    kernels pinned, before it trains; a sweep's jobs inherit the pins.
    """
    args = sys.argv[1:]
    with stop_on_bad_input():
        if any(arg in ("-m", "--multirun") for arg in args):
            cfg = compose_run_config(without_sweeps(args))
            check_writable(cfg.out_dir)  # the sweep's folder holds its records (and a study's db)
            (Path(cfg.out_dir) / cfg.sweep.name).mkdir(parents=True, exist_ok=True)
        else:
            cfg = compose_run_config(args)
            validate(cfg)
    if cfg.reproducible and not pinned():
        reexec_pinned()
    hydra_main()


if __name__ == "__main__":
    main()
