"""The natural-gradient step against an explicit Fisher matrix, and the quadratic model of
the KL against the exact KL (closed form)."""

import pytest
import torch

from algos.natural_gradient import NaturalGradientConfig, Stack, natural_steps
from algos.npg import NPGConfig, NPGUpdate
from algos.policy import GaussianActor, flat_params, set_flat_params
from algos.surrogate import mean_kl, quadratic_kl, surrogate, update_diagnostics
from algos.trpo import TRPOConfig, TRPOUpdate
from tests.conftest import make_batch
from tests.test_trpo import explicit_kl_hessian


@pytest.mark.parametrize("damping", [0.0, 0.1])
def test_npg_full_step_puts_the_damped_quadratic_kl_at_delta(tiny_actor, damping):
    actor = tiny_actor.double()
    batch = make_batch(actor, n=64, seed=0)
    fisher = explicit_kl_hessian(actor, batch) + damping * torch.eye(
        flat_params(actor).numel(), dtype=torch.float64
    )
    config = NaturalGradientConfig(delta=0.02, cg_iters=200, cg_residual_tol=1e-24, damping=damping)
    step = natural_steps(Stack([actor], [batch]), [config]).full_step[0]
    assert 0.5 * step @ fisher @ step == pytest.approx(0.02, rel=1e-6)
    # and it points along (H + λI)⁻¹ g, solved directly
    params = list(actor.parameters())
    g = torch.cat([x.reshape(-1) for x in torch.autograd.grad(surrogate(actor, batch), params)])
    direct = torch.linalg.lstsq(fisher, g).solution
    cosine = torch.dot(step, direct) / (step.norm() * direct.norm())
    assert cosine.item() == pytest.approx(1.0, abs=1e-6)


def test_kl_full_step_is_the_exact_kl_of_that_step(tiny_actor):
    actor = tiny_actor.double()
    batch = make_batch(actor, n=64, seed=1)
    theta_old = flat_params(actor)
    proposed = natural_steps(Stack([actor], [batch]), [NaturalGradientConfig(delta=0.5)])
    assert torch.equal(flat_params(actor), theta_old)  # the proposal leaves θ_old in place
    set_flat_params(actor, theta_old + proposed.full_step[0])
    with torch.no_grad():
        mean, log_std = actor(batch.obs)
    var_old, var_new = (2 * batch.log_std_old).exp(), (2 * log_std).exp()
    closed_form = (
        log_std - batch.log_std_old + (var_old + (batch.mean_old - mean) ** 2) / (2 * var_new) - 0.5
    )
    assert proposed.metrics[0]["kl_full_step"] == pytest.approx(
        closed_form.sum(-1).mean().item(), rel=1e-10
    )


def test_npg_takes_the_full_step_where_trpo_backtracks():
    torch.manual_seed(3)
    actor = GaussianActor(obs_dim=5, act_dim=2, hidden=(16, 16), init_log_std=0.0)
    batch = make_batch(actor, n=256, seed=7)
    trpo_actor = GaussianActor(obs_dim=5, act_dim=2, hidden=(16, 16), init_log_std=0.0)
    trpo_actor.load_state_dict(actor.state_dict())
    npg = NPGUpdate(actor, NPGConfig(delta=3.0, damping=0.0)).step(batch, torch.Generator())
    trpo = TRPOUpdate(trpo_actor, TRPOConfig(delta=3.0, damping=0.0)).step(batch, torch.Generator())
    with torch.no_grad():
        npg_kl, trpo_kl = mean_kl(actor, batch).item(), mean_kl(trpo_actor, batch).item()
    assert npg_kl == pytest.approx(npg["kl_full_step"], rel=1e-6)
    assert npg["kl_full_step"] == trpo["kl_full_step"] > 3.0  # the model is far off at δ 3
    assert trpo["ls_steps"] > 0 and trpo_kl <= 3.0 < npg_kl


def test_quadratic_kl_is_half_the_step_through_the_explicit_fisher(tiny_actor):
    actor = tiny_actor.double()
    batch = make_batch(actor, n=64, seed=2)
    theta = flat_params(actor)
    fisher = explicit_kl_hessian(actor, batch)
    step = 0.05 * torch.randn(
        theta.numel(), generator=torch.Generator().manual_seed(0), dtype=torch.float64
    )
    assert quadratic_kl(actor, batch, theta, step) == pytest.approx(
        (0.5 * step @ fisher @ step).item(), rel=1e-8
    )


def test_exact_over_quadratic_kl_tends_to_one_for_small_steps(tiny_actor):
    actor = tiny_actor.double()
    batch = make_batch(actor, n=64, seed=4)
    theta = flat_params(actor)
    direction = torch.randn(
        theta.numel(), generator=torch.Generator().manual_seed(1), dtype=torch.float64
    )
    gaps = []
    for scale in (1.0, 0.1, 0.01, 0.001):
        set_flat_params(actor, theta + scale * direction)
        ratio = update_diagnostics(actor, batch, theta)["kl_model_ratio"]
        set_flat_params(actor, theta)
        gaps.append(abs(ratio - 1.0))
    assert gaps[0] > 0.05  # a large step leaves the quadratic model
    # the model's error is third order: the gap shrinks about tenfold per tenfold smaller step
    assert all(b < 0.2 * a for a, b in zip(gaps, gaps[1:], strict=False)) and gaps[-1] < 1e-2
