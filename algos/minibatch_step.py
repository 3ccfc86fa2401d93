"""One minibatch step of PPO's policy or of the critic: gradient → global-norm clip → Adam.

PPO takes 320 policy steps and 320 critic steps per 2048-step batch, each on 64 samples,
so torch's cost per call, not the arithmetic, decides how long they take. The same step
is taken one of two ways:

- eager: the gradient function's ops one by one, written into the flat .grad buffer, then
  torch.optim's functional fused Adam on the optimiser's own state: the kernel that
  `Adam.step()` runs, bit for bit, without its per-call wrapper;
- compiled (PPO's policy step only): gradient, clip and torch.optim's functional Adam
  traced by torch.compile into one inductor graph: faster per step, after a compile that
  a run must repay (the cache inside the project makes later compiles cheaper);
  `use_compiled` decides when that pays (the measurements are in README's Benchmarks).

The two agree to float tolerance (tests/test_manual_grad.py); Adam's state lives in the
torch.optim.Adam either way, so checkpoints, resumes and step-size annealing do not
depend on the choice.
"""

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
import torch.optim.adam as functional_adam
from torch import nn
from torch.optim.optimizer import _get_scalar_dtype

from algos.manual_grad import clip_coefficient, clip_flat_grad_, flat_grad_buffer

# (parameters, *tensors) -> (gradients in the parameters' order, *outputs)
GradFn = Callable[..., tuple]

COMPILE_MODES = ("auto", "always", "never")
AUTO_COMPILE_UPDATES = 200  # `auto` compiles runs of at least this many updates (README)
COMPILE_CACHE = Path(__file__).resolve().parent.parent / ".cache" / "torchinductor"
# inductor's caches inside the project, so a sweep compiles once per shape rather than once
# per run; set at import, because torch fixes the directory when dynamo is first imported
# (which creating any optimiser does)
os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(COMPILE_CACHE))


def use_compiled(mode: str, num_updates: int) -> bool:
    """Whether a run of `num_updates` updates compiles PPO's policy steps: `auto` where the
    time saved repays the compile (measured: README, Benchmarks), `always`, `never`."""
    if mode not in COMPILE_MODES:
        raise ValueError(f"unknown compile mode {mode!r}; allowed: {', '.join(COMPILE_MODES)}")
    return mode == "always" or (mode == "auto" and num_updates >= AUTO_COMPILE_UPDATES)


class MinibatchStep:
    """Calling it with a minibatch's tensors takes one step and returns the gradient
    function's outputs followed by the gradient's global norm before clipping."""

    def __init__(
        self,
        module: nn.Module,
        optimizer: torch.optim.Adam,
        grad_fn: GradFn,
        max_grad_norm: float | None,
        compiled: bool,
    ):
        self.params = list(module.parameters())
        self.flat_grad = flat_grad_buffer(module)
        self.optimizer = optimizer
        self.grad_fn = grad_fn
        self.max_grad_norm = max_grad_norm
        self.lr = torch.zeros((), dtype=torch.float64)  # a tensor: annealing must not recompile
        self.compiled = None
        if compiled:
            import torch._inductor.config as inductor_config

            # no pool of compile workers: left running, it slowed MuJoCo's steps by a third
            inductor_config.compile_threads = 1
            # Each run's step guards on its own objects, so a process that trains run after
            # run (a sweep's joblib worker) would pass dynamo's recompile limit at its 9th
            # and fall back to eager code that cannot take capturable Adam on CPU. One step
            # is compiled at a time, so each starts from a clean slate (the compiled code
            # itself comes back from the on-disk cache).
            torch.compiler.reset()
            self.compiled = torch.compile(self._graph, dynamic=False)

    @torch.no_grad()
    def __call__(self, *tensors: torch.Tensor) -> tuple:
        state = self._adam_state()
        if state is None:  # Adam makes its state on its first step
            outputs = self._set_grads(*tensors)
            self.optimizer.step()
            return outputs
        group = self.optimizer.param_groups[0]
        if self.compiled is not None:
            self.lr.fill_(group["lr"])
            return self.compiled(self.params, *state, self.lr, *tensors)
        outputs = self._set_grads(*tensors)
        functional_adam.adam(
            self.params, [p.grad for p in self.params], *state, fused=True, **hyperparameters(group)
        )  # fmt: skip
        return outputs

    def _set_grads(self, *tensors: torch.Tensor) -> tuple:
        grads, *outputs = self.grad_fn(self.params, *tensors)
        torch.cat([g.reshape(-1) for g in grads], out=self.flat_grad)
        return (*outputs, clip_flat_grad_(self.flat_grad, self.max_grad_norm))

    def _adam_state(self) -> tuple[list, ...] | None:
        """Adam's exp_avg, exp_avg_sq, max_exp_avg_sq and step tensors of every parameter,
        read from the optimiser each call (a resume replaces them); None before its first step."""
        states = [self.optimizer.state.get(p) for p in self.params]
        if any(not s for s in states):
            return None
        return (
            [s["exp_avg"] for s in states],
            [s["exp_avg_sq"] for s in states],
            [],
            [s["step"] for s in states],
        )

    def _graph(
        self,
        params: list[torch.Tensor],
        exp_avgs: list[torch.Tensor],
        exp_avg_sqs: list[torch.Tensor],
        max_exp_avg_sqs: list[torch.Tensor],
        steps: list[torch.Tensor],
        lr: torch.Tensor,
        *tensors: torch.Tensor,
    ) -> tuple:
        """The whole step as one function of tensors, for torch.compile."""
        grads, *outputs = self.grad_fn(params, *tensors)
        flat = torch.cat([g.reshape(-1) for g in grads])
        norm = torch.linalg.vector_norm(flat)
        if self.max_grad_norm is not None:  # out of place: a graph torch.compile can trace
            flat = flat * clip_coefficient(norm, self.max_grad_norm)
        grads = [g.view_as(p) for g, p in zip(flat.split(sizes(params)), params, strict=True)]
        group = {**self.optimizer.param_groups[0], "lr": lr}
        functional_adam.adam(
            params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps, foreach=False,
            capturable=True, **hyperparameters(group),
        )  # fmt: skip
        return (*outputs, norm)


def adam_state(optimizer: torch.optim.Adam, params: Sequence[torch.Tensor]) -> list[dict]:
    """Adam's state of each of `params`, made as torch.optim.Adam makes it on its first
    step where the optimiser has taken none yet (for steps taken with the functional Adam
    on these tensors, as a population's batched steps are)."""
    for p in params:
        if not optimizer.state.get(p):
            optimizer.state[p] = {
                "step": torch.zeros((), dtype=_get_scalar_dtype(is_fused=True)),
                "exp_avg": torch.zeros_like(p, memory_format=torch.preserve_format),
                "exp_avg_sq": torch.zeros_like(p, memory_format=torch.preserve_format),
            }
    return [optimizer.state[p] for p in params]


def sizes(params: Sequence[torch.Tensor]) -> list[int]:
    return [p.numel() for p in params]


def hyperparameters(group: dict) -> dict:
    """The keyword arguments torch.optim.adam.adam takes from an Adam param group."""
    beta1, beta2 = group["betas"]
    return {
        "amsgrad": group["amsgrad"],
        "beta1": beta1,
        "beta2": beta2,
        "lr": group["lr"],
        "weight_decay": group["weight_decay"],
        "eps": group["eps"],
        "maximize": group["maximize"],
    }
