"""What the training loop, checkpoints and the probe ask of an update rule, and the
population step of a rule whose members step one after another."""

from typing import Protocol

import torch

from algos.rollout import Batch


class UpdateRule(Protocol):
    def step(self, batch: Batch, generator: torch.Generator) -> dict[str, float]:
        """Move the actor once on `batch`; the rule's own metrics (names from algos.metrics)."""

    @classmethod
    def step_together(
        cls, updates: list["UpdateRule"], batches: list[Batch], generators: list[torch.Generator]
    ) -> list[dict[str, float]]:
        """`step` of each of a population's members of this rule, each on its own batch with
        its own generator; each member's result bit for bit its `step` alone."""

    def optimizers(self) -> list[torch.optim.Optimizer]:
        """The rule's optimisers (lr annealing and Adam's ε reach them here); [] for none."""

    def state_dict(self) -> dict:
        """What a checkpoint holds of the rule beyond the actor (its keys are checkpoint keys)."""

    def load_state_dict(self, state: dict) -> None:
        """Continue from a checkpoint's `state_dict` part."""


class StepsOneByOne:
    """The population step of a rule whose update has no stacked form yet: its members
    step one after another (PPO's, TRPO's and NPG's members step in stacked passes:
    algos.ppo, algos.natural_gradient)."""

    @classmethod
    def step_together(
        cls, updates: list[UpdateRule], batches: list[Batch], generators: list[torch.Generator]
    ) -> list[dict[str, float]]:
        return [u.step(b, g) for u, b, g in zip(updates, batches, generators, strict=True)]
