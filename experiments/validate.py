"""Checks a composed run config before anything runs, raising ConfigError with one line
that says what is wrong and what is allowed."""

import contextlib
import difflib
import functools
import importlib
import json
import re
import tempfile
from pathlib import Path

import gymnasium as gym
from hydra import compose, initialize_config_dir
from hydra._internal.utils import get_args_parser
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf

from algos.allowed import (
    FLAG,
    TEXT,
    Allowed,
    ConfigError,
    Function,
    Int,
    OneOf,
    allowed_values,
    check_settings,
    unknown_key,
)
from algos.minibatch_step import COMPILE_MODES
from algos.ppo import PPOConfig
from algos.registry import ALGOS, STEP_SIZE_KEYS
from algos.train import TrainConfig
from experiments.wandb_mirror import login_problem
from records.paths import CONF_DIR
from records.train_config import effective_algo_params

WANDB_MODES = ("offline", "online", "disabled")

# conf/config.yaml's own keys (their defaults are there). `None`: checked elsewhere, as noted.
# train.* are TrainConfig's fields and algo.* the algo config's: their specs sit beside
# their defaults in algos/.
RUN_KEYS: dict[str, Allowed | None] = {
    "env": None,  # env_problem: registered (after importing module of module:Env-vN),
    # makeable with env_kwargs, continuous actions
    "env_kwargs": None,  # a mapping: validate_env; gym.make takes it: env_problem
    "seed": Int(),
    "total_steps": Int(low=1),  # and at least one batch: check_one_batch
    "num_envs": Int(low=1),
    "delta": None,  # the step-size keys: the algo's own spec, once applied to its params
    "epsilon": None,
    "lr": None,
    "out_dir": TEXT,  # and writable: check_writable
    "torch_threads": Int(low=1),
    "compile": OneOf(*COMPILE_MODES),
    "reproducible": FLAG,
    "progress": FLAG,
    "flush_every": Int(low=1),
    "checkpoints": Int(),
    "tensorboard": FLAG,
    # the number a trial returns: the report's (analysis.objective) or a function of your own
    "trial.metric": Function(str, optional=True, arguments=("record_dir",), gives="a number"),
    "trial.seeds": Allowed(list, optional=True),  # integers: the seeds one trial averages
    "warm_start.algo": OneOf(*ALGOS, optional=True),
    "warm_start.total_steps": Int(),  # at least one batch when algo is set
    "warm_start.params": None,  # the warm-start algo's own spec: validate_warm_start
    "wandb.mode": OneOf(*WANDB_MODES),
    "wandb.project": TEXT,
    "wandb.entity": Allowed(str, optional=True),
    "wandb.group": Allowed(str, optional=True),
    "sweep.name": TEXT,
    "sweep.grids": None,  # the sweeper expands them into jobs and validates each job
    "sweep.held_out": None,  # more grids, the same way
    "sweep.envs": None,
    "sweep.seeds": None,
    "sweep.population": Allowed(int, low=1, words=("auto",)),  # runs trained side by side
    "members": Allowed(list, optional=True, item=str),  # a population job's runs: the sweeper's
}
# Per PPO objective, the coefficients it does not use: setting one is a mistake, not a no-op.
UNUSED_BY_OBJECTIVE = {
    "clip": ("kl_coef", "kl_target"),
    "none": ("epsilon", "kl_coef", "kl_target"),
    "kl_fixed": ("epsilon", "kl_target"),
    "kl_adaptive": ("epsilon",),
}


def resolved_config(cfg: DictConfig) -> dict:
    """The run's keys, resolved, as plain data; not Hydra's own node (a sweep job's is
    half-filled until it runs)."""
    return {
        k: OmegaConf.to_container(v, resolve=True) if OmegaConf.is_config(v) else v
        for k, v in cfg.items()
        if k != "hydra"
    }


def schema(algo: str) -> dict[str, Allowed | None]:
    """Every key of a run's config with what it allows: the run's own, train.*, algo.*."""
    train = {f"train.{k}": v for k, v in allowed_values(TrainConfig).items()}
    algo_keys = {f"algo.{k}": v for k, v in allowed_values(ALGOS[algo].config_cls).items()}
    return RUN_KEYS | train | {"algo.name": OneOf(*ALGOS)} | algo_keys


def validate(cfg: DictConfig) -> dict:
    """ConfigError (one line) for the first thing `cfg` does not allow; else the run's
    resolved config (`resolved_config`)."""
    name = cfg.algo.name
    if name not in ALGOS:
        raise ConfigError(f"unknown algo '{name}'; allowed: {', '.join(ALGOS)}")
    algo = ALGOS[name]
    for key in STEP_SIZE_KEYS:
        if cfg[key] is not None and key not in algo.top_level_keys:
            accepted = ", ".join(f"{k} ({meaning})" for k, meaning in algo.top_level_keys.items())
            raise ConfigError(f"{key} is not used by algo={name}; {name} accepts {accepted}")
    tree = resolved_config(cfg)
    fields = allowed_values(algo.config_cls)
    given = {key: fields[key] for key in algo.top_level_keys if tree[key] is not None}
    check_settings(tree, schema(name) | given)  # a step size as the user named it: delta
    params = effective_algo_params(tree)
    validate_env(cfg.env, tree["env_kwargs"])
    check_one_batch("total_steps", cfg.total_steps, cfg)
    check_combinations(cfg, name, params)
    validate_warm_start(cfg)
    check_writable(cfg.out_dir)
    problem = login_problem(cfg.wandb.mode)
    if problem:
        raise ConfigError(problem)
    return tree


def check_combinations(cfg: DictConfig, algo: str, params: dict) -> None:
    """Values each fine alone that cannot go together."""
    batch = cfg.train.horizon * cfg.num_envs
    sizes = [("train.value_minibatch_size", cfg.train.value_minibatch_size)]
    if "minibatch_size" in params:
        sizes.append(("algo.minibatch_size", params["minibatch_size"]))
    for key, size in sizes:
        if size > batch:
            raise ConfigError(f"{key}={size} is larger than one batch (train.horizon × num_envs "
                              f"= {batch}); use {key} <= {batch}")  # fmt: skip
    if algo != "ppo":
        return
    defaults = PPOConfig()
    objective = params["objective"]
    for key in UNUSED_BY_OBJECTIVE[objective]:
        given = cfg.get(key) is not None or params[key] != getattr(defaults, key)
        if given:
            users = [o for o, unused in UNUSED_BY_OBJECTIVE.items() if key not in unused]
            raise ConfigError(f"{key} is not used by algo.objective={objective}; it is used by "
                              f"objective {' and '.join(users)}")  # fmt: skip


def check_writable(out_dir: str) -> None:
    """The run records go under out_dir: it, or the folder it would be made in, must be writable."""
    path = Path(out_dir).absolute()
    while not path.exists():
        path = path.parent
    try:
        with tempfile.TemporaryFile(dir=path):  # what the OS says, not what the mode bits say
            pass
    except OSError as error:
        raise ConfigError(
            f"out_dir={out_dir} cannot be written: {error.strerror} ({path})"
        ) from None


def validate_warm_start(cfg: DictConfig) -> None:
    ws = cfg.warm_start
    if ws.algo is None:
        return
    fields = allowed_values(ALGOS[ws.algo].config_cls)
    params = {"warm_start": {"params": OmegaConf.to_container(ws.params, resolve=True)}}
    check_settings(params, {f"warm_start.params.{key}": allowed for key, allowed in fields.items()})
    check_one_batch("warm_start.total_steps", ws.total_steps, cfg)


def check_one_batch(key: str, steps, cfg: DictConfig) -> None:
    """A step budget must hold at least one batch (train.horizon × num_envs)."""
    batch = cfg.train.horizon * cfg.num_envs
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < batch:
        raise ConfigError(
            f"{key}={steps} is less than one batch "
            f"(train.horizon × num_envs = {batch}); use {key} >= {batch}"
        )


def validate_env(env_id: str, env_kwargs) -> None:
    if not isinstance(env_kwargs, dict):
        raise ConfigError(f"env_kwargs={env_kwargs} must be a mapping of gym.make's keyword "
                          "arguments, e.g. +env_kwargs.ctrl_cost_weight=0.1")  # fmt: skip
    problem = env_problem(env_id, json.dumps(env_kwargs, sort_keys=True))
    if problem:
        raise ConfigError(problem)


@functools.cache
def env_problem(env_id: str, env_kwargs: str) -> str | None:
    """Why `env_id` cannot be trained on here with `env_kwargs` (as JSON), or None. Cached:
    a sweep checks every job, and making the env once per id (not once per job) saves a
    second a job."""
    module, _, name = env_id.rpartition(":")
    if module:
        problem = import_problem(env_id, module)
        if problem:
            return problem
    if name not in gym.registry:
        close = difflib.get_close_matches(name, list(gym.registry), n=5, cutoff=0.6)
        example = f"allowed: an id {module} registers" if module else "e.g. Hopper-v5, Walker2d-v5"
        hint = f"close matches: {', '.join(close)}" if close else example
        where = f" (importing {module} registers no such id)" if module else ""
        return f"unknown env '{name}'{where}; {hint}"
    kwargs = json.loads(env_kwargs)
    try:
        env = gym.make(env_id, **kwargs)
    except Exception as error:  # a registered env whose dependencies are missing, a bad kwarg
        given = f" with env_kwargs={kwargs}" if kwargs else ""
        return f"env '{env_id}' cannot be created{given}: {error}".splitlines()[0]
    action_space = env.action_space
    env.close()
    if not isinstance(action_space, gym.spaces.Box):
        return (
            f"env '{env_id}' has a {type(action_space).__name__} action space; "
            "the Gaussian policies here need a continuous (Box) one, e.g. Hopper-v5"
        )
    return None


def import_problem(env_id: str, module: str) -> str | None:
    """Why the module of a `module:Env-vN` id cannot be imported (gym.make imports it, and
    importing it registers Env-vN), or None."""
    try:
        importlib.import_module(module)
    except Exception as error:
        cause = f"{type(error).__name__}: {error}".splitlines()[0]
        return (f"env '{env_id}': module '{module}' cannot be imported ({cause}); allowed: "
                "a registered id (e.g. Hopper-v5) or module:Env-vN, where module is importable "
                "(installed or on PYTHONPATH) and registers Env-vN")  # fmt: skip
    return None


@contextlib.contextmanager
def suite_hydra():
    """Hydra on conf/, for a composition. Inside another Hydra app (a sweep, the report
    finding a preset's runs) that app's Hydra is set aside and put back after it."""
    running = GlobalHydra.instance()
    outer = running.hydra if running.is_initialized() else None
    running.clear()
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            yield running
    finally:
        if outer is not None:
            running.clear()
            running.initialize(outer)


def command_line_overrides(argv: list[str]) -> list[str]:
    """A command line's overrides as Hydra reads it: `--cfg job` is a flag and its value."""
    return get_args_parser().parse_args(argv).overrides


def compose_run_config(argv: list[str]) -> DictConfig:
    """Compose the config the command line asks for, turning Hydra's errors into ConfigError."""
    overrides = command_line_overrides(argv)
    try:
        with suite_hydra():
            return compose(config_name="config", overrides=overrides)
    except HydraException as error:
        raise ConfigError(describe_hydra_error(str(error), overrides)) from None


def describe_hydra_error(message: str, overrides: list[str]) -> str:
    """One line for Hydra's multi-line composition errors; an unknown key is named with
    the keys beside it in the config the overrides' groups choose (algo=pg: PG's)."""
    group = re.search(r"Could not find '([\w/]+)/([^'/]*)'", message)
    if group:  # the options Hydra knows: our conf/ and the installed plugins' (launchers)
        with suite_hydra() as hydra:
            options = hydra.config_loader().get_group_options(group[1])
        return f"unknown {group[1]} '{group[2]}'; allowed: {', '.join(options)}"
    missing = re.search(r"Could not override '([^']+)'", message) or re.search(
        r"Key '([^']+)' is not in struct", message
    )
    if missing:
        key = missing[1]
        parent, _, _ = key.rpartition(".")
        base = chosen_config(overrides)
        given = OmegaConf.select(base, key)
        if OmegaConf.is_dict(given) and not given:  # a mapping given whole (env_kwargs={...})
            return (f"{key} takes its keys with a leading +: +{key}.name=value or "
                    f"+{key}={{name: value}}")  # fmt: skip
        node = OmegaConf.select(base, parent) if parent else base
        if node is None or (OmegaConf.is_dict(node) and not node):  # empty until given keys,
            # or a group's (hydra.launcher.ray.remote) that the base config does not compose
            return f"{key} is not in the config; a new key takes a leading +: +{key}=..."
        return unknown_key(key, [f"{parent + '.' if parent else ''}{k}" for k in node])
    return " ".join(line.strip() for line in message.splitlines() if line.strip())


def chosen_config(overrides: list[str]) -> DictConfig:
    """The config composed with only the overrides that choose a group (algo=pg,
    sweep=smoke), or the default one where those do not compose."""
    with suite_hydra() as hydra:
        groups = hydra.config_loader().list_groups("")
        choices = [o for o in overrides if o.partition("=")[0] in groups]
        try:
            return compose(config_name="config", overrides=choices)
        except HydraException:
            return compose(config_name="config")


def without_sweeps(argv: list[str]) -> list[str]:
    """The command-line overrides that are not comma-list or range sweeps."""
    overrides = command_line_overrides(argv)
    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except HydraException as error:
        raise ConfigError(" ".join(str(error).split())) from None
    return [o.input_line for o in parsed if not o.is_sweep_override()]
