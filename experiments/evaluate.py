"""Evaluate and watch a run's policy at any update: `python experiments/evaluate.py
run=<run dir> checkpoint=last|<update> episodes=10 video=true`.

The policy after that update (records/replay.py: its checkpoint, or the newest one
before it trained on to it) plays `episodes` episodes, deterministic or stochastic; the
mean return comes with a 95% t interval. With video=true the first episode is filmed
offscreen (records/film.py) into an mp4. Writes <run>/evaluate/update_<k>_<mode>.json
(and .mp4) and logs both to the run's own W&B run.
"""

import json
import math
import sys
from pathlib import Path

import hydra
import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from algos.allowed import FLAG, Allowed, ConfigError, Int, check_settings, stop_on_bad_input
from algos.rollout import episode_returns
from experiments.wandb_mirror import STEP_AXIS, WandbMirror
from records.film import film, write_mp4
from records.paths import CONF_DIR
from records.record import Record
from records.replay import PolicyAt, policy_at, recorded_updates
from records.store import atomic_write_bytes
from records.t_interval import t_interval

EVALUATE_KEYS: dict[str, Allowed | None] = {  # conf/evaluate/evaluate.yaml's keys
    "run": Allowed(str, optional=True),
    "checkpoint": None,  # last | an update: check() below
    "episodes": Int(low=2),
    "stochastic": FLAG,
    "seed": Int(),
    "video": FLAG,
    "video_fps": Int(low=1),
    "width": Int(low=16),
    "height": Int(low=16),
    "wandb": FLAG,
}


def check(cfg: DictConfig) -> int:
    """The update to evaluate; ConfigError with one line for what cannot be, before anything runs."""
    check_settings(OmegaConf.to_container(cfg, resolve=True), EVALUATE_KEYS)
    if cfg.run is None or not Record(cfg.run).exists():
        raise ConfigError(f"run={cfg.run} is not a run record; give run=<out_dir>/<sweep>/<run_id>")
    recorded = recorded_updates(Path(cfg.run))
    if recorded == 0:
        raise ConfigError(f"run={cfg.run} has recorded no update yet")
    which = str(cfg.checkpoint)
    if which == "last":
        return recorded
    if not which.isdigit() or int(which) > recorded:
        raise ConfigError(f"checkpoint={which}; allowed: last, or an update 0–{recorded} "
                          "(0: the policy the run started from)")  # fmt: skip
    return int(which)


def return_interval(returns: np.ndarray) -> tuple[float, float]:
    """95% t interval of the mean return (NaN, NaN when every episode returned the same: a
    deterministic policy's episodes may, and then there is no spread to measure)."""
    if np.ptp(returns) == 0:
        return math.nan, math.nan
    _, low, high = t_interval(returns)
    return low, high


def evaluate(cfg: DictConfig, update: int) -> dict:
    run_dir = Path(cfg.run)
    policy = policy_at(run_dir, update)
    if policy.differs:
        print(f"evaluate: {policy.differs}: the replayed policy is not the recorded one")
    actor, normalizer = policy.learner.actor, policy.learner.collector.obs_normalizer
    policy.learner.collector.close()
    config = policy.config
    returns, lengths = episode_returns(actor, normalizer, config.env_id, cfg.episodes, cfg.seed,
                                       cfg.stochastic, **config.env_kwargs)  # fmt: skip
    low, high = return_interval(returns)
    mode = "stochastic" if cfg.stochastic else "deterministic"
    out = Record(run_dir).evaluate_dir
    out.mkdir(exist_ok=True)
    stem = out / f"update_{update}_{mode}"
    result = {
        "run_id": run_dir.name, "update": update, "step": step_of(run_dir, update),
        "mode": mode, "episodes": cfg.episodes, "seed": cfg.seed,
        "evaluate_return_mean": float(returns.mean()), "evaluate_return_ci_low": low,
        "evaluate_return_ci_high": high, "returns": returns.tolist(), "lengths": lengths.tolist(),
        "replayed_updates": policy.replayed, "replay_differs": policy.differs, "video": None,
    }  # fmt: skip
    if cfg.video:
        result["video"] = str(filmed(policy, cfg, stem.with_suffix(".mp4"), returns[0]))
    atomic_write_bytes(stem.with_suffix(".json"), (json.dumps(result, indent=1) + "\n").encode())
    print(f"{run_dir.name} after update {update} ({mode}, {cfg.episodes} episodes): return "
          f"{result['evaluate_return_mean']:.1f} [95% CI {low:.1f}, {high:.1f}]\n"
          f"result: {stem.with_suffix('.json')}" + (f"\nvideo: {result['video']}" if cfg.video else ""))  # fmt: skip
    if cfg.wandb:
        log_to_run(run_dir, result)
    return result


def filmed(policy: PolicyAt, cfg: DictConfig, path: Path, evaluated_return: float) -> Path:
    """The first evaluation episode as an mp4; its return must be the evaluation's first."""
    import gymnasium as gym

    config = policy.config
    probe_env = gym.make(config.env_id, **config.env_kwargs)
    render_fps = probe_env.metadata["render_fps"]
    probe_env.close()
    every = max(1, round(render_fps / cfg.video_fps))
    frames, filmed_return, _ = film(policy.learner.actor, policy.learner.collector.obs_normalizer,
                                    config.env_id, cfg.seed, cfg.stochastic,
                                    lambda t: t % every == 0, cfg.width, cfg.height,
                                    **config.env_kwargs)  # fmt: skip
    if filmed_return != evaluated_return:
        raise RuntimeError(f"the filmed episode returned {filmed_return}, the evaluated one "
                           f"{evaluated_return}: rendering changed the episode")  # fmt: skip
    return write_mp4(frames, path, render_fps / every)


def step_of(run_dir: Path, update: int) -> int:
    if update == 0:
        return 0
    metrics = Record(run_dir).metrics(columns=["update", "step"])
    return int(metrics.loc[metrics["update"] == update, "step"].iloc[0])


def log_to_run(run_dir: Path, result: dict) -> None:
    """The result in the run's own W&B run (continued by its id), at the update's env step."""
    import wandb

    record = Record(run_dir)
    stored = record.config
    w = stored["wandb"]
    if w["mode"] == "disabled":
        return
    status = record.status() or {}
    mirror = WandbMirror(w["mode"], w["project"], w["entity"], w["group"] or stored["sweep"]["name"],
                         run_dir.name, run_dir, stored, [], status.get("wandb_id"))  # fmt: skip
    logged = {k: result[k] for k in ("evaluate_return_mean", "evaluate_return_ci_low",
                                     "evaluate_return_ci_high") if not math.isnan(result[k])}  # fmt: skip
    if result["video"]:
        logged["evaluate_video"] = wandb.Video(result["video"], format="mp4")
    mirror.run.log({**logged, "evaluate_update": result["update"], STEP_AXIS: result["step"]})
    mirror.run.finish()


@hydra.main(config_path=str(CONF_DIR / "evaluate"), config_name="evaluate", version_base="1.3")
def main(cfg: DictConfig) -> None:
    torch.set_num_threads(1)
    with stop_on_bad_input():
        update = check(cfg)
        try:
            evaluate(cfg, update)
        except (ValueError, RuntimeError) as error:  # no checkpoint to replay from, no renderer
            raise ConfigError(str(error)) from None


if __name__ == "__main__":
    sys.exit(main())
