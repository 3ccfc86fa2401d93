"""The one-update probe's maths: the directions the three update rules would move the
policy in, and how far along one to go to reach a chosen KL(π_old‖π_new).

From θ_old and one batch:
  vanilla  d = g = ∇_θ L(θ_old)                 (PG's direction)
  natural  d = H⁻¹ g, by conjugate gradient      (TRPO's direction; H the Fisher matrix)
  ppo      d = θ_PPO − θ_old after PPO's epochs  (PPO's own update)
and the scale α with mean_s KL(π_old(·|s) ‖ π_{θ_old + α d}(·|s)) within a relative
tolerance of a target KL, by bisection on log α. The native knobs (algos.registry: PG's
lr, TRPO's δ, PPO's ε) are one whole update of the rule at that setting, unscaled. Reuses the update
rules in algos/ through the registry; it does not copy them.
"""

import copy
import dataclasses
import math

import torch

from algos.natural_gradient import Stack, natural_directions
from algos.policy import GaussianActor, flat_params, set_flat_params
from algos.registry import ALGOS
from algos.rollout import Batch
from algos.surrogate import mean_kl, surrogate
from algos.trpo import TRPOConfig


def vanilla_direction(actor: GaussianActor, batch: Batch) -> torch.Tensor:
    """g = ∇_θ L(θ) at the actor's parameters, flat."""
    grads = torch.autograd.grad(surrogate(actor, batch), list(actor.parameters()))
    return torch.cat([g.reshape(-1) for g in grads]).detach()


def natural_direction(
    actor: GaussianActor,
    batch: Batch,
    damping: float = TRPOConfig.damping,
    cg_iters: int = TRPOConfig.cg_iters,
) -> torch.Tensor:
    """s ≈ (H + damping·I)⁻¹ g by conjugate gradient on Fisher-vector products, at TRPO's
    own settings unless given: TRPO's own direction, as a stack of one."""
    config = TRPOConfig(damping=damping, cg_iters=cg_iters)
    return natural_directions(Stack([actor], [batch]), [config]).s[0]


def update_step(
    actor: GaussianActor, batch: Batch, algo: str, params: dict, generator: torch.Generator
) -> torch.Tensor:
    """θ_new − θ_old of one whole update of `algo` with `params` (its config's other fields at
    their defaults), made on a copy of the actor: PPO's direction is update_step("ppo", …)."""
    moved = copy.deepcopy(actor)
    rule = ALGOS[algo]
    rule.update_cls(moved, rule.config_cls(**params)).step(batch, generator)
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
    """L(θ) − L(θ_old) on the batch, in the units of its advantages per step. The actor is
    restored."""
    theta_old = flat_params(actor)
    with torch.no_grad():
        before = surrogate(actor, batch).item()
        set_flat_params(actor, theta)
        after = surrogate(actor, batch).item()
        set_flat_params(actor, theta_old)
    return after - before


def predicted_return_change(
    actor: GaussianActor,
    batch: Batch,
    theta: torch.Tensor,
    reward_scale: float,
    episode_length: float,
) -> float:
    """The local approximation's prediction of the change in episode return at θ:
    T̄ · mean_t[(r_t(θ) − 1) · A_t] with A_t the batch's GAE advantages before their
    normalisation, in reward units (× `reward_scale`, the reward scaler's std) and T̄ =
    `episode_length` steps per episode. Trust-region theory's L_θold(θ) − η(θ_old), per
    episode; it ignores that the states would be visited differently under θ, which is
    exactly what fails far from θ_old."""
    raw = dataclasses.replace(batch, advantages=batch.returns - batch.values)
    return surrogate_change(actor, raw, theta) * reward_scale * episode_length
