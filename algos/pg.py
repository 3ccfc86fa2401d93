"""Vanilla policy gradient: one plain optimiser step on the surrogate, nothing bounding the KL.

θ ← θ + lr · (Adam or SGD direction of ∇_θ L(θ)),  L(θ) = E_t[π_θ(a_t|s_t)/π_old(a_t|s_t) · Â_t].
At θ = θ_old, ∇L = E_t[∇ log π_θ(a_t|s_t) Â_t], the REINFORCE-with-baseline gradient.
`lr` is the only thing that sets how far the policy moves; the sweep pushes it until it breaks.
"""

from dataclasses import dataclass

import torch

from algos.allowed import LEARNING_RATE, Int, OneOf, setting
from algos.policy import GaussianActor, adam, grad_norm
from algos.rollout import Batch
from algos.surrogate import surrogate
from algos.update_rule import StepsOneByOne

OPTIMIZERS = ("adam", "sgd")


@dataclass
class PGConfig:
    lr: float = setting(3e-3, LEARNING_RATE)  # policy step size
    optimizer: str = setting("adam", OneOf(*OPTIMIZERS))
    steps_per_update: int = setting(1, Int(low=1))  # full-batch gradient steps per batch


class PGUpdate(StepsOneByOne):
    def __init__(self, actor: GaussianActor, config: PGConfig):
        self.actor = actor
        self.config = config
        if config.optimizer == "adam":
            self.optimizer = adam(actor, config.lr)
        elif config.optimizer == "sgd":
            self.optimizer = torch.optim.SGD(actor.parameters(), lr=config.lr)
        else:
            raise ValueError(
                f"unknown optimizer {config.optimizer!r}; allowed: {', '.join(OPTIMIZERS)}"
            )

    def optimizers(self) -> list[torch.optim.Optimizer]:
        return [self.optimizer]

    def state_dict(self) -> dict:
        """A checkpoint holds the optimiser's state (Adam's moments; SGD has none)."""
        return {"policy_optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state["policy_optimizer"])

    def step(self, batch: Batch, generator: torch.Generator) -> dict[str, float]:
        losses, grad_norms = [], []
        for _ in range(self.config.steps_per_update):
            loss = -surrogate(self.actor, batch)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            grad_norms.append(grad_norm(self.actor, None))
            self.optimizer.step()
            losses.append(loss.item())
        return {
            "policy_loss": sum(losses) / len(losses),
            "grad_norm": sum(grad_norms) / len(grad_norms),
        }
