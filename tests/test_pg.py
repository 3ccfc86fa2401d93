"""Vanilla PG is exactly one optimiser step on the surrogate, and its KL grows with lr."""

import torch

from algos.pg import PGConfig, PGUpdate
from algos.policy import GaussianActor, flat_params, gaussian_log_prob
from algos.surrogate import mean_kl, surrogate
from tests.conftest import make_batch


def fresh_actor() -> GaussianActor:
    torch.manual_seed(0)
    return GaussianActor(obs_dim=4, act_dim=2, hidden=(16, 16), init_log_std=0.0)


def test_pg_update_equals_one_optimiser_step_on_the_surrogate():
    for optimizer_name, optimizer_cls in (("adam", torch.optim.Adam), ("sgd", torch.optim.SGD)):
        actor, reference = fresh_actor(), fresh_actor()
        batch = make_batch(actor, n=128, seed=1)
        PGUpdate(actor, PGConfig(lr=1e-2, optimizer=optimizer_name)).step(batch, torch.Generator())
        kwargs = {"eps": 1e-5} if optimizer_cls is torch.optim.Adam else {}
        optimizer = optimizer_cls(reference.parameters(), lr=1e-2, **kwargs)
        (-surrogate(reference, batch)).backward()
        optimizer.step()
        torch.testing.assert_close(flat_params(actor), flat_params(reference))
        assert not torch.equal(flat_params(actor), flat_params(fresh_actor()))


def test_sgd_step_is_lr_times_policy_gradient():
    actor = fresh_actor()
    batch = make_batch(actor, n=128, seed=2)
    theta = flat_params(actor)
    # ∇L at θ_old = mean_t ∇log π(a_t|s_t) Â_t, computed here from the log-likelihood directly
    logp = gaussian_log_prob(*actor(batch.obs), batch.actions)
    grad = torch.autograd.grad((logp * batch.advantages).mean(), list(actor.parameters()))
    grad = torch.cat([g.reshape(-1) for g in grad])
    PGUpdate(actor, PGConfig(lr=0.05, optimizer="sgd")).step(batch, torch.Generator())
    torch.testing.assert_close(flat_params(actor) - theta, 0.05 * grad, atol=1e-6, rtol=1e-5)


def test_kl_of_pg_update_grows_with_lr():
    kls = []
    for lr in (1e-4, 1e-3, 1e-2, 1e-1):
        actor = fresh_actor()
        batch = make_batch(actor, n=256, seed=3)
        PGUpdate(actor, PGConfig(lr=lr)).step(batch, torch.Generator())
        with torch.no_grad():
            kls.append(mean_kl(actor, batch).item())
    assert all(a < b for a, b in zip(kls, kls[1:], strict=False)), kls
    assert kls[-1] > 100 * kls[0]
