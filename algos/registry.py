"""The update rules the suite compares, with each one's config and step-size key."""

from dataclasses import dataclass

from algos.pg import PGConfig, PGUpdate
from algos.ppo import PPOConfig, PPOUpdate
from algos.trpo import TRPOConfig, TRPOUpdate


@dataclass(frozen=True)
class Algo:
    config_cls: type
    update_cls: type
    step_size_key: str  # the hyperparameter a sweep varies to change how far an update moves
    top_level_keys: tuple[str, ...]  # of delta/epsilon/lr, the ones this algo accepts
    # its update takes minibatch Adam steps (algos.minibatch_step): built with `compiled=`
    minibatch_steps: bool = False


ALGOS: dict[str, Algo] = {
    "pg": Algo(PGConfig, PGUpdate, "lr", ("lr",)),
    "trpo": Algo(TRPOConfig, TRPOUpdate, "delta", ("delta",)),
    "ppo": Algo(PPOConfig, PPOUpdate, "epsilon", ("epsilon", "lr"), minibatch_steps=True),
}

STEP_SIZE_KEYS = ("delta", "epsilon", "lr")
