"""TRPO against the maths: Fisher-vector products, conjugate gradient, the KL bound, the
line search's rule."""

import pytest
import torch
from torch.func import functional_call

from algos.cg import conjugate_gradient
from algos.kl import gaussian_kl
from algos.natural_gradient import NaturalSteps, Stack, fisher_vector_product
from algos.policy import GaussianActor, flat_params, set_flat_params
from algos.surrogate import mean_kl, surrogate, update_diagnostics
from algos.trpo import TRPOConfig, TRPOUpdate
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
    # the same member twice, undamped and damped: each row its own member's product
    fvp = fisher_vector_product(Stack([actor, actor], [batch, batch]), [0.0, 0.1])
    g = torch.Generator().manual_seed(1)
    for _ in range(3):
        v = torch.randn(2, hessian.shape[0], generator=g, dtype=torch.float64)
        undamped, damped = fvp(v)
        torch.testing.assert_close(undamped, hessian @ v[0], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(damped, hessian @ v[1] + 0.1 * v[1], atol=1e-5, rtol=1e-5)
    assert hessian.abs().max() > 1e-2  # a real curvature, not an all-zero matrix


def spd_systems(count: int, n: int, seed: int) -> tuple[list[torch.Tensor], torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    matrices = []
    for _ in range(count):
        m = torch.randn(n, n, generator=g, dtype=torch.float64)
        matrices.append(m @ m.T + 0.5 * torch.eye(n, dtype=torch.float64))
    return matrices, torch.randn(count, n, generator=g, dtype=torch.float64)


def products(matrices: list[torch.Tensor]):
    """v ↦ each row's matrix times that row of v."""
    return lambda v: torch.stack([a @ row for a, row in zip(matrices, v, strict=True)])


def test_conjugate_gradient_matches_direct_solve_on_random_spd_systems():
    matrices, b = spd_systems(3, 30, seed=0)
    x, residuals = conjugate_gradient(products(matrices), b, [100] * 3, [1e-20] * 3)
    for a, row, x_row, residual in zip(matrices, b, x, residuals, strict=True):
        assert residual < 1e-20
        assert torch.dot(row - a @ x_row, row - a @ x_row).item() < 1e-18
        torch.testing.assert_close(x_row, torch.linalg.solve(a, row), atol=1e-8, rtol=1e-8)


def test_conjugate_gradient_stops_at_residual_tolerance():
    a = torch.diag(torch.arange(1.0, 11.0, dtype=torch.float64))
    b = torch.ones(1, 10, dtype=torch.float64)
    _, (residual,) = conjugate_gradient(products([a]), b, [3], [1e-30])
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


def line_search(actor, batch, full_step: torch.Tensor, config: TRPOConfig):
    """TRPO's line search along `full_step` from the actor's parameters, as a stack of one."""
    stack = Stack([actor], [batch])
    (surrogate_old,), _ = stack.evaluate(stack.theta_old, [0])
    (surrogate_full,), (kl_full,) = stack.evaluate(stack.theta_old + full_step, [0])
    proposed = NaturalSteps(stack.theta_old, full_step.unsqueeze(0), [True], [surrogate_old],
                            [surrogate_full], [kl_full], [{}])  # fmt: skip
    theta, (metrics,) = TRPOUpdate.follow(stack, proposed, [config])
    return theta[0], metrics


def test_line_search_rejects_a_step_that_worsens_the_surrogate(tiny_actor):
    batch = make_batch(tiny_actor, n=128, seed=3)
    g = torch.autograd.grad(surrogate(tiny_actor, batch), list(tiny_actor.parameters()))
    g = torch.cat([x.reshape(-1) for x in g])
    theta_old = flat_params(tiny_actor)
    config = TRPOConfig(delta=1.0, backtrack_coef=0.8, backtrack_iters=10)
    theta, metrics = line_search(tiny_actor, batch, -1e-3 * g / g.norm(), config)
    assert metrics == {"ls_steps": 10, "ls_accepted": 0}
    assert torch.equal(theta, theta_old)


def test_line_search_keeps_the_first_shrinking_within_delta_that_improves(tiny_actor):
    batch = make_batch(tiny_actor, n=128, seed=4)
    g = torch.autograd.grad(surrogate(tiny_actor, batch), list(tiny_actor.parameters()))
    full_step = 3.0 * torch.cat([x.reshape(-1) for x in g])
    theta_old = flat_params(tiny_actor)
    config = TRPOConfig(delta=0.01, backtrack_coef=0.5, backtrack_iters=20)
    theta, metrics = line_search(tiny_actor, batch, full_step, config)
    # the rule, on the actor itself: the first k with KL ≤ δ and a higher surrogate
    before = surrogate(tiny_actor, batch).item()
    with torch.no_grad():
        for k in range(config.backtrack_iters + 1):
            set_flat_params(tiny_actor, theta_old + 0.5**k * full_step)
            kl, after = mean_kl(tiny_actor, batch).item(), surrogate(tiny_actor, batch).item()
            if kl <= config.delta and after > before:
                break
    assert k > 0  # the full step itself overshoots δ
    assert metrics == {"ls_steps": k, "ls_accepted": 1, "policy_loss": -after}
    assert torch.equal(theta, theta_old + 0.5**k * full_step)
