"""The zero-dose control: an update rule whose policy never moves.

A run of it collects, normalises, fits the critic and logs like every other run, but
its actor keeps θ_old, so every update's KL(π_old‖π_new) is exactly 0. Its collapse
frequency is the collapse rule's false-alarm rate: how often the return of a policy
that did not change falls far enough, by the noise of episodes and of the normalisers
alone, to be called a collapse.
"""

from dataclasses import dataclass

import torch

from algos.allowed import Real, setting
from algos.policy import GaussianActor
from algos.rollout import Batch
from algos.surrogate import surrogate
from algos.update_rule import StepsOneByOne


@dataclass
class HoldConfig:
    lr: float = setting(0.0, Real(0.0, 0.0, low_open=False))  # its step size: always 0


class HoldUpdate(StepsOneByOne):
    """Measures the surrogate and its gradient at θ_old, and keeps θ_old."""

    def __init__(self, actor: GaussianActor, config: HoldConfig):
        self.actor, self.config = actor, config

    def step(self, batch: Batch, generator: torch.Generator) -> dict[str, float]:
        loss = surrogate(self.actor, batch)
        grads = torch.autograd.grad(loss, list(self.actor.parameters()))
        norm = torch.linalg.vector_norm(torch.cat([g.reshape(-1) for g in grads]))
        return {"policy_loss": -loss.item(), "grad_norm": norm.item()}

    def optimizers(self) -> list[torch.optim.Optimizer]:
        return []  # nothing for lr annealing or Adam's ε to reach

    def state_dict(self) -> dict:
        return {}  # nothing beyond the actor

    def load_state_dict(self, state: dict) -> None:
        pass
