"""TRPO against the maths: Fisher-vector products, conjugate gradient, the KL bound."""

import pytest
import torch
from torch.func import functional_call

from algos.cg import conjugate_gradient
from algos.kl import gaussian_kl
from algos.natural_gradient import fisher_vector_product
from algos.policy import GaussianActor, flat_params
from algos.surrogate import mean_kl, surrogate, update_diagnostics
from algos.trpo import TRPOConfig, TRPOUpdate, backtracking_line_search
from tests.conftest import make_batch


def explicit_kl_hessian(actor: GaussianActor, batch) -> torch.Tensor:
    """∇²_θ mean KL(π_old‖π_θ) at θ_old, built entry by entry by torch.autograd.functional."""
    names = [n for n, _ in actor.named_parameters()]
    shapes = [p.shape for p in actor.parameters()]
    sizes = [p.numel() for p in actor.parameters()]

    def kl_of(flat: torch.Tensor) -> torch.Tensor:
        tensors = dict(
            zip(
                names,
                (t.view(s) for t, s in zip(flat.split(sizes), shapes, strict=True)),
                strict=True,
            )
        )
        mean = functional_call(
            actor.mean_net,
            {k.removeprefix("mean_net."): v for k, v in tensors.items() if k != "log_std"},
            (batch.obs,),
        )
        log_std = tensors["log_std"].expand_as(mean)
        return gaussian_kl(batch.mean_old, batch.log_std_old, mean, log_std).mean()

    return torch.autograd.functional.hessian(kl_of, flat_params(actor))


def test_fisher_vector_product_equals_explicit_kl_hessian_times_vector(tiny_actor):
    actor = tiny_actor.double()
    batch = make_batch(actor, n=64, seed=0)
    hessian = explicit_kl_hessian(actor, batch)
    fvp = fisher_vector_product(actor, batch, damping=0.0)
    damped = fisher_vector_product(actor, batch, damping=0.1)
    g = torch.Generator().manual_seed(1)
    for _ in range(3):
        v = torch.randn(hessian.shape[0], generator=g, dtype=torch.float64)
        torch.testing.assert_close(fvp(v), hessian @ v, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(damped(v), hessian @ v + 0.1 * v, atol=1e-5, rtol=1e-5)
    assert hessian.abs().max() > 1e-2  # a real curvature, not an all-zero matrix


def test_conjugate_gradient_matches_direct_solve_on_random_spd_system():
    g = torch.Generator().manual_seed(0)
    m = torch.randn(30, 30, generator=g, dtype=torch.float64)
    a = m @ m.T + 0.5 * torch.eye(30, dtype=torch.float64)
    b = torch.randn(30, generator=g, dtype=torch.float64)
    x, residual = conjugate_gradient(lambda v: a @ v, b, iters=100, residual_tol=1e-20)
    assert residual < 1e-20
    assert torch.dot(b - a @ x, b - a @ x).item() < 1e-18
    torch.testing.assert_close(x, torch.linalg.solve(a, b), atol=1e-8, rtol=1e-8)


def test_conjugate_gradient_stops_at_residual_tolerance():
    a = torch.diag(torch.arange(1.0, 11.0, dtype=torch.float64))
    b = torch.ones(10, dtype=torch.float64)
    _, residual = conjugate_gradient(lambda v: a @ v, b, iters=3, residual_tol=1e-30)
    assert residual > 1e-6  # 3 iterations cannot solve 10 distinct eigenvalues exactly


@pytest.mark.parametrize("delta", [1e-3, 1e-2, 1e-1])
def test_trpo_step_stays_within_delta(delta):
    accepted = 0
    for seed in range(15):
        torch.manual_seed(seed)
        actor = GaussianActor(obs_dim=5, act_dim=2, hidden=(16, 16), init_log_std=0.0)
        batch = make_batch(actor, n=256, seed=100 + seed)
        before = surrogate(actor, batch).item()
        metrics = TRPOUpdate(actor, TRPOConfig(delta=delta)).step(batch, torch.Generator())
        with torch.no_grad():
            kl = mean_kl(actor, batch).item()
            after = surrogate(actor, batch).item()
        assert kl <= delta
        if metrics["ls_accepted"]:
            accepted += 1
            assert after > before
            assert kl > 0.0
    assert accepted >= 12  # the bound is tested on real steps, not on rejected ones


def test_kl_of_an_update_that_only_widens_the_policy_is_the_closed_form():
    torch.manual_seed(0)
    actor = GaussianActor(obs_dim=3, act_dim=2, hidden=(8,), init_log_std=0.0)
    batch = make_batch(actor, n=32, seed=0)
    before = flat_params(actor)
    with torch.no_grad():
        actor.log_std.add_(0.3)
    diagnostics = update_diagnostics(actor, batch, before)
    # per action dim: KL(N(μ,1)‖N(μ,e^0.6)) = 0.3 + 1/(2e^0.6) − ½
    expected = 2 * (0.3 + 0.5 * torch.exp(torch.tensor(-0.6)).item() - 0.5)
    assert diagnostics["kl_mean"] == pytest.approx(expected, rel=1e-5)
    assert mean_kl(actor, batch).item() == pytest.approx(expected, rel=1e-5)


def test_line_search_rejects_a_step_that_worsens_the_surrogate(tiny_actor):
    batch = make_batch(tiny_actor, n=128, seed=3)
    params = list(tiny_actor.parameters())
    loss = surrogate(tiny_actor, batch)
    g = torch.cat([x.reshape(-1) for x in torch.autograd.grad(loss, params)])
    theta_old = flat_params(tiny_actor)
    steps, accepted, kept = backtracking_line_search(
        tiny_actor, batch, -1e-3 * g / g.norm(), loss.item(), delta=1.0, coef=0.8, iters=10
    )
    assert not accepted and steps == 10 and kept == loss.item()
    assert torch.equal(flat_params(tiny_actor), theta_old)
