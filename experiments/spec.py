"""A run's spec, built once from its composed Hydra config and passed down: the validated
config as plain data, the algorithm-side TrainConfig, the run id and where its record
goes. The sweeper, the warm start and the probe build the same spec the run does, so they
agree on the run id by construction.

The run id is a readable prefix plus a hash of the scientific config (everything in
TrainConfig: no paths, no logging), so the same science always finds the same record.
A field added after runs were recorded declares `id_neutral` (algos.allowed.setting): at
that value it is left out of the hash, and earlier runs keep their ids.
"""

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from omegaconf import DictConfig

from algos.allowed import id_neutral_values
from algos.registry import ALGOS, Algo
from algos.train import TrainConfig
from experiments.validate import validate
from records.train_config import train_config


def scientific_config(config: TrainConfig) -> dict:
    """What determines the run's result, with every field at its `id_neutral` value left out."""
    science = dataclasses.asdict(config)
    for key, value in id_neutral_values(type(config)).items():
        if science[key] == value:
            del science[key]
    params = science["algo_params"]
    for key, value in id_neutral_values(ALGOS[config.algo].config_cls).items():
        if key in params and params[key] == value:
            del params[key]
    return json.loads(json.dumps(science, sort_keys=True))


def run_id(config: TrainConfig) -> str:
    """Readable prefix plus a hash of the scientific config: same science, same id. The
    prefix names an env given as module:Env-vN by Env-vN (the hash holds the module), so
    that the id stays a plain folder name."""
    key = ALGOS[config.algo].step_size_key_of(config.algo_params)
    digest = hashlib.sha256(
        json.dumps(scientific_config(config), sort_keys=True).encode()
    ).hexdigest()[:10]
    value = config.algo_params[key]
    env = config.env_id.rpartition(":")[2]
    return f"{config.algo}-{env}-{key}{value:g}-s{config.seed}-{digest}"


@dataclass(frozen=True)
class RunSpec:
    resolved: dict  # the composed config, resolved (what the record's config.yaml holds)
    config: TrainConfig
    run_id: str

    @classmethod
    def from_cfg(cls, cfg: DictConfig) -> "RunSpec":
        """Validate a composed config (ConfigError, one line) and build its spec."""
        return cls.from_resolved(validate(cfg))

    @classmethod
    def from_resolved(cls, resolved: dict) -> "RunSpec":
        """The spec of a config that was validated when it was made (a record's config.yaml)."""
        config = train_config(resolved)
        return cls(resolved, config, run_id(config))

    @cached_property
    def algo(self) -> Algo:
        return ALGOS[self.config.algo]

    @property
    def step_size_key(self) -> str:
        return self.algo.step_size_key_of(self.config.algo_params)

    @property
    def step_size(self) -> float:
        return self.config.algo_params[self.step_size_key]

    @property
    def sweep(self) -> str:
        return self.resolved["sweep"]["name"]

    @property
    def record_dir(self) -> Path:
        return Path(self.resolved["out_dir"]) / self.sweep / self.run_id

    @property
    def tags(self) -> list[str]:
        """The run's W&B tags: algo, env, step size."""
        return [
            self.config.algo,
            self.config.env_id,
            f"{self.step_size_key}={self.step_size:g}",
        ]

    def stored_config(self, **warm_start) -> dict:
        """What the record's config.yaml holds: the resolved config plus records.schema's
        CONFIG_KEYS, and its WARM_START_KEYS when given."""
        return self.resolved | {
            "run_id": self.run_id,
            "step_size_key": self.step_size_key,
            "step_size": self.step_size,
        } | warm_start  # fmt: skip
