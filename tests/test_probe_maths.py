"""The one-update probe's maths against known answers: the scale search lands on each
target KL, the predicted change is the directional derivative, the natural direction
solves the damped Fisher system, PPO's direction is PPO's own update."""

import math

import pytest
import torch

from algos.policy import GaussianActor, flat_params, set_flat_params
from algos.ppo import PPOConfig, PPOUpdate
from algos.probe import (
    kl_along,
    natural_direction,
    scale_for_kl,
    surrogate_change,
    update_step,
    vanilla_direction,
)
from algos.surrogate import surrogate
from tests.conftest import make_batch
from tests.test_trpo import explicit_kl_hessian

TARGETS = [1e-4, 1e-3, 1e-2, 0.1, 1.0, 10.0]


def random_policy(seed: int) -> GaussianActor:
    torch.manual_seed(seed)
    actor = GaussianActor(obs_dim=4, act_dim=2, hidden=(16,), init_log_std=-0.3)
    with torch.no_grad():
        actor.mean_net[-1].weight.mul_(30.0)
    return actor


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_scale_search_lands_within_ten_percent_of_each_target_kl(seed):
    actor = random_policy(seed)
    batch = make_batch(actor, 256, seed)
    theta = flat_params(actor)
    for direction in (vanilla_direction(actor, batch), natural_direction(actor, batch)):
        for target in TARGETS:
            scale = scale_for_kl(actor, batch, direction, target)
            assert math.isfinite(scale) and scale > 0
            achieved = kl_along(actor, batch, theta, direction, scale)
            assert abs(achieved / target - 1.0) <= 0.1, (target, achieved)
    assert torch.equal(flat_params(actor), theta)  # the search leaves the actor as it found it


def test_a_zero_direction_cannot_reach_any_kl():
    actor = random_policy(0)
    batch = make_batch(actor, 64, 0)
    zero = torch.zeros_like(flat_params(actor))
    assert math.isnan(scale_for_kl(actor, batch, zero, 0.01))


def test_predicted_change_at_a_tiny_step_is_the_directional_derivative():
    actor = random_policy(3).double()
    batch = make_batch(actor, 128, 3)
    theta = flat_params(actor)
    g = vanilla_direction(actor, batch)
    direction = torch.randn(
        theta.shape, generator=torch.Generator().manual_seed(0), dtype=theta.dtype
    )
    step = 1e-6
    predicted = surrogate_change(actor, batch, theta + step * direction)
    assert predicted / step == pytest.approx(torch.dot(g, direction).item(), rel=1e-4)
    # and the surrogate's own finite difference agrees with the gradient
    with torch.no_grad():
        set_flat_params(actor, theta + step * direction)
        plus = surrogate(actor, batch).item()
        set_flat_params(actor, theta - step * direction)
        minus = surrogate(actor, batch).item()
        set_flat_params(actor, theta)
    assert (plus - minus) / (2 * step) == pytest.approx(torch.dot(g, direction).item(), rel=1e-6)


def test_natural_direction_solves_the_damped_fisher_system():
    actor = random_policy(4).double()
    batch = make_batch(actor, 256, 4)
    s = natural_direction(actor, batch, damping=0.1, cg_iters=200)
    damped_fisher = explicit_kl_hessian(actor, batch) + 0.1 * torch.eye(s.numel(), dtype=s.dtype)
    assert torch.allclose(damped_fisher @ s, vanilla_direction(actor, batch), atol=1e-6)


def test_ppo_direction_is_ppos_own_update_and_leaves_the_actor_unchanged():
    actor = random_policy(5)
    batch = make_batch(actor, 256, 5)
    theta = flat_params(actor)
    params = {"epsilon": 0.2, "epochs": 2, "minibatch_size": 64}
    direction = update_step(actor, batch, "ppo", params, torch.Generator().manual_seed(7))
    assert torch.equal(flat_params(actor), theta)
    PPOUpdate(actor, PPOConfig(**params)).step(batch, torch.Generator().manual_seed(7))
    assert torch.allclose(theta + direction, flat_params(actor), atol=1e-6)
