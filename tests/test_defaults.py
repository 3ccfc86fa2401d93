"""Each default is written in two places, conf/*.yaml (what runs compose) and the config
dataclasses' `setting(...)` (what validation and the probe read): they must agree, or a
run and its check would disagree about what it ran with. So must a capability the
registry declares and the update rule that has it."""

import dataclasses

import pytest
from omegaconf import OmegaConf

from algos.registry import ALGOS
from algos.train import TrainConfig
from records.paths import CONF_DIR

TOP_LEVEL = {"env_id": "env", "env_kwargs": "env_kwargs", "seed": "seed",
             "total_steps": "total_steps", "num_envs": "num_envs"}  # fmt: skip


def defaults(config_cls) -> dict:
    fields = dataclasses.fields(config_cls)
    return {f.name: f.default if f.default is not dataclasses.MISSING else f.default_factory()
            for f in fields if f.default is not dataclasses.MISSING
            or f.default_factory is not dataclasses.MISSING}  # fmt: skip


def plain(value):
    return list(value) if isinstance(value, tuple) else value


def yaml(path) -> dict:
    return OmegaConf.to_container(OmegaConf.load(CONF_DIR / path))


@pytest.mark.parametrize("name", sorted(ALGOS))
def test_an_algos_yaml_holds_its_dataclass_defaults_and_nothing_else(name):
    written = yaml(f"algo/{name}.yaml")
    assert written.pop("name") == name
    assert written == defaults(ALGOS[name].config_cls)


def test_the_run_configs_train_settings_are_trainconfigs_defaults():
    config, declared = yaml("config.yaml"), defaults(TrainConfig)
    for key, value in config["train"].items():
        assert plain(declared[key]) == value, key
    for field, key in TOP_LEVEL.items():
        assert declared[field] == config[key], key


def test_the_default_implementation_preset_is_trainconfigs_defaults():
    assert yaml("config.yaml")["defaults"][2] == {"impl": "modern"}
    declared = defaults(TrainConfig)
    for key, value in yaml("impl/modern.yaml").items():
        assert declared[key] == value, key


def test_a_capability_the_registry_declares_is_the_one_its_update_rule_has():
    for algo in ALGOS.values():
        assert algo.steps_together == hasattr(algo.update_cls, "step_together"), algo.name
