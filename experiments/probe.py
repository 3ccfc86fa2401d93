"""`python experiments/probe.py run=runs/default/<run_id>`: does one update of a given size
destroy the policy? From each chosen checkpoint of the run: collect one fresh batch with
its policy, take one update along each direction (algos/probe.py) scaled to each target
KL, and evaluate every updated policy and the unchanged one (the control) over the same M
episodes (common random numbers). Writes <run>/probe/probe.csv, one row per checkpoint ×
arm.
"""

import sys
from pathlib import Path

import hydra
import numpy as np
import pandas as pd
import torch
import yaml
from omegaconf import DictConfig, OmegaConf
from scipy import stats
from tqdm import tqdm

from algos.policy import flat_params, set_flat_params
from algos.ppo import PPOConfig
from algos.probe import (
    natural_direction,
    ppo_direction,
    scale_for_kl,
    surrogate_change,
    vanilla_direction,
)
from algos.rollout import episode_returns
from algos.surrogate import update_diagnostics
from algos.train import make_learner
from experiments.record import RunRecord, atomic_write_bytes, load_checkpoint
from experiments.validate import train_config

CONF_DIR = str(Path(__file__).resolve().parent.parent / "conf")
DIRECTIONS = ("vanilla", "natural", "ppo")


def paired_change(arm: np.ndarray, control: np.ndarray, resamples: int, seed: int) -> tuple:
    """Mean of arm − control over paired episodes, with its 95% percentile-bootstrap interval."""
    diff = arm - control
    if len(diff) < 2 or np.all(diff == diff[0]):
        return float(diff.mean()), float(diff.mean()), float(diff.mean())
    ci = stats.bootstrap((diff,), np.mean, n_resamples=resamples, method="percentile",
                         random_state=seed).confidence_interval  # fmt: skip
    return float(diff.mean()), float(ci.low), float(ci.high)


def probe_checkpoint(config, state: dict, cfg: DictConfig, name: str, bar) -> list[dict]:
    """The rows of one checkpoint: the control, then every direction × target KL."""
    learner = make_learner(config)
    learner.warm_start(state)
    actor, normalizer = learner.actor, learner.collector.obs_normalizer
    batch = learner.collector.collect(actor, learner.critic)
    learner.collector.close()
    theta = flat_params(actor)
    generator = torch.Generator().manual_seed(config.seed)
    ppo = PPOConfig(epsilon=cfg.ppo_epsilon)  # the other settings: PPO's defaults
    directions = {
        "vanilla": lambda: vanilla_direction(actor, batch),
        "natural": lambda: natural_direction(actor, batch),
        "ppo": lambda: ppo_direction(actor, batch, ppo, generator),
    }

    def evaluate() -> tuple[np.ndarray, np.ndarray]:
        return episode_returns(actor, normalizer, config.env_id, cfg.episodes, cfg.seed, True)

    control, control_lengths = evaluate()
    bar.update()
    rows = [{"checkpoint": name, "arm": "control", "target_kl": np.nan, "scale": 0.0,
             "kl_mean": 0.0, "kl_reverse_mean": 0.0, "predicted_change": 0.0,
             "return_mean": control.mean(), "episode_length": control_lengths.mean(),
             "return_change": 0.0, "return_change_ci_low": 0.0, "return_change_ci_high": 0.0}]  # fmt: skip
    for arm in cfg.directions:
        direction = directions[arm]()
        for target in cfg.targets:
            scale = scale_for_kl(actor, batch, direction, target, cfg.tolerance)
            row = {"checkpoint": name, "arm": arm, "target_kl": target, "scale": scale}
            if np.isfinite(scale):
                moved = theta + scale * direction
                predicted = surrogate_change(actor, batch, moved)
                set_flat_params(actor, moved)
                sizes = update_diagnostics(actor, batch, theta)
                returns, lengths = evaluate()
                set_flat_params(actor, theta)
                change, low, high = paired_change(returns, control, cfg.bootstrap, cfg.seed)
                row.update(kl_mean=sizes["kl_mean"], kl_reverse_mean=sizes["kl_reverse_mean"],
                           predicted_change=predicted, return_mean=returns.mean(),
                           episode_length=lengths.mean(), return_change=change,
                           return_change_ci_low=low, return_change_ci_high=high)  # fmt: skip
            rows.append(row)
            bar.update()
    return rows


def probe(cfg: DictConfig) -> Path:
    run_dir = Path(cfg.run)
    stored = yaml.safe_load((run_dir / "config.yaml").read_text())
    config = train_config(OmegaConf.create(stored))
    saved = RunRecord(run_dir).checkpoints()
    if not saved:
        raise SystemExit(f"error: {run_dir} has no checkpoints/update_<k>.pt")
    chosen = saved if cfg.checkpoints == "all" else saved[-1:]
    arms = 1 + len(cfg.directions) * len(cfg.targets)
    rows = []
    with tqdm(total=len(chosen) * arms, unit="arm", desc=run_dir.name) as bar:
        for path in chosen:
            rows += probe_checkpoint(config, load_checkpoint(path), cfg, path.stem, bar)
    out = run_dir / "probe"
    out.mkdir(exist_ok=True)
    atomic_write_bytes(out / "probe.csv", pd.DataFrame(rows).to_csv(index=False).encode())
    print(f"probe: {out / 'probe.csv'} ({len(chosen)} checkpoints × {arms} arms, "
          f"{cfg.episodes} episodes each)")  # fmt: skip
    return out / "probe.csv"


def check(cfg: DictConfig) -> None:
    """One line for what cannot be probed, before anything runs."""
    if cfg.run is None or not (Path(cfg.run) / "config.yaml").exists():
        raise SystemExit(f"error: run={cfg.run} is not a run record (a folder with config.yaml)")
    unknown = sorted(set(cfg.directions) - set(DIRECTIONS))
    if unknown:
        raise SystemExit(f"error: unknown direction {unknown[0]}; allowed: {', '.join(DIRECTIONS)}")
    if cfg.checkpoints not in ("last", "all"):
        raise SystemExit(f"error: checkpoints={cfg.checkpoints}; allowed: last, all")
    if not all(t > 0 for t in cfg.targets) or cfg.episodes < 2:
        raise SystemExit("error: targets must be positive KLs and episodes at least 2")


@hydra.main(config_path=CONF_DIR, config_name="probe", version_base="1.3")
def main(cfg: DictConfig) -> None:
    torch.set_num_threads(1)
    check(cfg)
    probe(cfg)


if __name__ == "__main__":
    sys.exit(main())
