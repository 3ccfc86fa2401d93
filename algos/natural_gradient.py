"""The natural-gradient step TRPO and NPG share (the seed's Δθ ≈ H⁻¹∇J, sized by a
quadratic model of the KL).

With g = ∇L(θ_old) and H the Hessian of the mean KL(π_old‖π_θ) at θ_old (the Fisher
matrix), conjugate gradient on Fisher-vector products gives s ≈ (H + λI)⁻¹g, and the full
step Δθ = sqrt(2δ / sᵀ(H + λI)s) · s makes the damped quadratic model ½ Δθᵀ(H + λI)Δθ
equal δ. Whether the exact KL of that step is near δ is what `kl_full_step` measures.
"""

from collections.abc import Callable
from dataclasses import dataclass

import torch

from algos.allowed import Int, Real, setting
from algos.cg import conjugate_gradient
from algos.policy import GaussianActor, flat_params, set_flat_params
from algos.rollout import Batch
from algos.surrogate import mean_kl, surrogate
from algos.update_rule import StepsOneByOne


@dataclass
class NaturalGradientConfig:
    # the quadratic model's KL of one full step: ½ Δθᵀ(H + damping·I)Δθ = δ
    delta: float = setting(0.01, Real(0.0, 10.0))
    cg_iters: int = setting(10, Int(low=1))
    cg_residual_tol: float = setting(1e-10, Real(0.0))  # stop CG once ‖r‖² falls below this
    damping: float = setting(0.1, Real(0.0, low_open=False))  # FVPs use (H + damping·I) v


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


class NaturalGradientUpdate(StepsOneByOne):
    """What TRPO's and NPG's update rules share beyond their step: no optimiser and no
    state beyond the actor."""

    def __init__(self, actor: GaussianActor, config: NaturalGradientConfig):
        self.actor = actor
        self.config = config

    def optimizers(self) -> list[torch.optim.Optimizer]:
        return []

    def state_dict(self) -> dict:
        """Nothing beyond the actor: each step is computed afresh from its batch."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


@dataclass
class NaturalStep:
    full_step: torch.Tensor | None  # None when the curvature along s is not positive
    surrogate_old: float
    metrics: dict[str, float]  # policy_loss, grad_norm, cg_residual, kl_full_step


def natural_step(actor: GaussianActor, batch: Batch, c: NaturalGradientConfig) -> NaturalStep:
    """The full natural-gradient step at the actor's parameters (which it leaves as they are)."""
    params = list(actor.parameters())
    loss_old = surrogate(actor, batch)
    g = torch.cat([x.reshape(-1) for x in torch.autograd.grad(loss_old, params)])
    fvp = fisher_vector_product(actor, batch, c.damping)
    direction, residual = conjugate_gradient(fvp, g, c.cg_iters, c.cg_residual_tol)
    shs = torch.dot(direction, fvp(direction)).item()
    metrics = {
        "policy_loss": -loss_old.item(),
        "grad_norm": g.norm().item(),
        "cg_residual": residual,
    }
    if not shs > 0.0:
        return NaturalStep(None, loss_old.item(), metrics)
    full_step = (2.0 * c.delta / shs) ** 0.5 * direction
    theta_old = flat_params(actor)
    with torch.no_grad():
        set_flat_params(actor, theta_old + full_step)
        metrics["kl_full_step"] = mean_kl(actor, batch).item()
        set_flat_params(actor, theta_old)
    return NaturalStep(full_step, loss_old.item(), metrics)
