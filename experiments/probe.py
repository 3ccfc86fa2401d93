"""Does one update of a given size destroy the policy? `python experiments/probe.py
run=<run dir>` or `sweep=default`: from each chosen checkpoint, collect one fresh batch with
its policy, take one update along each direction (algos/probe.py) scaled to each target
KL, and one whole update of each update rule at each value of its own knob; evaluate
every updated policy and the unchanged one (the control) over the same M episodes (common
random numbers). Writes <run>/probe/probe.csv, one row per checkpoint × arm, and
<run>/probe/probe.yaml, the settings it was made with: a re-run with the same settings
skips that run.
"""

import math
import sys
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import hydra
import numpy as np
import pandas as pd
import torch
import yaml
from joblib import Parallel, delayed
from omegaconf import DictConfig, OmegaConf
from scipy import stats
from tqdm import tqdm

from algos.allowed import (
    TEXT,
    Allowed,
    ConfigError,
    Int,
    OneOf,
    Real,
    allowed_values,
    check_settings,
    stop_on_bad_input,
)
from algos.policy import GaussianActor, flat_params, set_flat_params
from algos.ppo import PPOConfig
from algos.probe import (
    natural_direction,
    predicted_return_change,
    scale_for_kl,
    update_step,
    vanilla_direction,
)
from algos.registry import KNOBS
from algos.rollout import Batch, episode_returns
from algos.surrogate import update_diagnostics
from algos.train import TrainConfig, make_learner
from experiments.spec import RunSpec
from records.load import initial_return
from records.paths import CONF_DIR, PRETRAIN_SWEEP
from records.record import Record
from records.store import atomic_write_bytes, load_checkpoint
from records.t_interval import t_interval

DIRECTIONS = ("vanilla", "natural", "ppo")
SELECTIONS = ("starting", "done")
SETTINGS = ("episodes", "directions", "targets", "tolerance", "ppo_epsilon", "knobs", "seed",
            "bootstrap", "interval")  # fmt: skip


INTERVALS = (
    "t",
    "percentile",
    "BCa",
)  # of the paired mean change; coverage: benchmarks/probe_coverage.py


def paired_change(
    arm: np.ndarray, control: np.ndarray, resamples: int, seed: int, method: str = "t"
) -> tuple:
    """Mean of arm − control over paired episodes, with its 95% interval: Student's t on
    the paired differences, or a percentile or BCa bootstrap (`resamples`)."""
    diff = arm - control
    if len(diff) < 2 or np.all(diff == diff[0]):
        return float(diff.mean()), float(diff.mean()), float(diff.mean())
    if method == "t":
        return t_interval(diff)
    if method not in ("percentile", "BCa"):
        raise ValueError(f"unknown interval {method!r}; allowed: {', '.join(INTERVALS)}")
    ci = stats.bootstrap((diff,), np.mean, n_resamples=resamples, method=method,
                         random_state=seed).confidence_interval  # fmt: skip
    return float(diff.mean()), float(ci.low), float(ci.high)


def baseline_return(run_dir: Path, stored: dict) -> float:
    """The untrained policy's return, what a gain is measured against (as the collapse rules):
    a warm-started run carries it; otherwise the run's own first return."""
    baseline = stored.get("baseline_return")
    baseline = math.nan if baseline is None else float(baseline)
    return initial_return(Record(run_dir).finite_returns(), baseline)


def candidate_updates(
    actor: GaussianActor, batch: Batch, cfg: DictConfig, seed: int
) -> Iterator[tuple[dict, torch.Tensor | None]]:
    """Every arm's label and its parameters after the one update: each direction scaled to
    each target KL (None where no scale reaches it), then each knob's whole update."""
    theta = flat_params(actor)

    def generator() -> torch.Generator:  # every update its own, so arms do not depend on order
        return torch.Generator().manual_seed(seed)

    directions = {
        "vanilla": lambda: vanilla_direction(actor, batch),
        "natural": lambda: natural_direction(actor, batch),
        "ppo": lambda: update_step(actor, batch, "ppo", {"epsilon": cfg.ppo_epsilon}, generator()),
    }
    for arm in cfg.directions:
        direction = directions[arm]()
        for target in cfg.targets:
            scale = scale_for_kl(actor, batch, direction, target, cfg.tolerance)
            moved = theta + scale * direction if np.isfinite(scale) else None
            yield {"arm": arm, "target_kl": target, "scale": scale}, moved
    for name, values in cfg.knobs.items():
        algo, knob = KNOBS[name]
        for value in values:
            step = update_step(actor, batch, algo, knob.params(value), generator())
            yield {"arm": name, "knob_value": str(value), "scale": 1.0}, theta + step


def probe_checkpoint(config: TrainConfig, state: dict, cfg: DictConfig) -> list[dict]:
    """The rows of one checkpoint: the control, every direction × target KL, every knob value.

    The control is the unchanged policy on a second, independent set of M episodes against
    the first: the change that evaluation noise alone produces. Every other arm is paired
    with the first set (the same starts and action noise), so its interval is the paired one.
    """
    learner = make_learner(config)
    learner.warm_start(state)
    actor, normalizer = learner.actor, learner.collector.obs_normalizer
    batch = learner.collector.collect(actor, learner.critic)
    reward_scale = learner.collector.reward_scaler.std
    learner.collector.close()
    theta = flat_params(actor)

    def evaluate(seed: int) -> tuple[np.ndarray, np.ndarray]:
        return episode_returns(actor, normalizer, config.env_id, cfg.episodes, seed, True,
                               **config.env_kwargs)  # fmt: skip

    control, lengths = evaluate(cfg.seed)
    again, again_lengths = evaluate(cfg.seed + cfg.episodes)
    episode_length = float(lengths.mean())

    def row(theta_new: torch.Tensor | None, **label) -> dict:
        out = {"target_kl": np.nan, "knob_value": None, "scale": np.nan} | label
        if theta_new is None:
            return out
        predicted = predicted_return_change(actor, batch, theta_new, reward_scale, episode_length)
        set_flat_params(actor, theta_new)
        sizes = update_diagnostics(actor, batch, theta)
        returns, arm_lengths = evaluate(cfg.seed)
        set_flat_params(actor, theta)
        change, low, high = paired_change(returns, control, cfg.bootstrap, cfg.seed, cfg.interval)
        return out | {
            "kl_mean": sizes["kl_mean"], "kl_max": sizes["kl_max"],
            "kl_reverse_mean": sizes["kl_reverse_mean"], "ratio_max": sizes["ratio_max"],
            "predicted_change": predicted, "return_mean": float(returns.mean()),
            "episode_length": float(arm_lengths.mean()), "return_change": change,
            "return_change_ci_low": low, "return_change_ci_high": high,
        }  # fmt: skip

    change, low, high = paired_change(again, control, cfg.bootstrap, cfg.seed, cfg.interval)
    rows = [{"arm": "control", "target_kl": np.nan, "knob_value": None, "scale": 0.0,
             "kl_mean": 0.0, "kl_max": 0.0, "kl_reverse_mean": 0.0, "ratio_max": 1.0,
             "predicted_change": 0.0, "return_mean": float(again.mean()),
             "episode_length": float(again_lengths.mean()), "return_change": change,
             "return_change_ci_low": low, "return_change_ci_high": high}]  # fmt: skip
    for label, theta_new in candidate_updates(actor, batch, cfg, config.seed):
        rows.append(row(theta_new, **label))
    return [{"update": state["update"], "control_return": float(control.mean()), **r} for r in rows]


def probe_task(run_dir: Path, checkpoint: Path, cfg: dict) -> list[dict]:
    """One checkpoint in a worker process: its rows, labelled with the run it came from."""
    torch.set_num_threads(1)
    cfg = OmegaConf.create(cfg)
    stored = Record(run_dir).config
    config = RunSpec.from_resolved(stored).config
    rows = probe_checkpoint(config, load_checkpoint(checkpoint), cfg)
    labels = {"run_id": run_dir.name, "env_id": config.env_id, "algo": config.algo,
              "checkpoint": checkpoint.stem, "baseline_return": baseline_return(run_dir, stored)}  # fmt: skip
    return [labels | r for r in rows]


def probed_runs(cfg: DictConfig) -> list[Path]:
    """The run given, or a sweep's runs: its starting policies (the pretrain runs its runs
    were warm-started from) or every done run."""
    if cfg.run is not None:
        return [Path(cfg.run)]
    sweep_dir = Path(cfg.out_dir) / cfg.sweep
    done = [d for d in sorted(sweep_dir.iterdir()) if d.is_dir() and Record(d).is_done()]
    if cfg.select == "done":
        return done
    starting = {Record(d).config.get("warm_start_run") for d in done} - {None}
    if not starting:
        print(f"probe: the runs of sweep {cfg.sweep} were not warm-started (no starting policies "
              "to probe); select=done probes the runs themselves")  # fmt: skip
    return [Path(cfg.out_dir) / PRETRAIN_SWEEP / rid for rid in sorted(starting)]


def chosen_checkpoints(run_dir: Path, which) -> list[Path]:
    saved = Record(run_dir).checkpoints()
    if which == "all":
        return saved
    return saved[-1:] if which == "last" else saved[-int(which) :]


def settings(cfg: DictConfig) -> dict:
    """What the probe's rows depend on: a run probed with the same settings is skipped."""
    plain = OmegaConf.to_container(cfg)
    return {k: plain[k] for k in SETTINGS} | {"checkpoints": cfg.checkpoints}


def already_probed(run_dir: Path, cfg: DictConfig) -> bool:
    return Record(run_dir).probe_settings() == settings(cfg)


def write(run_dir: Path, rows: list[dict], cfg: DictConfig) -> Path:
    """The run's CSV, then its settings: the settings file marks the run as probed."""
    record = Record(run_dir)
    record.probe_table.parent.mkdir(exist_ok=True)
    table = pd.DataFrame(rows).sort_values("update", kind="stable")
    atomic_write_bytes(record.probe_table, table.to_csv(index=False).encode())
    atomic_write_bytes(record.probe_settings_path, yaml.safe_dump(settings(cfg)).encode())
    return record.probe_table


def probe(cfg: DictConfig) -> list[Path]:
    runs = probed_runs(cfg)
    todo = [d for d in runs if not already_probed(d, cfg)]
    tasks = [(d, c) for d in todo for c in chosen_checkpoints(d, cfg.checkpoints)]
    if len(todo) < len(runs):
        print(f"probe: {len(runs) - len(todo)} of {len(runs)} runs already probed with these "
              "settings (skipped)")  # fmt: skip
    arms = 1 + len(cfg.directions) * len(cfg.targets) + sum(len(v) for v in cfg.knobs.values())
    print(f"probe: {len(tasks)} checkpoints of {len(todo)} runs × {arms} arms × "
          f"{cfg.episodes} episodes, {cfg.jobs} jobs")  # fmt: skip
    remaining = defaultdict(int)
    for run_dir, _ in tasks:
        remaining[run_dir] += 1
    rows, written = defaultdict(list), []
    plain = OmegaConf.to_container(cfg)
    results = Parallel(n_jobs=cfg.jobs, return_as="generator_unordered")(
        delayed(probe_task)(d, c, plain) for d, c in tasks
    )
    by_id = {d.name: d for d in todo}
    for part in tqdm(results, total=len(tasks), unit="checkpoint", desc="probe"):
        run_dir = by_id[part[0]["run_id"]]
        rows[run_dir] += part
        remaining[run_dir] -= 1
        if remaining[run_dir] == 0:
            written.append(write(run_dir, rows.pop(run_dir), cfg))
    print("probe: " + (", ".join(str(p) for p in written) or "nothing new"))
    return written


PROBE_KEYS: dict[str, Allowed | None] = {  # conf/probe/probe.yaml's keys; None: check() below
    "run": Allowed(str, optional=True),
    "sweep": Allowed(str, optional=True),
    "out_dir": TEXT,
    "select": OneOf(*SELECTIONS),
    "checkpoints": None,  # last | all | a count
    "episodes": Int(low=2),
    "directions": None,  # a list of DIRECTIONS
    "targets": None,  # a list of positive KLs
    "tolerance": Real(0.0, 1.0),
    "ppo_epsilon": allowed_values(PPOConfig)["epsilon"],
    "knobs": None,  # KNOBS -> their values
    "seed": Int(),
    "bootstrap": Int(low=1),
    "interval": OneOf(*INTERVALS),
    "jobs": Int(low=-1),  # and not 0: joblib's n_jobs
}


def check(cfg: DictConfig) -> None:
    """ConfigError with one line for what cannot be probed, before anything runs."""
    check_settings(OmegaConf.to_container(cfg, resolve=True), PROBE_KEYS)
    if (cfg.run is None) == (cfg.sweep is None):
        raise ConfigError("give run=<run dir> or sweep=<name> (one of them)")
    if cfg.run is not None and not Record(cfg.run).exists():
        raise ConfigError(f"run={cfg.run} is not a run record (a folder with {Record.CONFIG_FILE})")
    if cfg.sweep is not None and not (Path(cfg.out_dir) / cfg.sweep).is_dir():
        raise ConfigError(f"no sweep {cfg.sweep} in out_dir={cfg.out_dir}")
    unknown = sorted(set(cfg.directions) - set(DIRECTIONS))
    if unknown:
        raise ConfigError(f"unknown direction {unknown[0]}; allowed: {', '.join(DIRECTIONS)}")
    unknown = sorted(set(cfg.knobs) - set(KNOBS))
    if unknown:
        raise ConfigError(f"unknown knob {unknown[0]}; allowed: {', '.join(KNOBS)}")
    for name, values in cfg.knobs.items():
        knob = KNOBS[name][1]
        bad = [v for v in values if v != "none" and not (isinstance(v, int | float) and v > 0)]
        if bad or ("none" in values and knob.none_means is None):
            nones = [
                f"none for {k}: {kn.none_means}" for k, (_, kn) in KNOBS.items() if kn.none_means
            ]
            raise ConfigError(f"knobs.{name}={list(values)}; allowed: positive numbers "
                              f"(and {', '.join(nones)})")  # fmt: skip
    which = str(cfg.checkpoints)
    if which not in ("last", "all") and not (which.isdigit() and int(which) > 0):
        raise ConfigError(f"checkpoints={which}; allowed: last, all, or a count n (the last n)")
    if not all(isinstance(t, int | float) and t > 0 for t in cfg.targets):
        raise ConfigError(f"targets={list(cfg.targets)}; allowed: positive KLs (nats)")
    if cfg.jobs == 0:
        raise ConfigError("jobs=0; allowed: a number of processes >= 1, or -1 (every core)")


@hydra.main(config_path=str(CONF_DIR / "probe"), config_name="probe", version_base="1.3")
def main(cfg: DictConfig) -> None:
    torch.set_num_threads(1)
    with stop_on_bad_input():
        check(cfg)
    probe(cfg)


if __name__ == "__main__":
    sys.exit(main())
