"""The actor and critic every update rule shares (PPO paper: 64x64 tanh, no sharing).

The actor is a Gaussian whose mean is an MLP of the observation and whose log standard
deviation is a free, state-independent parameter vector.
"""

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn


def mlp(sizes: Sequence[int], output_gain: float, orthogonal: bool = True) -> nn.Sequential:
    """tanh MLP, zero biases. Weights orthogonal (hidden gain √2, final layer `output_gain`:
    SB3/CleanRL) or, with `orthogonal=False`, Baselines' normc as the PPO paper's code had
    it: each unit's incoming weights a Gaussian vector scaled to norm 1 (final layer:
    `output_gain`)."""
    layers: list[nn.Module] = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        last = i == len(sizes) - 2
        linear = nn.Linear(fan_in, fan_out)
        if orthogonal:
            nn.init.orthogonal_(linear.weight, gain=output_gain if last else np.sqrt(2.0))
        else:
            with torch.no_grad():
                weight = torch.randn(fan_out, fan_in)
                gain = output_gain if last else 1.0
                linear.weight.copy_(gain * weight / weight.norm(dim=1, keepdim=True))
        nn.init.zeros_(linear.bias)
        layers.append(linear)
        if not last:
            layers.append(nn.Tanh())
    return nn.Sequential(*layers)


class GaussianActor(nn.Module):
    """π_θ(a|s) = N(μ_θ(s), diag(exp(2·log_std)))."""

    def __init__(
        self, obs_dim: int, act_dim: int, hidden: Sequence[int], init_log_std: float,
        orthogonal_init: bool = True,
    ):  # fmt: skip
        super().__init__()
        self.mean_net = mlp([obs_dim, *hidden, act_dim], 0.01, orthogonal_init)
        self.log_std = nn.Parameter(torch.full((act_dim,), float(init_log_std)))

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-std, both shaped (batch, act_dim)."""
        mean = self.mean_net(obs)
        return mean, self.log_std.expand_as(mean)

    @torch.no_grad()
    def frozen(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-std as tensors of their own, for π_old of a batch: the log-std that
        `forward` returns is a view of the parameter and would follow every later update."""
        mean, log_std = self(obs)
        return mean, log_std.clone()


def gaussian_log_prob(
    mean: torch.Tensor, log_std: torch.Tensor, actions: torch.Tensor
) -> torch.Tensor:
    """log N(a; μ, σ²) summed over action dimensions."""
    z = (actions - mean) * torch.exp(-log_std)
    return (-0.5 * z**2 - log_std - 0.5 * np.log(2.0 * np.pi)).sum(dim=-1)


def gaussian_entropy(log_std: torch.Tensor) -> torch.Tensor:
    """Differential entropy of a diagonal Gaussian, summed over action dimensions."""
    return (log_std + 0.5 * np.log(2.0 * np.pi * np.e)).sum(dim=-1)


class ValueNet(nn.Module):
    """V_φ(s), fitted by regression on GAE returns."""

    def __init__(self, obs_dim: int, hidden: Sequence[int], orthogonal_init: bool = True):
        super().__init__()
        self.net = mlp([obs_dim, *hidden, 1], 1.0, orthogonal_init)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.net(obs).squeeze(-1)


def flat_params(module: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in module.parameters()])


def set_flat_params(module: nn.Module, flat: torch.Tensor) -> None:
    offset = 0
    with torch.no_grad():
        for p in module.parameters():
            n = p.numel()
            p.copy_(flat[offset : offset + n].view_as(p))
            offset += n


def grad_norm(module: nn.Module, max_norm: float | None) -> float:
    """Global L2 norm of the gradients, clipping them to `max_norm` when it is set."""
    limit = float("inf") if max_norm is None else max_norm
    return torch.nn.utils.clip_grad_norm_(module.parameters(), limit, foreach=True).item()


def adam(module: nn.Module, lr: float) -> torch.optim.Adam:
    """The Adam every update rule and the critic use (ε = 1e-5 as in SB3/CleanRL).

    fused=True updates all parameters in one kernel: on CPU it halves the cost of a
    64-sample minibatch step against the default per-tensor loop; the maths is Adam's.
    """
    return torch.optim.Adam(module.parameters(), lr=lr, eps=1e-5, fused=True)
