"""TRPO's update (Schulman et al. 2015): the natural-gradient step, held inside a KL ball.

  maximise_θ L(θ)  subject to  mean_s KL(π_old(·|s) ‖ π_θ(·|s)) ≤ δ

The full step is the natural-gradient step whose quadratic KL model equals δ
(algos.natural_gradient, shared with NPG); a backtracking line search shrinks it by
`backtrack_coef` until the exact mean KL is ≤ δ and L improves, else keeps θ_old.
"""

from dataclasses import dataclass

import torch

from algos.allowed import Int, Real, setting
from algos.natural_gradient import NaturalGradientConfig, NaturalGradientUpdate, NaturalSteps, Stack


@dataclass
class TRPOConfig(NaturalGradientConfig):
    # δ: the bound on the exact mean KL(π_old‖π_new) of one update (the line search holds it)
    backtrack_coef: float = setting(0.8, Real(0.0, 1.0))
    backtrack_iters: int = setting(10, Int())  # at most this many shrinkings of the full step


class TRPOUpdate(NaturalGradientUpdate):
    @staticmethod
    def follow(
        stack: Stack, proposed: NaturalSteps, configs: list[TRPOConfig]
    ) -> tuple[torch.Tensor, list[dict[str, float]]]:
        """The backtracking line search: try θ_old + coef^k · full step for k = 0..iters
        and keep the first with mean KL ≤ δ and a higher surrogate; if none qualifies, keep
        θ_old (ls_steps = iters, ls_accepted = 0). Each shrinking k evaluates the members
        still searching in one stacked pass, each against its own δ, coefficient and
        iters. The full step's evaluation (k = 0) is the one that measured `kl_full_step`."""
        theta = proposed.theta_old.clone()
        metrics = [m | {"ls_steps": 0, "ls_accepted": 0} for m in proposed.metrics]
        searching = [m for m, ok in enumerate(proposed.proposed) if ok]
        for m in searching:  # rejected until a shrinking is accepted
            metrics[m].update(ls_steps=configs[m].backtrack_iters)
        k = 0
        while searching := [m for m in searching if k <= configs[m].backtrack_iters]:
            coefs = [[configs[m].backtrack_coef ** k] for m in searching]
            trial = (proposed.theta_old[searching]
                     + torch.tensor(coefs, dtype=theta.dtype) * proposed.full_step[searching])  # fmt: skip
            if k == 0:
                values = [proposed.surrogate_full[m] for m in searching]
                kls = [proposed.kl_full[m] for m in searching]
            else:
                values, kls = stack.evaluate(trial, searching)
            for i, (m, value, kl) in enumerate(zip(searching, values, kls, strict=True)):
                if kl <= configs[m].delta and value > proposed.surrogate_old[m]:
                    theta[m] = trial[i]
                    metrics[m].update(policy_loss=-value, ls_steps=k, ls_accepted=1)
            searching = [m for m in searching if not metrics[m]["ls_accepted"]]
            k += 1
        return theta, metrics
