"""One update of a plain PyTorch training loop (CleanRL's style), measured exactly:

    with measured_update(run, policy, obs, actions, step=global_step, episodes=finished):
        ...  # the loop's own optimisation of the policy on this batch

`policy(obs)` returns the action distribution's (mean, log_std); it is evaluated on the
batch's states before the block and after it, and the update's row is written to the
record when the block ends.
"""

from collections.abc import Callable, Iterable
from contextlib import contextmanager

import torch

from monitor.measure import Gaussian, behaviour, update_size
from monitor.record import ForeignRun

Policy = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def distribution(policy: Policy, obs: torch.Tensor) -> Gaussian:
    with torch.no_grad():
        return Gaussian.of(*policy(obs))


@contextmanager
def measured_update(
    run: ForeignRun,
    policy: Policy,
    obs: torch.Tensor,
    actions: torch.Tensor | None = None,
    *,
    step: int,
    episodes: Iterable[tuple[float, float]] = (),
    obs_next: torch.Tensor | None = None,
):
    """Measure the update made inside the block. `obs_next`: the same states as the next
    batch's policy will see them, when an observation normaliser's statistics change
    between batches (omitted: kl_behaviour is kl_mean). Yields a dict; what the loop puts
    in it under a metric's name (its own loss, its logged KL estimate as `kl_reported`) is
    recorded too."""
    old = distribution(policy, obs)
    renormalised = distribution(policy, obs_next) if obs_next is not None else old
    logged: dict = {}
    yield logged
    new = distribution(policy, obs)
    following = distribution(policy, obs_next) if obs_next is not None else new
    metrics = update_size(old, new, actions) | behaviour(old, renormalised, following)
    run.log(step, metrics | logged, episodes)
