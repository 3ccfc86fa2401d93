"""The surrogate objective all three update rules start from, and what one update changed.

L(θ) = E_t[ π_θ(a_t|s_t) / π_old(a_t|s_t) · Â_t ]; its gradient at θ = θ_old is the
policy gradient. PG climbs it with a plain optimiser step, TRPO within a KL ball, PPO
with the ratio clipped. `update_diagnostics` then measures the same quantities for each.
"""

import torch

from algos.kl import gaussian_kl, kl_k3
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


def update_diagnostics(
    actor: GaussianActor, batch: Batch, params_before: torch.Tensor
) -> dict[str, float]:
    """How far the update moved the policy, measured on the batch it was computed from."""
    with torch.no_grad():
        mean, log_std = actor(batch.obs)
        kl = gaussian_kl(batch.mean_old, batch.log_std_old, mean, log_std)
        kl_reverse = gaussian_kl(mean, log_std, batch.mean_old, batch.log_std_old)
        logp = gaussian_log_prob(mean, log_std, batch.actions)
        r = torch.exp(logp - batch.logp_old)
        return {
            "kl_mean": kl.mean().item(),
            "kl_max": kl.max().item(),
            "kl_k3": kl_k3(batch.logp_old, logp).mean().item(),
            "kl_reverse_mean": kl_reverse.mean().item(),
            "ratio_min": r.min().item(),
            "ratio_max": r.max().item(),
            "entropy": gaussian_entropy(log_std).mean().item(),
            "step_norm": (flat_params(actor) - params_before).norm().item(),
        }
