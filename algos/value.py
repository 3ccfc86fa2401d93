"""Fitting the critic: one regression for every update rule, so only the policy step differs.

The critics of a population (runs of one shape trained side by side) are fitted together:
their parameters and Adam states stacked along a member axis, each minibatch step one
batched step for all of them, and each critic's trajectory bit for bit the one it takes
when fitted alone (`fit_together`; a run alone is a population of one).
"""

import torch

from algos.manual_grad import tanh_mlp_backward, tanh_mlp_forward
from algos.minibatch_step import (
    adam_groups,
    adam_state,
    adam_step,
    hyperparameters,
    in_groups,
    stacked,
)
from algos.policy import ValueNet, adam
from algos.rollout import Batch


def value_grads(
    params: list[torch.Tensor], obs: torch.Tensor, returns: torch.Tensor
) -> tuple[list[torch.Tensor], torch.Tensor]:
    """∇φ of ½·mean((V − R̂)²) for stacked critics on their own minibatches, (members,
    samples, ...), and each member's loss (by hand, tested equal to autograd)."""
    activations = tanh_mlp_forward(params, obs)
    error = activations[-1].squeeze(-1) - returns
    grads = tanh_mlp_backward(params, activations, (error / obs.shape[1]).unsqueeze(-1))
    return grads, 0.5 * (error * error).mean(dim=1)


class ValueFitter:
    """Adam on ½·(V(s) − R̂)² over `epochs` passes of shuffled minibatches."""

    def __init__(self, critic: ValueNet, lr: float, epochs: int, minibatch_size: int):
        self.critic = critic
        self.optimizer = adam(critic, lr)
        self.epochs = epochs
        self.minibatch_size = minibatch_size

    def adam_state(self) -> list[dict]:
        return adam_state(self.optimizer, list(self.critic.parameters()))

    def shape(self) -> tuple:
        """What critics fitted together must share: their Adam settings, its step count,
        and the sizes of their passes."""
        group = self.optimizer.param_groups[0]
        step = float(self.adam_state()[0]["step"])
        return (tuple(sorted(hyperparameters(group).items())), step, self.epochs,
                self.minibatch_size)  # fmt: skip


@torch.no_grad()
def fit_together(
    fitters: list[ValueFitter], batches: list[Batch], generators: list[torch.Generator]
) -> list[dict[str, float]]:
    """Fit each critic on its own batch with its own generator's minibatches, all in one
    batched pass per minibatch (fitters whose `shape` differs in groups of their own)."""
    return in_groups([f.shape() for f in fitters], _fit_group, fitters, batches, generators)


def _fit_group(
    fitters: list[ValueFitter], batches: list[Batch], generators: list[torch.Generator]
) -> list[dict[str, float]]:
    """The batched fit of critics of one `shape`: gradients on the stacked parameters,
    then Adam on each member's slice with that member's own state (minibatch_step.adam_step)."""
    first = fitters[0]
    own_params = [list(f.critic.parameters()) for f in fitters]
    params = stacked(own_params)
    members = range(len(fitters))
    slices = [[p[m] for p in params] for m in members]
    grad_buffers = [torch.empty_like(p) for p in params]  # each step's gradients, copied in
    grad_slices = [[g[m] for g in grad_buffers] for m in members]
    states = [f.adam_state() for f in fitters]
    groups = adam_groups([f.optimizer for f in fitters])
    obs = torch.stack([b.obs for b in batches])
    returns = torch.stack([b.returns for b in batches])
    rows = torch.arange(len(fitters)).unsqueeze(1)
    losses = []
    for _ in range(first.epochs):
        order = torch.stack([torch.randperm(b.steps, generator=g)
                             for b, g in zip(batches, generators, strict=True)])  # fmt: skip
        for obs_mb, returns_mb in zip(obs[rows, order].split(first.minibatch_size, dim=1),
                                      returns[rows, order].split(first.minibatch_size, dim=1),
                                      strict=True):  # fmt: skip
            grads, loss = value_grads(params, obs_mb, returns_mb)
            for buffer, grad in zip(grad_buffers, grads, strict=True):
                buffer.copy_(grad)
            adam_step(slices, grad_slices, states, groups)
            losses.append(loss)
    per_member = torch.stack(losses, dim=1)
    results = []
    for m in members:
        for p, stacked_p in zip(own_params[m], params, strict=True):
            p.copy_(stacked_p[m])
        results.append({
            "value_loss": per_member[m].mean().item(),
            "explained_variance": explained_variance(batches[m].values, batches[m].returns),
        })  # fmt: skip
    return results


def explained_variance(predicted: torch.Tensor, target: torch.Tensor) -> float:
    """1 − Var[target − predicted] / Var[target]: 1 is perfect, 0 is no better than a constant."""
    var_target = target.var().item()
    if var_target == 0.0:
        return float("nan")
    return 1.0 - (target - predicted).var().item() / var_target
