"""PPO's update: several epochs of minibatch Adam on a surrogate that discourages large steps.

Objectives of the PPO paper (Schulman et al. 2017, Table 1), with r = π_θ/π_old:
  clip:        L = E[min(r Â, clip(r, 1−ε, 1+ε) Â)]
  none:        L = E[r Â]
  kl_fixed:    L = E[r Â − β KL(π_old‖π_θ)]
  kl_adaptive: as kl_fixed, then β ← β/2 if KL < d_targ/1.5, β ← 2β if KL > 1.5 d_targ
"""

from dataclasses import dataclass

import numpy as np
import torch

from algos.kl import gaussian_kl
from algos.policy import GaussianActor, adam, grad_norm
from algos.rollout import Batch
from algos.surrogate import mean_kl, ratio

OBJECTIVES = ("clip", "none", "kl_fixed", "kl_adaptive")


@dataclass
class PPOConfig:
    epsilon: float = 0.2  # clip range ε: the ratio r is clipped to [1−ε, 1+ε]
    lr: float = 3e-4  # Adam step size of the policy
    epochs: int = 10  # passes over the batch per update
    minibatch_size: int = 64
    max_grad_norm: float | None = 0.5  # global gradient-norm clip; None disables it
    objective: str = "clip"  # one of OBJECTIVES
    kl_coef: float = 1.0  # β, initial value for kl_adaptive
    kl_target: float = 0.01  # d_targ of the adaptive rule


def ppo_objective(
    r: torch.Tensor,
    advantages: torch.Tensor,
    kl: torch.Tensor,
    objective: str,
    epsilon: float,
    beta: float,
) -> torch.Tensor:
    """The per-sample surrogate to maximise (see the module docstring); `kl` is per state."""
    if objective == "clip":
        return torch.min(r * advantages, torch.clamp(r, 1.0 - epsilon, 1.0 + epsilon) * advantages)
    if objective == "none":
        return r * advantages
    if objective in ("kl_fixed", "kl_adaptive"):
        return r * advantages - beta * kl
    raise ValueError(f"unknown PPO objective {objective!r}; allowed: {', '.join(OBJECTIVES)}")


def adapt_kl_coef(beta: float, kl_mean: float, kl_target: float) -> float:
    """The PPO paper's adaptive penalty rule, applied once per update."""
    if kl_mean < kl_target / 1.5:
        return beta / 2.0
    if kl_mean > kl_target * 1.5:
        return beta * 2.0
    return beta


class PPOUpdate:
    def __init__(self, actor: GaussianActor, config: PPOConfig):
        self.actor = actor
        self.config = config
        self.optimizer = adam(actor, config.lr)
        self.kl_coef = config.kl_coef

    def step(self, batch: Batch, generator: torch.Generator) -> dict[str, float]:
        c = self.config
        needs_kl = c.objective in ("kl_fixed", "kl_adaptive")
        losses, clipped, grad_norms = [], [], []
        for _ in range(c.epochs):
            for mb in batch.minibatches(c.minibatch_size, generator):
                mean, log_std = self.actor(mb.obs)
                r = ratio(mean, log_std, mb)
                kl = (
                    gaussian_kl(mb.mean_old, mb.log_std_old, mean, log_std)
                    if needs_kl
                    else torch.zeros_like(r)
                )
                objective = ppo_objective(
                    r, mb.advantages, kl, c.objective, c.epsilon, self.kl_coef
                )
                loss = -objective.mean()
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                grad_norms.append(grad_norm(self.actor, c.max_grad_norm))
                self.optimizer.step()
                losses.append(loss.item())
                clipped.append(((r - 1.0).abs() > c.epsilon).float().mean().item())
        metrics = {
            "policy_loss": float(np.mean(losses)),
            "clip_frac": float(np.mean(clipped)),
            "grad_norm": float(np.mean(grad_norms)),
            "kl_coef": self.kl_coef if needs_kl else float("nan"),
        }
        if c.objective == "kl_adaptive":
            with torch.no_grad():
                kl_mean = mean_kl(self.actor, batch).item()
            self.kl_coef = adapt_kl_coef(self.kl_coef, kl_mean, c.kl_target)
        return metrics
