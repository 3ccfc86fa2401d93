"""The training config a record's resolved config describes: what a run trains with, read
back from its config.yaml by the run, its replay and every check of it."""

from algos.registry import STEP_SIZE_KEYS
from algos.train import TrainConfig


def effective_algo_params(resolved: dict) -> dict:
    """The algo's hyperparameters (of a resolved config) with the top-level delta/epsilon/lr
    overrides applied."""
    params = dict(resolved["algo"])
    params.pop("name")
    for key in STEP_SIZE_KEYS:
        if resolved[key] is not None:
            params[key] = resolved[key]
    return params


def train_config(resolved: dict) -> TrainConfig:
    """The algorithm-side config of a run's resolved config (a plain dict)."""
    train = dict(resolved["train"])
    train["hidden"] = tuple(train["hidden"])
    warm_start = resolved["warm_start"]
    return TrainConfig(
        env_id=resolved["env"],
        env_kwargs=dict(resolved.get("env_kwargs") or {}),  # absent from older records
        seed=resolved["seed"],
        total_steps=resolved["total_steps"],
        num_envs=resolved["num_envs"],
        algo=resolved["algo"]["name"],
        algo_params=effective_algo_params(resolved),
        warm_start=dict(warm_start) if warm_start["algo"] is not None else None,
        **train,
    )
