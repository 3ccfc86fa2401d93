"""Checks a composed run config before anything runs, raising ConfigError with one line
that says what is wrong and what is allowed."""

import dataclasses
import difflib
import functools
import re
from pathlib import Path

import gymnasium as gym
from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf

from algos.registry import ALGOS, STEP_SIZE_KEYS
from algos.train import TrainConfig

STEP_SIZE_RANGES = {
    "delta": (0.0, 10.0),
    "epsilon": (0.0, 10.0),
    "lr": (0.0, 100.0),
}  # lr up to 100: plain SGD steps need large ones
STEP_SIZE_MEANING = {
    "delta": "its KL bound δ",
    "epsilon": "its clip range ε",
    "lr": "its policy step size",
}
WANDB_MODES = ("offline", "online", "disabled")


class ConfigError(ValueError):
    """A bad config value: the message is the single line shown to the user."""


def effective_algo_params(cfg: DictConfig) -> dict:
    """The algo's hyperparameters with the top-level delta/epsilon/lr overrides applied."""
    params = OmegaConf.to_container(cfg.algo, resolve=True)
    params.pop("name")
    for key in STEP_SIZE_KEYS:
        if cfg[key] is not None:
            params[key] = cfg[key]
    return params


def validate(cfg: DictConfig) -> None:
    name = cfg.algo.name
    if name not in ALGOS:
        raise ConfigError(f"unknown algo '{name}'; allowed: {', '.join(ALGOS)}")
    algo = ALGOS[name]
    for key in STEP_SIZE_KEYS:
        if cfg[key] is not None and key not in algo.top_level_keys:
            accepted = ", ".join(f"{k} ({STEP_SIZE_MEANING[k]})" for k in algo.top_level_keys)
            raise ConfigError(f"{key} is not used by algo={name}; {name} accepts {accepted}")
    params = effective_algo_params(cfg)
    fields = {f.name for f in dataclasses.fields(algo.config_cls)}
    unknown = sorted(set(params) - fields)
    if unknown:
        raise ConfigError(
            f"unknown key algo.{unknown[0]} for algo={name}; allowed: {', '.join(sorted(fields))}"
        )
    for key in STEP_SIZE_KEYS:
        if key in params:
            check_range(key, params[key])
    for key in ("seed", "total_steps", "num_envs", "checkpoints"):
        if isinstance(cfg[key], bool) or not isinstance(cfg[key], int) or cfg[key] < 0:
            raise ConfigError(f"{key}={cfg[key]} must be a non-negative integer")
    if cfg.num_envs < 1:
        raise ConfigError(f"num_envs={cfg.num_envs} must be at least 1")
    validate_env(cfg.env)
    check_one_batch("total_steps", cfg.total_steps, cfg)
    validate_warm_start(cfg)
    if cfg.wandb.mode not in WANDB_MODES:
        raise ConfigError(
            f"unknown wandb.mode '{cfg.wandb.mode}'; allowed: {', '.join(WANDB_MODES)}"
        )


def validate_warm_start(cfg: DictConfig) -> None:
    ws = cfg.warm_start
    if ws.algo is None:
        return
    if ws.algo not in ALGOS:
        raise ConfigError(
            f"unknown warm_start.algo '{ws.algo}'; allowed: {', '.join(ALGOS)} or null (from scratch)"
        )
    fields = {f.name for f in dataclasses.fields(ALGOS[ws.algo].config_cls)}
    for key, value in ws.params.items():
        if key not in fields:
            raise ConfigError(
                f"unknown key warm_start.params.{key} for warm_start.algo={ws.algo}; "
                f"allowed: {', '.join(sorted(fields))}"
            )
        if key in STEP_SIZE_KEYS:
            check_range(f"warm_start.params.{key}", value)
    check_one_batch("warm_start.total_steps", ws.total_steps, cfg)


def check_one_batch(key: str, steps, cfg: DictConfig) -> None:
    """A step budget must hold at least one batch (train.horizon × num_envs)."""
    batch = cfg.train.horizon * cfg.num_envs
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < batch:
        raise ConfigError(
            f"{key}={steps} is less than one batch "
            f"(train.horizon × num_envs = {batch}); use {key} >= {batch}"
        )


def check_range(key: str, value) -> None:
    low, high = STEP_SIZE_RANGES[key.rpartition(".")[2]]
    if isinstance(value, bool) or not isinstance(value, int | float) or not low < value <= high:
        raise ConfigError(f"{key}={value} is out of range; allowed: {low} < {key} <= {high}")


def validate_env(env_id: str) -> None:
    problem = env_problem(env_id)
    if problem:
        raise ConfigError(problem)


@functools.cache
def env_problem(env_id: str) -> str | None:
    """Why `env_id` cannot be trained on here, or None. Cached: a sweep checks every job,
    and making the env once per id (not once per job) saves a second a job."""
    if env_id not in gym.registry:
        close = difflib.get_close_matches(env_id, list(gym.registry), n=5, cutoff=0.6)
        hint = f"close matches: {', '.join(close)}" if close else "e.g. Hopper-v5, Walker2d-v5"
        return f"unknown env '{env_id}'; {hint}"
    try:
        env = gym.make(env_id)
    except Exception as error:  # a registered env whose dependencies are missing
        return f"env '{env_id}' cannot be created: {error}".splitlines()[0]
    action_space = env.action_space
    env.close()
    if not isinstance(action_space, gym.spaces.Box):
        return (
            f"env '{env_id}' has a {type(action_space).__name__} action space; "
            "the Gaussian policies here need a continuous (Box) one, e.g. Hopper-v5"
        )
    return None


def train_config(cfg: DictConfig) -> TrainConfig:
    """The algorithm-side config of a validated run."""
    train = OmegaConf.to_container(cfg.train, resolve=True)
    train["hidden"] = tuple(train["hidden"])
    return TrainConfig(
        env_id=cfg.env,
        seed=cfg.seed,
        total_steps=cfg.total_steps,
        num_envs=cfg.num_envs,
        algo=cfg.algo.name,
        algo_params=effective_algo_params(cfg),
        warm_start=warm_start_spec(cfg),
        **train,
    )


def warm_start_spec(cfg: DictConfig) -> dict | None:
    """The warm start as part of the run's science (None: from scratch)."""
    if cfg.warm_start.algo is None:
        return None
    return OmegaConf.to_container(cfg.warm_start, resolve=True)


def compose_run_config(conf_dir: str, argv: list[str]) -> DictConfig:
    """Compose the config the command line asks for, turning Hydra's errors into ConfigError."""
    overrides = [arg for arg in argv if not arg.startswith("-")]
    try:
        with initialize_config_dir(config_dir=conf_dir, version_base="1.3"):
            return compose(config_name="config", overrides=overrides)
    except HydraException as error:
        raise ConfigError(describe_hydra_error(str(error), conf_dir)) from None


def describe_hydra_error(message: str, conf_dir: str) -> str:
    """One line for Hydra's multi-line composition errors."""
    group = re.search(r"Could not find '(\w+)/([^']*)'", message)
    if group:
        options = sorted(p.stem for p in Path(conf_dir, group[1]).glob("*.yaml"))
        return f"unknown {group[1]} '{group[2]}'; allowed: {', '.join(options)}"
    missing = re.search(r"Could not override '([^']+)'", message) or re.search(
        r"Key '([^']+)' is not in struct", message
    )
    if missing:
        key = missing[1]
        parent, _, _ = key.rpartition(".")
        with initialize_config_dir(config_dir=conf_dir, version_base="1.3"):
            base = compose(config_name="config")
        node = OmegaConf.select(base, parent) if parent else base
        allowed = ", ".join(f"{parent + '.' if parent else ''}{k}" for k in node) if node else "?"
        return f"unknown key '{key}'; allowed: {allowed}"
    return " ".join(line.strip() for line in message.splitlines() if line.strip())


def without_sweeps(argv: list[str]) -> list[str]:
    """The command-line overrides that are not comma-list or range sweeps."""
    overrides = [arg for arg in argv if not arg.startswith("-")]
    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except HydraException as error:
        raise ConfigError(" ".join(str(error).split())) from None
    return [o.input_line for o in parsed if not o.is_sweep_override()]
