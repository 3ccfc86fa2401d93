"""TRPO's update (Schulman et al. 2015): the natural-gradient step, held inside a KL ball.

  maximise_θ L(θ)  subject to  mean_s KL(π_old(·|s) ‖ π_θ(·|s)) ≤ δ

With g = ∇L(θ_old) and H the Hessian of the mean KL at θ_old (the Fisher matrix), the
step direction s ≈ H⁻¹g comes from conjugate gradient on Fisher-vector products, the
full step is  Δθ = sqrt(2δ / sᵀHs) · s, and a backtracking line search shrinks it by
`backtrack_coef` until the exact mean KL is ≤ δ and L improves, else keeps θ_old.
"""

from collections.abc import Callable
from dataclasses import dataclass

import torch

from algos.cg import conjugate_gradient
from algos.policy import GaussianActor, flat_params, set_flat_params
from algos.rollout import Batch
from algos.surrogate import mean_kl, surrogate


@dataclass
class TRPOConfig:
    delta: float = 0.01  # bound δ on the mean KL(π_old‖π_new) of one update
    cg_iters: int = 10
    cg_residual_tol: float = 1e-10  # stop CG once ‖r‖² falls below this
    damping: float = 0.1  # Fisher-vector products use (H + damping·I) v
    backtrack_coef: float = 0.8
    backtrack_iters: int = 10  # at most this many shrinkings of the full step


def fisher_vector_product(
    actor: GaussianActor, batch: Batch, damping: float
) -> Callable[[torch.Tensor], torch.Tensor]:
    """v ↦ (H + damping·I) v with H = ∇²_θ mean KL(π_old‖π_θ) at the current θ.

    The KL gradient's graph is built once; each product is one more backward pass
    through it (Pearlmutter's trick), so CG iterations do not rebuild the graph.
    """
    params = list(actor.parameters())
    kl_grad = torch.autograd.grad(mean_kl(actor, batch), params, create_graph=True)
    flat_grad = torch.cat([g.reshape(-1) for g in kl_grad])

    def product(v: torch.Tensor) -> torch.Tensor:
        hv = torch.autograd.grad(torch.dot(flat_grad, v), params, retain_graph=True)
        return torch.cat([h.reshape(-1) for h in hv]) + damping * v

    return product


class TRPOUpdate:
    def __init__(self, actor: GaussianActor, config: TRPOConfig):
        self.actor = actor
        self.config = config

    def step(self, batch: Batch, generator: torch.Generator) -> dict[str, float]:
        c = self.config
        params = list(self.actor.parameters())
        loss_old = surrogate(self.actor, batch)
        g = torch.cat([x.reshape(-1) for x in torch.autograd.grad(loss_old, params)])
        fvp = fisher_vector_product(self.actor, batch, c.damping)
        direction, residual = conjugate_gradient(fvp, g, c.cg_iters, c.cg_residual_tol)
        shs = torch.dot(direction, fvp(direction)).item()
        metrics = {
            "policy_loss": -loss_old.item(),
            "grad_norm": g.norm().item(),
            "cg_residual": residual,
            "ls_steps": 0,
            "ls_accepted": 0,
        }
        if not shs > 0.0:
            return metrics
        full_step = (2.0 * c.delta / shs) ** 0.5 * direction
        theta_old = flat_params(self.actor)
        with torch.no_grad():
            for k in range(c.backtrack_iters + 1):
                set_flat_params(self.actor, theta_old + c.backtrack_coef**k * full_step)
                loss_new = surrogate(self.actor, batch)
                kl = mean_kl(self.actor, batch).item()
                if kl <= c.delta and loss_new.item() > loss_old.item():
                    metrics.update(policy_loss=-loss_new.item(), ls_steps=k, ls_accepted=1)
                    return metrics
            set_flat_params(self.actor, theta_old)
        metrics["ls_steps"] = c.backtrack_iters
        return metrics
