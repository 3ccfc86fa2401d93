"""The surrogate objective all three update rules start from, and what one update changed.

L(θ) = E_t[ π_θ(a_t|s_t) / π_old(a_t|s_t) · Â_t ]; its gradient at θ = θ_old is the
policy gradient. PG climbs it with a plain optimiser step, TRPO within a KL ball, PPO
with the ratio clipped. `update_diagnostics` then measures the same quantities for each.
"""

import math

import torch
from torch.func import functional_call, jvp

from algos.kl import gaussian_kl, gaussian_kl_parts, kl_k3
from algos.policy import GaussianActor, flat_params, gaussian_entropy, gaussian_log_prob
from algos.rollout import Batch


def ratio(
    mean: torch.Tensor, log_std: torch.Tensor, actions: torch.Tensor, logp_old: torch.Tensor
) -> torch.Tensor:
    """r_t(θ) = π_θ(a_t|s_t) / π_old(a_t|s_t), from π_θ's mean and log-std at s_t."""
    return torch.exp(gaussian_log_prob(mean, log_std, actions) - logp_old)


def surrogate(actor: GaussianActor, batch: Batch) -> torch.Tensor:
    """L(θ) = mean_t r_t(θ) Â_t over the whole batch."""
    mean, log_std = actor(batch.obs)
    return (ratio(mean, log_std, batch.actions, batch.logp_old) * batch.advantages).mean()


def mean_kl(actor: GaussianActor, batch: Batch) -> torch.Tensor:
    """Exact mean over the batch's states of KL(π_old(·|s) ‖ π_θ(·|s)), differentiable in θ."""
    mean, log_std = actor(batch.obs)
    return gaussian_kl(batch.mean_old, batch.log_std_old, mean, log_std).mean()


def quadratic_kl(
    actor: GaussianActor, batch: Batch, theta_old: torch.Tensor, step: torch.Tensor
) -> float:
    """½ Δθᵀ F Δθ: the second-order Taylor model of the mean KL(π_old‖π_{θ_old+Δθ}), with F
    the (undamped) Fisher matrix at θ_old.

    For a diagonal Gaussian the model is, per state, Σ_i ½ (J_μ Δθ)_i² / σ_i² + (J_logσ Δθ)_i²,
    so one forward-mode product (torch.func.jvp) gives it exactly, with no Hessian.
    """
    names = [name for name, _ in actor.named_parameters()]
    sizes = [p.numel() for p in actor.parameters()]
    shapes = [p.shape for p in actor.parameters()]

    def as_params(flat: torch.Tensor) -> dict[str, torch.Tensor]:
        parts = (t.view(s) for t, s in zip(flat.split(sizes), shapes, strict=True))
        return dict(zip(names, parts, strict=True))

    def policy(params: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        return functional_call(actor, params, (batch.obs,))

    (_, log_std), (d_mean, d_log_std) = jvp(policy, (as_params(theta_old),), (as_params(step),))
    per_state = (0.5 * d_mean.square() * torch.exp(-2.0 * log_std) + d_log_std.square()).sum(-1)
    return per_state.mean().item()


def update_diagnostics(
    actor: GaussianActor, batch: Batch, params_before: torch.Tensor
) -> dict[str, float]:
    """How far the update moved the policy, measured on the batch it was computed from."""
    theta = flat_params(actor)
    kl_quadratic = quadratic_kl(actor, batch, params_before, theta - params_before)
    with torch.no_grad():
        mean, log_std = actor(batch.obs)
        kl = gaussian_kl(batch.mean_old, batch.log_std_old, mean, log_std)
        kl_shift, kl_scale = gaussian_kl_parts(batch.mean_old, batch.log_std_old, mean, log_std)
        kl_reverse = gaussian_kl(mean, log_std, batch.mean_old, batch.log_std_old)
        logp = gaussian_log_prob(mean, log_std, batch.actions)
        r = torch.exp(logp - batch.logp_old)
        kl_mean = kl.mean().item()
        kl_behaviour = (
            gaussian_kl(batch.mean_old, batch.log_std_old, *actor(batch.obs_next)).mean().item()
            if batch.obs_next is not None
            else math.nan
        )
        return {
            "kl_mean": kl_mean,
            "kl_quadratic": kl_quadratic,
            "kl_model_ratio": kl_mean / kl_quadratic if kl_quadratic > 0.0 else math.nan,
            "kl_max": kl.max().item(),
            "kl_shift": kl_shift.mean().item(),
            "kl_scale": kl_scale.mean().item(),
            "kl_k3": kl_k3(batch.logp_old, logp).mean().item(),
            "kl_reverse_mean": kl_reverse.mean().item(),
            "kl_behaviour": kl_behaviour,
            "kl_normaliser": batch.kl_normaliser,
            "ratio_min": r.min().item(),
            "ratio_max": r.max().item(),
            "entropy": gaussian_entropy(log_std).mean().item(),
            "step_norm": (theta - params_before).norm().item(),
        }
