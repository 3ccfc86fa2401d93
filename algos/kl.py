"""KL divergences between diagonal-Gaussian policies: the quantity this suite studies.

Everything here measures KL(π_old‖π_new), the direction TRPO constrains, unless the
name says `reverse`. Exact values come from the closed form; k3 is the sample estimator
(Schulman, "Approximating KL divergence") computed from the actions the old policy
actually took, so it can be compared with what other libraries log.
"""

import torch


def gaussian_kl(
    mean_p: torch.Tensor, log_std_p: torch.Tensor, mean_q: torch.Tensor, log_std_q: torch.Tensor
) -> torch.Tensor:
    """Exact KL(p‖q) per state for diagonal Gaussians, summed over action dimensions.

    KL(p‖q) = Σ_i [ log σ_q,i − log σ_p,i + (σ_p,i² + (μ_p,i − μ_q,i)²) / (2 σ_q,i²) − ½ ]
    """
    var_p = torch.exp(2.0 * log_std_p)
    var_q = torch.exp(2.0 * log_std_q)
    per_dim = log_std_q - log_std_p + (var_p + (mean_p - mean_q) ** 2) / (2.0 * var_q) - 0.5
    return per_dim.sum(dim=-1)


def gaussian_kl_parts(
    mean_p: torch.Tensor, log_std_p: torch.Tensor, mean_q: torch.Tensor, log_std_q: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """KL(p‖q) per state split into what moving the mean costs and what changing the spread
    costs: shift + scale = gaussian_kl, with

    shift = Σ_i (μ_p,i − μ_q,i)² / (2 σ_q,i²)   (0 when the means agree)
    scale = Σ_i [ log σ_q,i − log σ_p,i + σ_p,i² / (2 σ_q,i²) − ½ ]   (0 when the spreads agree)

    Both are non-negative, so an update's KL can be read as spent on one or the other.
    """
    var_q = torch.exp(2.0 * log_std_q)
    shift = ((mean_p - mean_q) ** 2 / (2.0 * var_q)).sum(dim=-1)
    scale = (log_std_q - log_std_p + torch.exp(2.0 * log_std_p) / (2.0 * var_q) - 0.5).sum(dim=-1)
    return shift, scale


def kl_k3(logp_old: torch.Tensor, logp_new: torch.Tensor) -> torch.Tensor:
    """Unbiased, non-negative, low-variance estimator of KL(old‖new) from a ~ π_old.

    With r = π_new(a)/π_old(a): k3 = (r − 1) − log r.
    """
    log_ratio = logp_new - logp_old
    return torch.expm1(log_ratio) - log_ratio
