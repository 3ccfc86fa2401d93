"""PPO's update: several epochs of minibatch Adam on a surrogate that discourages large steps.

Objectives of the PPO paper (Schulman et al. 2017, Table 1), with r = π_θ/π_old:
  clip:        L = E[min(r Â, clip(r, 1−ε, 1+ε) Â)]
  none:        L = E[r Â]
  kl_fixed:    L = E[r Â − β KL(π_old‖π_θ)]
  kl_adaptive: as kl_fixed, then β ← β/2 if KL < d_targ/1.5, β ← 2β if KL > 1.5 d_targ

With any objective, `target_kl` adds the KL early stop of Spinning Up's PPO and SB3
(`target_kl`): after each epoch the exact mean KL(π_old‖π_θ) over the whole batch is
measured, and no further epoch starts once it exceeds 1.5 × target_kl (Spinning Up's
threshold; it checks before every gradient step, SB3 before every minibatch step on the
minibatch's k3 estimate, so an epoch here can overshoot further before it is caught).
"""

from dataclasses import dataclass

import torch

from algos.allowed import LEARNING_RATE, Int, OneOf, Real, setting
from algos.kl import gaussian_kl
from algos.manual_grad import (
    clipped_flat_grads,
    gaussian_kl_grads,
    gaussian_logp_grads,
    tanh_mlp_backward,
    tanh_mlp_forward,
)
from algos.minibatch_step import (
    adam_groups,
    adam_state,
    adam_step,
    compiled,
    in_groups,
    sizes,
    stacked,
)
from algos.policy import GaussianActor, adam
from algos.rollout import Batch
from algos.surrogate import mean_kl, ratio

OBJECTIVES = ("clip", "none", "kl_fixed", "kl_adaptive")


@dataclass
class PPOConfig:
    epsilon: float = setting(0.2, Real(0.0, 10.0))  # clip range ε: r is clipped to [1−ε, 1+ε]
    lr: float = setting(3e-4, LEARNING_RATE)  # Adam step size of the policy
    epochs: int = setting(10, Int(low=1))  # passes over the batch per update
    minibatch_size: int = setting(64, Int(low=1))  # at most the batch (validate.py)
    max_grad_norm: float | None = setting(0.5, Real(0.0, optional=True))  # None: no clip
    objective: str = setting("clip", OneOf(*OBJECTIVES))
    kl_coef: float = setting(1.0, Real(0.0))  # β; the initial β for kl_adaptive
    kl_target: float = setting(0.01, Real(0.0))  # d_targ of the adaptive rule
    # KL early stop: no epoch starts once the batch's mean KL > 1.5 × target_kl (None: off)
    target_kl: float | None = setting(None, Real(0.0, optional=True), id_neutral=None)


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
        low, high = 1.0 - epsilon, 1.0 + epsilon
        if isinstance(epsilon, torch.Tensor):  # a population's ε, (members, 1): the bounds
            low, high = low.to(r.dtype), high.to(r.dtype)  # each member's float ones round to
        return torch.min(r * advantages, torch.clamp(r, low, high) * advantages)
    if objective == "none":
        return r * advantages
    if objective in ("kl_fixed", "kl_adaptive"):
        return r * advantages - beta * kl
    raise ValueError(f"unknown PPO objective {objective!r}; allowed: {', '.join(OBJECTIVES)}")


def ppo_objective_grad(
    r: torch.Tensor, advantages: torch.Tensor, objective_value: torch.Tensor, objective: str
) -> torch.Tensor:
    """∂L/∂r per sample for `ppo_objective` (its KL term aside), given the objective's value.

    For clip, min(rÂ, clip(r)Â) follows rÂ exactly where rÂ is the smaller term (ties
    included, as autograd's min and clamp do), and is flat in r elsewhere.
    """
    if objective == "clip":
        return advantages * (r * advantages <= objective_value)
    return advantages


def adapt_kl_coef(beta: float, kl_mean: float, kl_target: float) -> float:
    """The PPO paper's adaptive penalty rule, applied once per update."""
    if kl_mean < kl_target / 1.5:
        return beta / 2.0
    if kl_mean > kl_target * 1.5:
        return beta * 2.0
    return beta


def ppo_grads(
    params: list[torch.Tensor],
    obs: torch.Tensor,
    actions: torch.Tensor,
    logp_old: torch.Tensor,
    advantages: torch.Tensor,
    mean_old: torch.Tensor,
    log_std_old: torch.Tensor,
    beta: torch.Tensor,
    objective: str,
    epsilon: torch.Tensor,
) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]:
    """∇θ of −mean(objective) of stacked actors, each on its own minibatch (members,
    samples, ...), for the actors' `parameters()` [log_std, mean-net layers...] stacked
    along a first, member axis; and each sample's objective and ratio.

    The objective's value comes from `ppo_objective`; its gradient is written out by hand
    (algos.manual_grad) and tested equal to autograd's. `epsilon` and `beta` are float64,
    (members, 1), each cast to float32 where the actors' float32 ops meet them."""
    log_std_param, layers = params[0], params[1:]
    activations = tanh_mlp_forward(layers, obs)
    mean = activations[-1]
    grad_mean, grad_log_std, value, r = objective_grads(
        mean, log_std_param.unsqueeze(1).expand_as(mean), actions, logp_old, advantages,
        mean_old, log_std_old, beta.to(mean.dtype), (beta / obs.shape[1]).to(mean.dtype).unsqueeze(-1),
        objective, epsilon,
    )  # fmt: skip
    grads = [grad_log_std.sum(dim=1), *tanh_mlp_backward(layers, activations, grad_mean)]
    return grads, value, r


def minibatch_grads(
    params: list[torch.Tensor],
    obs: torch.Tensor,
    actions: torch.Tensor,
    logp_old: torch.Tensor,
    advantages: torch.Tensor,
    mean_old: torch.Tensor,
    log_std_old: torch.Tensor,
    beta: torch.Tensor,
    objective: str,
    epsilon: torch.Tensor,
    max_grad_norm: torch.Tensor,
) -> tuple[torch.Tensor, ...]:
    """One minibatch step's gradients, flat and clipped per member (members, parameters),
    with what the update's metrics take from it per member: the gradient's norm before
    the clip, the loss −mean(objective) and the fraction of ratios outside [1−ε, 1+ε]."""
    grads, value, r = ppo_grads(params, obs, actions, logp_old, advantages, mean_old,
                                log_std_old, beta, objective, epsilon)  # fmt: skip
    flat, norm = clipped_flat_grads(grads, max_grad_norm)
    outside = ((r - 1.0).abs() > epsilon.to(r.dtype)).float()
    return flat, norm.squeeze(1), -value.mean(dim=1), outside.mean(dim=1)


def objective_grads(
    mean: torch.Tensor,
    log_std: torch.Tensor,
    actions: torch.Tensor,
    logp_old: torch.Tensor,
    advantages: torch.Tensor,
    mean_old: torch.Tensor,
    log_std_old: torch.Tensor,
    beta: torch.Tensor,
    kl_weight: torch.Tensor,
    objective: str,
    epsilon: float | torch.Tensor,
) -> tuple[torch.Tensor, ...]:
    """−mean(objective)'s gradients with respect to the policy's mean and log-std per
    sample, the objective per sample and the ratio; `kl_weight` is β / samples."""
    n = mean.shape[-2]
    inv_std = torch.exp(-log_std)
    r = ratio(mean, log_std, actions, logp_old)
    needs_kl = objective in ("kl_fixed", "kl_adaptive")
    kl = gaussian_kl(mean_old, log_std_old, mean, log_std) if needs_kl else 0.0
    value = ppo_objective(r, advantages, kl, objective, epsilon, beta)
    grad_logp = (ppo_objective_grad(r, advantages, value, objective) * r).div_(-n)
    dmean, dlog_std = gaussian_logp_grads((actions - mean) * inv_std, inv_std)
    grad_mean = grad_logp.unsqueeze(-1) * dmean
    grad_log_std = grad_logp.unsqueeze(-1) * dlog_std
    if needs_kl:
        kl_mean, kl_log_std = gaussian_kl_grads(mean_old, log_std_old, mean, log_std)
        grad_mean = grad_mean + kl_mean * kl_weight
        grad_log_std = grad_log_std + kl_log_std * kl_weight
    return grad_mean, grad_log_std, value, r


class PPOUpdate:
    def __init__(self, actor: GaussianActor, config: PPOConfig, compiled: bool = False):
        self.actor = actor
        self.config = config
        self.optimizer = adam(actor, config.lr)
        self.kl_coef = config.kl_coef
        self.compiled = compiled  # its minibatch gradients traced by torch.compile

    def optimizers(self) -> list[torch.optim.Optimizer]:
        return [self.optimizer]

    def state_dict(self) -> dict:
        """A checkpoint holds Adam's state and the KL-penalty coefficient β (which the
        adaptive objective changes between updates)."""
        return {"policy_optimizer": self.optimizer.state_dict(), "kl_coef": self.kl_coef}

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state["policy_optimizer"])
        self.kl_coef = state["kl_coef"]

    def step(self, batch: Batch, generator: torch.Generator) -> dict[str, float]:
        """A run's update alone: a population of one."""
        return self.step_together([self], [batch], [generator])[0]

    @classmethod
    def step_together(
        cls, updates: list["PPOUpdate"], batches: list[Batch], generators: list[torch.Generator]
    ) -> list[dict[str, float]]:
        """The updates of several runs (a population's members), each on its own batch with
        its own generator: one stacked gradient per minibatch step for the runs that share
        an objective and a minibatch size; Adam per run on its own state. Each run's update
        is bit for bit its update alone. A run that compiles its steps is a stack of one:
        inductor's code for a stack depends on its size, so a compiled stack of several
        would round differently from each of its members compiled alone."""
        keys = [("compiled", m) if u.compiled else (u.config.objective, u.config.minibatch_size)
                for m, u in enumerate(updates)]  # fmt: skip
        return in_groups(keys, _step_group, updates, batches, generators)

    @torch.no_grad()
    def batch_kl(self, batch: Batch) -> float:
        """Exact mean KL(π_old‖π_θ) over the batch's states, at the actor's current θ."""
        return mean_kl(self.actor, batch).item()


MINIBATCH_FIELDS = ("obs", "actions", "logp_old", "advantages", "mean_old", "log_std_old")


@torch.no_grad()
def _step_group(
    updates: list[PPOUpdate], batches: list[Batch], generators: list[torch.Generator]
) -> list[dict[str, float]]:
    """PPO's epochs for runs of one objective and minibatch size; each epoch stacks the
    actors of the runs still going (a run's KL early stop or its own epoch count ends its
    part), steps them minibatch by minibatch and writes them back."""
    first = updates[0]
    grads_fn = compiled(minibatch_grads) if first.compiled else minibatch_grads
    losses, clipped, grad_norms = ([[] for _ in updates] for _ in range(3))
    epochs_run, stopped = [0] * len(updates), [False] * len(updates)
    stacked_batch = {name: torch.stack([getattr(b, name) for b in batches])
                     for name in MINIBATCH_FIELDS}  # fmt: skip
    for epoch in range(max(u.config.epochs for u in updates)):
        going = []
        for m, (update, batch) in enumerate(zip(updates, batches, strict=True)):
            c = update.config
            if stopped[m] or epoch >= c.epochs:
                continue
            if (
                c.target_kl is not None
                and epochs_run[m] > 0
                and update.batch_kl(batch) > 1.5 * c.target_kl
            ):
                stopped[m] = True
                continue
            epochs_run[m] += 1
            going.append(m)
        if not going:
            break
        own = [list(updates[m].actor.parameters()) for m in going]
        params = stacked(own)
        slices = [[p[i] for p in params] for i in range(len(going))]
        states = [adam_state(updates[m].optimizer, own[i]) for i, m in enumerate(going)]
        groups = adam_groups([updates[m].optimizer for m in going])
        flat_buffer = params[0].new_empty(len(going), sum(sizes(own[0])))  # each step's gradients
        grads = [[g.view_as(p) for g, p in zip(row.split(sizes(ps)), ps, strict=True)]
                 for row, ps in zip(flat_buffer, own, strict=True)]  # fmt: skip
        epsilon = torch.tensor([[updates[m].config.epsilon] for m in going], dtype=torch.float64)
        beta = torch.tensor([[updates[m].kl_coef] for m in going], dtype=torch.float64)
        max_norm = torch.tensor([[_max_norm(updates[m].config)] for m in going])
        rows = torch.tensor(going).unsqueeze(1)
        order = torch.stack([torch.randperm(batches[m].steps, generator=generators[m])
                             for m in going])  # fmt: skip
        parts = {name: tensor[rows, order].split(first.config.minibatch_size, dim=1)
                 for name, tensor in stacked_batch.items()}  # fmt: skip
        epoch_metrics = []
        for k in range(len(parts["obs"])):
            mb = {name: parts[name][k] for name in MINIBATCH_FIELDS}
            flat, norm, loss, outside = grads_fn(
                params, **mb, beta=beta, objective=first.config.objective, epsilon=epsilon,
                max_grad_norm=max_norm,
            )  # fmt: skip
            flat_buffer.copy_(flat)
            adam_step(slices, grads, states, groups)
            epoch_metrics.append((loss, outside, norm))
        for series, values in zip((losses, clipped, grad_norms), zip(*epoch_metrics, strict=True),
                                  strict=True):  # fmt: skip
            for i, per_step in enumerate(torch.stack(values, dim=1)):
                series[going[i]].append(per_step)
        for i, _ in enumerate(going):
            for p, stacked_p in zip(own[i], params, strict=True):
                p.copy_(stacked_p[i])
    results = []
    for m, update in enumerate(updates):
        c = update.config
        needs_kl = c.objective in ("kl_fixed", "kl_adaptive")
        results.append({
            "policy_loss": torch.cat(losses[m]).mean().item(),
            "clip_frac": torch.cat(clipped[m]).mean().item(),
            "grad_norm": torch.cat(grad_norms[m]).mean().item(),
            "kl_coef": update.kl_coef if needs_kl else float("nan"),
            "epochs_run": epochs_run[m],
        })  # fmt: skip
        if c.objective == "kl_adaptive":
            update.kl_coef = adapt_kl_coef(update.kl_coef, update.batch_kl(batches[m]), c.kl_target)
    return results


def _max_norm(config: PPOConfig) -> float:
    """The global-norm clip of its gradients; infinite (a scale of exactly 1) for none."""
    return float("inf") if config.max_grad_norm is None else config.max_grad_norm
