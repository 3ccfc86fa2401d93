"""Fitting the critic: one regression for every update rule, so only the policy step differs."""

import torch

from algos.manual_grad import (
    flat_grad_buffer,
    linear_layers,
    tanh_mlp_backward,
    tanh_mlp_forward,
)
from algos.policy import ValueNet, adam
from algos.rollout import Batch


class ValueFitter:
    """Adam on ½·(V(s) − R̂)² over `epochs` passes of shuffled minibatches."""

    def __init__(self, critic: ValueNet, lr: float, epochs: int, minibatch_size: int):
        self.critic = critic
        self.linears = linear_layers(critic.net)
        flat_grad_buffer(critic)
        self.optimizer = adam(critic, lr)
        self.epochs = epochs
        self.minibatch_size = minibatch_size

    def fit(self, batch: Batch, generator: torch.Generator) -> dict[str, float]:
        losses = []
        for _ in range(self.epochs):
            for mb in batch.minibatches(self.minibatch_size, generator):
                losses.append(self._set_grads(mb))
                self.optimizer.step()
        return {
            "value_loss": torch.stack(losses).mean().item(),
            "explained_variance": explained_variance(batch.values, batch.returns),
        }

    @torch.no_grad()
    def _set_grads(self, mb: Batch) -> torch.Tensor:
        """Set the critic's .grad to ∇φ of ½·mean((V − R̂)²) on `mb` (by hand, tested
        equal to autograd: algos.manual_grad) and return that loss."""
        activations = tanh_mlp_forward(self.linears, mb.obs)
        error = activations[-1].squeeze(-1) - mb.returns
        tanh_mlp_backward(self.linears, activations, (error / mb.steps).unsqueeze(-1))
        return 0.5 * (error * error).mean()


def explained_variance(predicted: torch.Tensor, target: torch.Tensor) -> float:
    """1 − Var[target − predicted] / Var[target]: 1 is perfect, 0 is no better than a constant."""
    var_target = target.var().item()
    if var_target == 0.0:
        return float("nan")
    return 1.0 - (target - predicted).var().item() / var_target
