"""Every config key says what it allows, and one bad value of each is refused in one line
before anything is written: a key added later without its allowed values fails here."""

import subprocess
import sys

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, OmegaConf

from algos.allowed import check_settings
from algos.registry import ALGOS
from analysis.settings import REPORT_KEYS, REPRODUCTION_KEYS, per_env_min_gain
from experiments.evaluate import EVALUATE_KEYS
from experiments.probe import PROBE_KEYS
from experiments.run import run
from experiments.sb3_study import STUDY_KEYS
from experiments.validate import ConfigError, compose_run_config, schema, validate
from tests.conftest import ROOT


def leaves(cfg: DictConfig, spec: dict, prefix: str = ""):
    """Every key of the composed config down to a key the schema covers whole (a dict the
    sweeper or the warm start checks) or a value."""
    for key in cfg:
        path = f"{prefix}{key}"
        node = cfg._get_node(key)
        if OmegaConf.is_dict(node) and path not in spec:
            yield from leaves(cfg[key], spec, f"{path}.")
        else:
            yield path


@pytest.mark.parametrize("algo", sorted(ALGOS))
def test_every_key_of_a_run_config_declares_what_it_allows(algo):
    cfg = compose_run_config([f"algo={algo}"])
    spec = schema(algo)
    undeclared = [key for key in leaves(cfg, spec) if key not in spec]
    assert not undeclared, f"keys without allowed values: {undeclared}"


def literal(value) -> str:
    """A Hydra override's right-hand side for `value`."""
    if value == "":
        return "''"
    if isinstance(value, list):
        return "[" + ",".join(map(str, value)) + "]"
    return str(value)


def cases():
    """(algo, key, a value it refuses): the run's and train's keys once, each algo's own."""
    for algo in sorted(ALGOS):
        for key, allowed in schema(algo).items():
            shared = not key.startswith("algo.")
            if allowed is None or (shared and algo != "ppo"):
                continue
            cfg = compose_run_config([f"algo={algo}"])
            if OmegaConf.select(cfg, key, default="<absent>") == "<absent>":
                continue  # a dataclass field the YAML sets under another name (train.seed: seed)
            yield algo, key, allowed.invalid()


CASES = list(cases())


def test_the_enumeration_covers_the_run_train_and_every_algo_key():
    keys = {key for _, key, _ in CASES}
    assert {"train.horizon", "train.hidden", "algo.objective", "algo.delta", "algo.optimizer",
            "wandb.mode", "checkpoints", "out_dir", "warm_start.algo"} <= keys  # fmt: skip
    assert len(CASES) > 40


@pytest.mark.parametrize(("algo", "key", "bad"), CASES)
def test_one_bad_value_of_every_key_is_refused_in_one_line_with_nothing_written(
    algo, key, bad, tmp_path
):
    out = tmp_path / "runs"
    overrides = [f"algo={algo}", f"{key}={literal(bad)}"]
    if key != "out_dir":
        overrides.append(f"out_dir={out}")
    cfg = compose_run_config(overrides)
    with pytest.raises(ConfigError) as error:
        run(cfg, show_progress=False)
    message = str(error.value)
    named = "algo" if key == "algo.name" else key.rpartition(".")[2]  # algo=<name> on the CLI
    assert "\n" not in message and named in message, message
    assert not out.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train.horizon=0"], "train.horizon=0 is out of range; allowed: horizon >= 1"),
        (["algo.objective=clipp"], "unknown algo.objective 'clipp'; allowed: clip, none"),
        (["algo.minibatch_size=4096"], "algo.minibatch_size=4096 is larger than one batch"),
        (["train.value_minibatch_size=4096"], "train.value_minibatch_size=4096 is larger"),
        (["algo.objective=none", "epsilon=0.3"], "epsilon is not used by algo.objective=none"),
        (["algo.kl_coef=3"], "kl_coef is not used by algo.objective=clip"),
        (["algo.objective=kl_fixed", "algo.kl_target=0.1"], "kl_target is not used by"),
        (["out_dir=/etc/hostname/runs"], "out_dir=/etc/hostname/runs cannot be written"),
        (["hydra/launcher=slurmm"], "unknown hydra/launcher 'slurmm'; allowed: basic, joblib"),
        (["warm_start.algo=ppo", "+warm_start.params.epsilon=-1"], "warm_start.params.epsilon=-1"),
        (
            ["warm_start.params.epsilon=0.2"],
            "warm_start.params.epsilon is not in the config; a new key takes a leading +",
        ),
    ],
)
def test_invalid_values_and_combinations_are_named_with_what_is_allowed(args, message):
    with pytest.raises(ConfigError) as error:
        validate(compose_run_config(args))
    assert message in str(error.value) and "\n" not in str(error.value)


def test_the_study_presets_pass_validation():
    for preset in ("default", "tasks", "ppo_table1", "full", "smoke"):
        validate(compose_run_config([f"sweep={preset}"]))
    validate(compose_run_config(["sweep=ppo_table1", "algo.objective=kl_fixed",
                                           "algo.kl_coef=3"]))  # fmt: skip


SETTINGS = [("analysis", "report", REPORT_KEYS), ("analysis", "reproduction", REPRODUCTION_KEYS),
            ("probe", "probe", PROBE_KEYS), ("evaluate", "evaluate", EVALUATE_KEYS),
            ("sb3", "study", STUDY_KEYS)]  # fmt: skip


def compose_settings(folder: str, name: str, overrides=()) -> DictConfig:
    with initialize_config_dir(config_dir=str(ROOT / "conf" / folder), version_base="1.3"):
        return compose(config_name=name, overrides=list(overrides))


@pytest.mark.parametrize(("folder", "name", "keys"), SETTINGS)
def test_every_key_of_the_report_reproduction_probe_and_evaluate_settings_declares_what_it_allows(
    folder, name, keys
):
    undeclared = [k for k in leaves(compose_settings(folder, name), keys) if k not in keys]
    assert not undeclared, f"{name}.yaml keys without allowed values: {undeclared}"


SETTING_CASES = [(folder, name, key, allowed.invalid()) for folder, name, keys in SETTINGS
                 for key, allowed in keys.items() if allowed is not None]  # fmt: skip


@pytest.mark.parametrize(("folder", "name", "key", "bad"), SETTING_CASES)
def test_one_bad_value_of_every_settings_key_is_refused_in_one_line(folder, name, key, bad):
    cfg = compose_settings(folder, name, [f"{key}={literal(bad)}"])
    with pytest.raises(ConfigError) as error:
        check_settings(OmegaConf.to_container(cfg, resolve=True), keys_of(name))
    assert "\n" not in str(error.value) and key.rpartition(".")[2] in str(error.value)


def keys_of(name: str) -> dict:
    return {n: keys for _, n, keys in SETTINGS}[name] | per_env_min_gain({})


@pytest.mark.parametrize(
    ("module", "out_key", "arg"),
    [("analysis.report", "report_dir", "collapse.drop_frac=2"),
     ("analysis.report", "report_dir", "collapse.min_gain_per_env.Hopper-v5=-5"),
     ("analysis.reproduction", "results_dir", "episodes=0")],
)  # fmt: skip
def test_the_report_and_reproduction_stop_with_exit_2_before_writing(
    module, out_key, arg, tmp_path
):
    command = [sys.executable, "-m", module, arg, f"{out_key}={tmp_path / 'r'}"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert arg.split("=")[0] in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "r").exists()
