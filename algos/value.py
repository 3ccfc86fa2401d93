"""Fitting the critic: one regression for every update rule, so only the policy step differs."""

import torch

from algos.manual_grad import tanh_mlp_backward, tanh_mlp_forward
from algos.minibatch_step import MinibatchStep
from algos.policy import ValueNet, adam
from algos.rollout import Batch


def value_grads(
    params: list[torch.Tensor], obs: torch.Tensor, returns: torch.Tensor
) -> tuple[list[torch.Tensor], torch.Tensor]:
    """∇φ of ½·mean((V − R̂)²) on one minibatch for the critic's `parameters()`, and that
    loss (by hand, tested equal to autograd: algos.manual_grad)."""
    activations = tanh_mlp_forward(params, obs)
    error = activations[-1].squeeze(-1) - returns
    grads = tanh_mlp_backward(params, activations, (error / obs.shape[0]).unsqueeze(-1))
    return grads, 0.5 * (error * error).mean()


class ValueFitter:
    """Adam on ½·(V(s) − R̂)² over `epochs` passes of shuffled minibatches."""

    def __init__(self, critic: ValueNet, lr: float, epochs: int, minibatch_size: int):
        self.critic = critic
        self.optimizer = adam(critic, lr)
        # eager: compiling the critic's steps did not repay its compile time (README, Benchmarks)
        self.minibatch_step = MinibatchStep(critic, self.optimizer, value_grads, None, False)
        self.epochs = epochs
        self.minibatch_size = minibatch_size

    def fit(self, batch: Batch, generator: torch.Generator) -> dict[str, float]:
        losses = []
        for _ in range(self.epochs):
            for mb in batch.minibatches(self.minibatch_size, generator):
                loss, _ = self.minibatch_step(mb.obs, mb.returns)
                losses.append(loss)
        return {
            "value_loss": torch.stack(losses).mean().item(),
            "explained_variance": explained_variance(batch.values, batch.returns),
        }


def explained_variance(predicted: torch.Tensor, target: torch.Tensor) -> float:
    """1 − Var[target − predicted] / Var[target]: 1 is perfect, 0 is no better than a constant."""
    var_target = target.var().item()
    if var_target == 0.0:
        return float("nan")
    return 1.0 - (target - predicted).var().item() / var_target
