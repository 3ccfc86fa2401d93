"""Each default of a run is written in two places, conf/*.yaml (what runs compose, and what
the warm start, the implementation labels and the config reference read as files) and the
config dataclasses' `setting(...)` (what validation and the probe read): they must agree,
or a run and its check would disagree about what it ran with. So must a setting that
several entry points share, and a capability the registry declares and the update rule
that has it."""

import dataclasses
import inspect

import pytest
from omegaconf import OmegaConf

from algos.registry import ALGOS
from algos.train import TrainConfig
from experiments.validate import compose_run_config, resolved_config
from records.paths import CONF_DIR
from records.train_config import train_config


def defaults(config_cls) -> dict:
    fields = dataclasses.fields(config_cls)
    return {f.name: f.default if f.default is not dataclasses.MISSING else f.default_factory()
            for f in fields if f.default is not dataclasses.MISSING
            or f.default_factory is not dataclasses.MISSING}  # fmt: skip


def yaml(path) -> dict:
    return OmegaConf.to_container(OmegaConf.load(CONF_DIR / path))


@pytest.mark.parametrize("name", sorted(ALGOS))
def test_a_run_composed_with_no_other_override_has_the_dataclasses_defaults(name):
    composed = train_config(resolved_config(compose_run_config([f"algo={name}"])))
    declared = TrainConfig(algo=name, algo_params=defaults(ALGOS[name].config_cls))
    assert dataclasses.asdict(composed) == dataclasses.asdict(declared)


@pytest.mark.parametrize("name", sorted(ALGOS))
def test_an_algos_yaml_holds_its_dataclass_defaults_and_nothing_else(name):
    written = yaml(f"algo/{name}.yaml")
    assert written.pop("name") == name
    assert written == defaults(ALGOS[name].config_cls)


def test_the_default_implementation_preset_is_trainconfigs_defaults():
    assert yaml("config.yaml")["defaults"][2] == {"impl": "modern"}
    declared = defaults(TrainConfig)
    for key, value in yaml("impl/modern.yaml").items():
        assert declared[key] == value, key


@pytest.mark.parametrize(
    "path",
    ["probe/probe.yaml", "evaluate/evaluate.yaml", "sb3/study.yaml", "analysis/report.yaml",
     "analysis/reproduction.yaml"],
)  # fmt: skip
def test_every_entry_point_looks_for_runs_where_a_run_writes_them(path):
    run, settings = yaml("config.yaml"), yaml(path)
    for key in ("out_dir", "wandb.project"):
        value = OmegaConf.select(OmegaConf.create(settings), key)
        assert value is None or value == OmegaConf.select(OmegaConf.create(run), key), key


def test_a_capability_the_registry_declares_is_the_one_its_update_rule_has():
    for algo in ALGOS.values():
        takes_compiled = "compiled" in inspect.signature(algo.update_cls).parameters
        assert algo.minibatch_steps == takes_compiled, algo.name
