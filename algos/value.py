"""Fitting the critic: one regression for every update rule, so only the policy step differs."""

import numpy as np
import torch

from algos.policy import ValueNet, adam
from algos.rollout import Batch


class ValueFitter:
    """Adam on ½·(V(s) − R̂)² over `epochs` passes of shuffled minibatches."""

    def __init__(self, critic: ValueNet, lr: float, epochs: int, minibatch_size: int):
        self.critic = critic
        self.optimizer = adam(critic, lr)
        self.epochs = epochs
        self.minibatch_size = minibatch_size

    def fit(self, batch: Batch, generator: torch.Generator) -> dict[str, float]:
        losses = []
        for _ in range(self.epochs):
            for mb in batch.minibatches(self.minibatch_size, generator):
                loss = 0.5 * ((self.critic(mb.obs) - mb.returns) ** 2).mean()
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                self.optimizer.step()
                losses.append(loss.item())
        return {
            "value_loss": float(np.mean(losses)),
            "explained_variance": explained_variance(batch.values, batch.returns),
        }


def explained_variance(predicted: torch.Tensor, target: torch.Tensor) -> float:
    """1 − Var[target − predicted] / Var[target]: 1 is perfect, 0 is no better than a constant."""
    var_target = target.var().item()
    if var_target == 0.0:
        return float("nan")
    return 1.0 - (target - predicted).var().item() / var_target
