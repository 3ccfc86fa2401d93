"""The one-update probe's maths: the directions the three update rules would move the
policy in, and how far along one to go to reach a chosen KL(π_old‖π_new).

From θ_old and one batch:
  vanilla  d = g = ∇_θ L(θ_old)                 (PG's direction)
  natural  d = H⁻¹ g, by conjugate gradient      (TRPO's direction; H the Fisher matrix)
  ppo      d = θ_PPO − θ_old after PPO's epochs  (PPO's own update)
and the scale α with mean_s KL(π_old(·|s) ‖ π_{θ_old + α d}(·|s)) within a relative
tolerance of a target KL, by bisection on log α. Reuses the update rules in algos/; it
does not copy them.
"""

import copy
import math

import torch

from algos.cg import conjugate_gradient
from algos.policy import GaussianActor, flat_params, set_flat_params
from algos.ppo import PPOConfig, PPOUpdate
from algos.rollout import Batch
from algos.surrogate import mean_kl, surrogate
from algos.trpo import fisher_vector_product


def vanilla_direction(actor: GaussianActor, batch: Batch) -> torch.Tensor:
    """g = ∇_θ L(θ) at the actor's parameters, flat."""
    grads = torch.autograd.grad(surrogate(actor, batch), list(actor.parameters()))
    return torch.cat([g.reshape(-1) for g in grads]).detach()


def natural_direction(
    actor: GaussianActor, batch: Batch, damping: float = 0.1, cg_iters: int = 10
) -> torch.Tensor:
    """s ≈ (H + damping·I)⁻¹ g by conjugate gradient on Fisher-vector products (TRPO's)."""
    fvp = fisher_vector_product(actor, batch, damping)
    direction, _ = conjugate_gradient(fvp, vanilla_direction(actor, batch), cg_iters, 1e-10)
    return direction.detach()


def ppo_direction(
    actor: GaussianActor, batch: Batch, config: PPOConfig, generator: torch.Generator
) -> torch.Tensor:
    """θ_PPO − θ_old: PPO's whole update (its epochs of minibatch Adam) on a copy of the actor."""
    moved = copy.deepcopy(actor)
    PPOUpdate(moved, config).step(batch, generator)
    return (flat_params(moved) - flat_params(actor)).detach()


def kl_along(actor: GaussianActor, batch: Batch, theta: torch.Tensor, direction, scale) -> float:
    """Mean KL(π_old‖π) over the batch's states at θ + scale·direction (the actor is restored)."""
    with torch.no_grad():
        set_flat_params(actor, theta + scale * direction)
        kl = mean_kl(actor, batch).item()
        set_flat_params(actor, theta)
    return kl


def scale_for_kl(
    actor: GaussianActor,
    batch: Batch,
    direction: torch.Tensor,
    target: float,
    rel_tol: float = 0.1,
    max_iters: int = 80,
) -> float:
    """α > 0 with |KL(α)/target − 1| ≤ rel_tol, where KL(α) is the mean KL at θ + α·direction
    (θ the actor's parameters): bracket by factors of 10, then bisect on log α. NaN when no
    α within 1e-12…1e12 brackets the target (the direction cannot reach that KL)."""
    theta = flat_params(actor)

    def kl(log_scale: float) -> float:
        return kl_along(actor, batch, theta, direction, math.exp(log_scale))

    low = high = 0.0
    while kl(low) > target:
        low -= math.log(10.0)
        if low < math.log(1e-12):
            return float("nan")
    while not kl(high) > target:
        high += math.log(10.0)
        if high > math.log(1e12):
            return float("nan")
    for _ in range(max_iters):
        middle = 0.5 * (low + high)
        value = kl(middle)
        if abs(value / target - 1.0) <= rel_tol:
            return math.exp(middle)
        if value < target:
            low = middle
        else:
            high = middle
    return float("nan")


def surrogate_change(actor: GaussianActor, batch: Batch, theta: torch.Tensor) -> float:
    """L(θ) − L(θ_old) on the batch: the improvement the local approximation predicts, in
    the batch's (normalised) advantage units per step. The actor is restored."""
    theta_old = flat_params(actor)
    with torch.no_grad():
        before = surrogate(actor, batch).item()
        set_flat_params(actor, theta)
        after = surrogate(actor, batch).item()
        set_flat_params(actor, theta_old)
    return after - before
