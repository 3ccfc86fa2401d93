"""One minibatch step of stacked members (a population's, or a run's alone as a stack of
one): their gradients in one batched pass, then Adam on each member's own state.

PPO takes 320 policy steps and 320 critic steps per 2048-step batch, each on 64 samples,
so torch's cost per call, not the arithmetic, decides how long they take. PPO's gradient
and clip can be traced by torch.compile into one inductor graph (`compiled`): faster per
step, after a compile that a run must repay; `use_compiled` decides when that pays (the
measurements are in the benchmarks guide). Compiled, a member's numbers are bit for bit
those of a stack of it alone, as they are eager, and agree with eager ones to float
tolerance (tests/test_manual_grad.py). Adam's state lives in each run's torch.optim.Adam
either way, so checkpoints, resumes and step-size annealing do not depend on the choice.
"""

import functools
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
import torch.optim.adam as functional_adam
from torch.optim.optimizer import _get_scalar_dtype

COMPILE_MODES = ("auto", "always", "never")
AUTO_COMPILE_UPDATES = 200  # `auto` compiles runs of at least this many updates
COMPILE_CACHE = Path(__file__).resolve().parent.parent / ".cache" / "torchinductor"
# inductor's caches inside the project, so a sweep compiles once per shape rather than once
# per run; set at import, because torch fixes the directory when dynamo is first imported
# (which creating any optimiser does)
os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(COMPILE_CACHE))
# A compiled step is specialised to its shapes: members, minibatch size, network. Past this
# many, dynamo would fall back to eager code silently, changing a run's numbers; it raises.
RECOMPILE_LIMIT = 64


def use_compiled(mode: str, num_updates: int) -> bool:
    """Whether a run of `num_updates` updates compiles PPO's policy steps: `auto` where the
    time saved repays the compile, `always`, `never`."""
    if mode not in COMPILE_MODES:
        raise ValueError(f"unknown compile mode {mode!r}; allowed: {', '.join(COMPILE_MODES)}")
    return mode == "always" or (mode == "auto" and num_updates >= AUTO_COMPILE_UPDATES)


@functools.cache
def compiled(fn: Callable) -> Callable:
    """`fn`, a function of tensors, traced by torch.compile (once per process and function)."""
    import torch._dynamo.config as dynamo_config
    import torch._inductor.config as inductor_config

    # no pool of compile workers: left running, it slowed MuJoCo's steps by a third
    inductor_config.compile_threads = 1
    dynamo_config.recompile_limit = RECOMPILE_LIMIT
    dynamo_config.fail_on_recompile_limit_hit = True
    return torch.compile(fn, dynamic=False)


def adam_state(optimizer: torch.optim.Adam, params: Sequence[torch.Tensor]) -> list[dict]:
    """Adam's state of each of `params`, made as torch.optim.Adam makes it on its first
    step where the optimiser has taken none yet (steps are taken with the functional Adam
    on these tensors)."""
    for p in params:
        if not optimizer.state.get(p):
            optimizer.state[p] = {
                "step": torch.zeros((), dtype=_get_scalar_dtype(is_fused=True)),
                "exp_avg": torch.zeros_like(p, memory_format=torch.preserve_format),
                "exp_avg_sq": torch.zeros_like(p, memory_format=torch.preserve_format),
            }
    return [optimizer.state[p] for p in params]


def in_groups(keys: list, group_step: Callable[..., list], *columns: list) -> list:
    """`group_step` over the members of each key (each column's entries of those members,
    in member order), and each member's result back in its place: members that cannot be
    stacked together are stepped as stacks of their own."""
    groups: dict = {}
    for m, key in enumerate(keys):
        groups.setdefault(key, []).append(m)
    results: list = [None] * len(keys)
    for members in groups.values():
        done = group_step(*([column[m] for m in members] for column in columns))
        for m, result in zip(members, done, strict=True):
            results[m] = result
    return results


def adam_groups(optimizers: list[torch.optim.Adam]) -> list[tuple[dict, list[int]]]:
    """Members whose optimisers share Adam's settings: (those settings, their indices)."""
    groups: dict[tuple, list[int]] = {}
    for m, optimizer in enumerate(optimizers):
        hyper = hyperparameters(optimizer.param_groups[0])
        groups.setdefault(tuple(sorted(hyper.items())), []).append(m)
    return [(dict(hyper), members) for hyper, members in groups.items()]


def adam_step(
    params: list[list[torch.Tensor]],
    grads: list[list[torch.Tensor]],
    states: list[list[dict]],
    groups: list[tuple[dict, list[int]]],
) -> None:
    """One Adam step of each member: its parameters (slices of the stacked ones), its
    gradients and its state, under its `adam_groups` settings. Members of one setting share
    a call of torch.optim's fused Adam, the kernel `Adam.step()` runs: it works tensor by
    tensor, so each member's step is bit for bit its own. A member's slice is a tensor of
    its own in the call: fused Adam splits each tensor into vector-width blocks and a tail,
    so a stacked tensor would put some elements in the other path and round them
    differently."""
    for hyper, members in groups:
        functional_adam.adam(
            [p for m in members for p in params[m]],
            [g for m in members for g in grads[m]],
            [s["exp_avg"] for m in members for s in states[m]],
            [s["exp_avg_sq"] for m in members for s in states[m]],
            [],
            [s["step"] for m in members for s in states[m]],
            fused=True,
            **hyper,
        )  # fmt: skip


def stacked(modules_params: list[list[torch.Tensor]]) -> list[torch.Tensor]:
    """Each parameter of members of one shape stacked along a first, member axis."""
    return [torch.stack(ps) for ps in zip(*modules_params, strict=True)]


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
