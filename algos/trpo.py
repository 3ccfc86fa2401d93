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

from algos.allowed import Int, Real, setting
from algos.cg import conjugate_gradient
from algos.policy import GaussianActor, flat_params, set_flat_params
from algos.rollout import Batch
from algos.surrogate import mean_kl, surrogate


@dataclass
class TRPOConfig:
    # bound δ on the mean KL(π_old‖π_new) of one update
    delta: float = setting(0.01, Real(0.0, 10.0))
    cg_iters: int = setting(10, Int(low=1))
    cg_residual_tol: float = setting(1e-10, Real(0.0))  # stop CG once ‖r‖² falls below this
    damping: float = setting(0.1, Real(0.0, low_open=False))  # FVPs use (H + damping·I) v
    backtrack_coef: float = setting(0.8, Real(0.0, 1.0))
    backtrack_iters: int = setting(10, Int())  # at most this many shrinkings of the full step


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

    def optimizers(self) -> list[torch.optim.Optimizer]:
        return []

    def state_dict(self) -> dict:
        """Nothing beyond the actor: each step is computed afresh from its batch."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass

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
        ls_steps, accepted, loss_new = backtracking_line_search(
            self.actor, batch, full_step, loss_old.item(), c.delta, c.backtrack_coef,
            c.backtrack_iters,
        )  # fmt: skip
        metrics.update(policy_loss=-loss_new, ls_steps=ls_steps, ls_accepted=int(accepted))
        return metrics


def backtracking_line_search(
    actor: GaussianActor,
    batch: Batch,
    full_step: torch.Tensor,
    surrogate_old: float,
    delta: float,
    coef: float,
    iters: int,
) -> tuple[int, bool, float]:
    """Try θ_old + coef^k · full_step for k = 0..iters; keep the first with mean KL ≤ δ and
    a higher surrogate. If none qualifies, restore θ_old.

    Returns (k or iters when rejected, accepted, surrogate at the kept parameters).
    """
    theta_old = flat_params(actor)
    with torch.no_grad():
        for k in range(iters + 1):
            set_flat_params(actor, theta_old + coef**k * full_step)
            surrogate_new = surrogate(actor, batch).item()
            if mean_kl(actor, batch).item() <= delta and surrogate_new > surrogate_old:
                return k, True, surrogate_new
        set_flat_params(actor, theta_old)
    return iters, False, surrogate_old
