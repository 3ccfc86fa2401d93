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
from algos.cg import conjugate_gradient, row_dots
from algos.kl import gaussian_kl
from algos.minibatch_step import in_groups
from algos.policy import GaussianActor, flat_params, set_flat_params
from algos.rollout import Batch
from algos.surrogate import ratio


@dataclass
class NaturalGradientConfig:
    # the quadratic model's KL of one full step: ½ Δθᵀ(H + damping·I)Δθ = δ
    delta: float = setting(0.01, Real(0.0, 10.0))
    cg_iters: int = setting(10, Int(low=1))
    cg_residual_tol: float = setting(1e-10, Real(0.0))  # stop CG once ‖r‖² falls below this
    damping: float = setting(0.1, Real(0.0, low_open=False))  # FVPs use (H + damping·I) v


# The most samples (members × batch size) one stacked pass holds: a larger stack's
# activations outgrow the CPU's caches, and its memory-bound elementwise ops then cost
# more than stacking saves (benchmarks/policy_step.py --algo trpo)
STACK_SAMPLES = 8192


class NaturalGradientUpdate:
    """What TRPO's and NPG's update rules share beyond how they follow the full step: no
    optimiser, no state beyond the actor, and the update itself.

    The update exists once, for a stack of members of one network shape and batch size
    (`natural_steps`, then the rule's `follow`); a run alone is a stack of one. Stacked,
    the Fisher-vector products, which cost most, are one double backward for the stack
    rather than one per member, and each member's update is bit for bit its update alone
    (tests/test_natural_step_together.py)."""

    def __init__(self, actor: GaussianActor, config: NaturalGradientConfig):
        self.actor = actor
        self.config = config

    def step(self, batch: Batch, generator: torch.Generator) -> dict[str, float]:
        """A run's update: its actor as a stack of one."""
        return self.step_together([self], [batch], [generator])[0]

    def optimizers(self) -> list[torch.optim.Optimizer]:
        return []

    def state_dict(self) -> dict:
        """Nothing beyond the actor: each step is computed afresh from its batch."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass

    @classmethod
    def step_together(
        cls,
        updates: list["NaturalGradientUpdate"],
        batches: list[Batch],
        generators: list[torch.Generator],
    ) -> list[dict[str, float]]:
        """`step` of each member, stacked with members of its network shape, batch size
        and dtype, at most `STACK_SAMPLES` samples a stack."""
        keys = [(tuple(p.shape for p in u.actor.parameters()), b.steps, u.actor.log_std.dtype)
                for u, b in zip(updates, batches, strict=True)]  # fmt: skip
        return in_groups(keys, cls._step_group, updates, batches, generators)

    @classmethod
    def _step_group(
        cls,
        updates: list["NaturalGradientUpdate"],
        batches: list[Batch],
        generators: list[torch.Generator],
    ) -> list[dict[str, float]]:
        size = max(1, STACK_SAMPLES // batches[0].steps)
        metrics = []
        for start in range(0, len(updates), size):
            part = slice(start, start + size)
            configs = [u.config for u in updates[part]]
            stack = Stack([u.actor for u in updates[part]], batches[part])
            proposed = natural_steps(stack, configs)
            theta, done = cls.follow(stack, proposed, configs)
            for update, row in zip(updates[part], theta, strict=True):
                set_flat_params(update.actor, row)
            metrics += done
        return metrics

    @staticmethod
    def follow(
        stack: "Stack", proposed: "NaturalSteps", configs: list
    ) -> tuple[torch.Tensor, list[dict[str, float]]]:
        """Each member's parameters after its update and its metrics, from its full step."""
        raise NotImplementedError


FIELDS = ("obs", "actions", "logp_old", "advantages", "mean_old", "log_std_old")


class Stack:
    """Actors of one network shape and their batches of one size, stacked along a first,
    member axis; parameters as rows (members, parameters) in `flat_params` order."""

    def __init__(self, actors: list[GaussianActor], batches: list[Batch]):
        self.shapes = [p.shape for p in actors[0].parameters()]
        self.theta_old = torch.stack([flat_params(a) for a in actors])
        self.batch = {name: torch.stack([getattr(b, name) for b in batches]) for name in FIELDS}

    def params(self, theta: torch.Tensor) -> list[torch.Tensor]:
        """Rows of flat parameters as stacked parameters [log_std, weight0, bias0, ...]."""
        parts = theta.split([s.numel() for s in self.shapes], dim=1)
        return [t.contiguous().view(-1, *s) for t, s in zip(parts, self.shapes, strict=True)]

    def policy(
        self, params: list[torch.Tensor], rows: list[int] | slice = slice(None)
    ) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """`stacked_policy` of the members in `rows`, whose stacked parameters `params`
        are, on their own batches; and those batches."""
        b = {name: t[rows] for name, t in self.batch.items()}
        return *stacked_policy(params, b["obs"]), b

    @torch.no_grad()
    def evaluate(self, theta: torch.Tensor, rows: list[int]) -> tuple[list[float], list[float]]:
        """The surrogate and the mean KL of the members in `rows` at flat parameters
        `theta` (one row each), from one forward pass."""
        mean, log_std, b = self.policy(self.params(theta), rows)
        return stacked_surrogate(mean, log_std, b).tolist(), stacked_kl(mean, log_std, b).tolist()


def stacked_surrogate(
    mean: torch.Tensor, log_std: torch.Tensor, b: dict[str, torch.Tensor]
) -> torch.Tensor:
    """`algos.surrogate.surrogate` of each stacked member, from its policy on its batch."""
    return (ratio(mean, log_std, b["actions"], b["logp_old"]) * b["advantages"]).mean(dim=1)


def stacked_kl(
    mean: torch.Tensor, log_std: torch.Tensor, b: dict[str, torch.Tensor]
) -> torch.Tensor:
    """`algos.surrogate.mean_kl` of each stacked member, from its policy on its batch."""
    return gaussian_kl(b["mean_old"], b["log_std_old"], mean, log_std).mean(dim=1)


def stacked_policy(
    params: list[torch.Tensor], obs: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """`GaussianActor.forward` of stacked actors, `params` [log_std, weight0, bias0, ...]
    along a first, member axis, on `obs` (members, samples, obs_dim).

    Each member's outputs, and through autograd its first and second derivatives, are bit
    for bit its own actor's: a batched matrix product runs one kernel per slice, the
    kernel nn.Linear's addmm and its derivatives' mm run, except where a matrix is one
    unit wide or one sample long, where a slice would take a matrix-vector kernel; such a
    layer is taken member by member with addmm, as nn.Linear does."""
    log_std, layers = params[0], params[1:]
    x = obs
    last = len(layers) // 2 - 1
    for i in range(last + 1):
        weight, bias = layers[2 * i], layers[2 * i + 1]
        if 1 in (*weight.shape[1:], x.shape[1]):
            out = torch.stack(
                [torch.addmm(b, h, w.t()) for w, b, h in zip(weight, bias, x, strict=True)]
            )
        else:
            out = torch.baddbmm(bias.unsqueeze(1), x, weight.transpose(1, 2))
        x = out if i == last else torch.tanh(out)
    return x, log_std.unsqueeze(1).expand_as(x)


def fisher_vector_product(
    stack: Stack, dampings: list[float]
) -> Callable[[torch.Tensor], torch.Tensor]:
    """v ↦ (H + λI) v for each stacked member, v and the products as rows (members,
    parameters), with H = ∇²_θ mean KL(π_old‖π_θ) at θ_old and λ the member's damping.

    The KL gradient's graph is built once; each product is one more backward pass through
    it, Hv = ∇_θ(∇_θKL · v) with v held constant (Pearlmutter's trick), so CG iterations
    do not rebuild the graph. The members' KLs are summed: a member's gradient depends on
    its own parameters only, so one backward pass gives every member's product."""
    params = [p.detach().requires_grad_() for p in stack.params(stack.theta_old)]
    kl = stacked_kl(*stack.policy(params))
    flat_kl_grad = flat_rows(torch.autograd.grad(kl.sum(), params, create_graph=True))
    damping = torch.tensor([[d] for d in dampings], dtype=stack.theta_old.dtype)

    def product(v: torch.Tensor) -> torch.Tensor:
        hv = torch.autograd.grad((flat_kl_grad * v).sum(), params, retain_graph=True)
        return flat_rows(hv) + damping * v

    return product


@dataclass
class NaturalDirections:
    """Each stacked member's natural-gradient direction, one row each."""

    surrogate_old: list[float]  # L(θ_old)
    g: torch.Tensor  # ∇L(θ_old)
    s: torch.Tensor  # ≈ (H + λI)⁻¹g, by conjugate gradient
    cg_residuals: list[float]  # CG's final ‖r‖²
    fvp: Callable[[torch.Tensor], torch.Tensor]  # the (H + λI) v that CG solved with


def natural_directions(stack: Stack, configs: list[NaturalGradientConfig]) -> NaturalDirections:
    """g and s ≈ (H + λI)⁻¹g of each stacked member under its own damping and CG settings."""
    params = [p.detach().requires_grad_() for p in stack.params(stack.theta_old)]
    loss_old = stacked_surrogate(*stack.policy(params))
    g = flat_rows(torch.autograd.grad(loss_old.sum(), params))
    fvp = fisher_vector_product(stack, [c.damping for c in configs])
    s, residuals = conjugate_gradient(
        fvp, g, [c.cg_iters for c in configs], [c.cg_residual_tol for c in configs]
    )
    return NaturalDirections(loss_old.tolist(), g, s.detach(), residuals, fvp)


@dataclass
class NaturalSteps:
    """Each stacked member's full step, and where it leads."""

    theta_old: torch.Tensor  # (members, parameters)
    full_step: torch.Tensor  # (members, parameters); rows where `proposed` is False are unused
    proposed: list[bool]  # whether the curvature along the member's s is positive
    surrogate_old: list[float]
    surrogate_full: list[float]  # the surrogate at θ_old + full step (NaN where not proposed)
    kl_full: list[float]  # the mean KL there (NaN where not proposed)
    metrics: list[dict[str, float]]  # policy_loss, grad_norm, cg_residual, kl_full_step


def natural_steps(stack: Stack, configs: list[NaturalGradientConfig]) -> NaturalSteps:
    """Each stacked member's full step Δθ = sqrt(2δ / sᵀ(H + λI)s) · s under its own config,
    where its quadratic KL model ½ Δθᵀ(H + λI)Δθ is δ; none where the curvature sᵀ(H + λI)s
    is not positive. The surrogate and exact KL at θ_old + Δθ come from one stacked pass."""
    members, dtype = len(configs), stack.theta_old.dtype
    d = natural_directions(stack, configs)
    shs = row_dots(d.s, d.fvp(d.s)).tolist()
    grad_norms = torch.linalg.vector_norm(d.g, dim=1).tolist()
    columns = zip(d.surrogate_old, grad_norms, d.cg_residuals, strict=True)
    metrics = [{"policy_loss": -loss, "grad_norm": norm, "cg_residual": residual}
               for loss, norm, residual in columns]  # fmt: skip
    proposed = [s > 0.0 for s in shs]
    scale = [(2.0 * c.delta / s) ** 0.5 if ok else 0.0
             for c, s, ok in zip(configs, shs, proposed, strict=True)]  # fmt: skip
    full_step = torch.tensor(scale, dtype=dtype).unsqueeze(1) * d.s
    surrogate_full, kl_full = [float("nan")] * members, [float("nan")] * members
    rows = [m for m in range(members) if proposed[m]]
    if rows:
        values, kls = stack.evaluate(stack.theta_old[rows] + full_step[rows], rows)
        for m, value, kl in zip(rows, values, kls, strict=True):
            surrogate_full[m], kl_full[m] = value, kl
            metrics[m]["kl_full_step"] = kl
    return NaturalSteps(stack.theta_old, full_step, proposed, d.surrogate_old, surrogate_full,
                        kl_full, metrics)  # fmt: skip


def flat_rows(grads: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """Stacked parameters' gradients as rows (members, parameters)."""
    return torch.cat([g.reshape(g.shape[0], -1) for g in grads], dim=1)
