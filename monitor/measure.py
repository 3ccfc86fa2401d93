"""The size of one policy update from the policy's action distribution on the batch's states
before and after it: what a run record holds for the update, whatever code made it. In
float64, so that the tiny KLs of a cautious update are not lost to rounding."""

from dataclasses import dataclass

import torch

from algos.kl import gaussian_kl, gaussian_kl_parts, kl_k3
from algos.policy import gaussian_entropy, gaussian_log_prob


@dataclass(frozen=True)
class Gaussian:
    """A diagonal-Gaussian policy's action distribution on a batch of states."""

    mean: torch.Tensor  # (states, action dims)
    log_std: torch.Tensor  # the same shape, or one row shared by every state

    @classmethod
    def of(cls, mean, log_std) -> "Gaussian":
        mean = torch.as_tensor(mean).detach().to(torch.float64)
        log_std = torch.as_tensor(log_std).detach().to(torch.float64)
        if mean.ndim != 2:
            raise ValueError(f"mean must be (states, action dims), got shape {tuple(mean.shape)}")
        return cls(mean, log_std.expand_as(mean))


def update_size(
    old: Gaussian, new: Gaussian, actions: torch.Tensor | None = None
) -> dict[str, float]:
    """The update's metrics (algos.metrics names): the exact KL(π_old‖π_new) over the batch's
    states and its parts, the reverse KL and the new policy's entropy; with the actions the
    old policy took, also the k3 estimate and the probability ratios' range."""
    kl = gaussian_kl(old.mean, old.log_std, new.mean, new.log_std)
    shift, scale = gaussian_kl_parts(old.mean, old.log_std, new.mean, new.log_std)
    reverse = gaussian_kl(new.mean, new.log_std, old.mean, old.log_std)
    metrics = {
        "kl_mean": kl.mean().item(),
        "kl_max": kl.max().item(),
        "kl_shift": shift.mean().item(),
        "kl_scale": scale.mean().item(),
        "kl_reverse_mean": reverse.mean().item(),
        "entropy": gaussian_entropy(new.log_std).mean().item(),
    }
    if actions is not None:
        actions = torch.as_tensor(actions).detach().to(torch.float64).reshape(old.mean.shape)
        logp_old = gaussian_log_prob(old.mean, old.log_std, actions)
        logp_new = gaussian_log_prob(new.mean, new.log_std, actions)
        ratio = torch.exp(logp_new - logp_old)
        metrics |= {
            "kl_k3": kl_k3(logp_old, logp_new).mean().item(),
            "ratio_min": ratio.min().item(),
            "ratio_max": ratio.max().item(),
        }
    return metrics


def behaviour(collecting: Gaussian, old_renormalised: Gaussian, next_policy: Gaussian) -> dict:
    """The dose the agent receives, on the batch's states: `collecting` is the policy that
    collected the batch, `next_policy` the one that collects the next (new parameters,
    observation statistics updated), `old_renormalised` the old parameters under the
    updated statistics. Without an observation normaliser the last two see the same inputs
    as the update did, kl_behaviour is kl_mean and kl_normaliser 0."""
    return {
        "kl_behaviour": mean_kl(collecting, next_policy),
        "kl_normaliser": mean_kl(collecting, old_renormalised),
    }


def mean_kl(p: Gaussian, q: Gaussian) -> float:
    return gaussian_kl(p.mean, p.log_std, q.mean, q.log_std).mean().item()
