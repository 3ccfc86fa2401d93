"""The hand-derived minibatch gradients against autograd on the straightforward losses (float64)."""

import copy

import pytest
import torch
import torch._dynamo

from algos.kl import gaussian_kl
from algos.manual_grad import clipped_flat_grads
from algos.policy import GaussianActor, ValueNet, flat_params
from algos.ppo import (
    MINIBATCH_FIELDS,
    OBJECTIVES,
    PPOConfig,
    PPOUpdate,
    minibatch_grads,
    ppo_objective,
)
from algos.surrogate import ratio
from algos.value import ValueFitter, fit_together, value_grads
from tests.conftest import make_batch


def moved_actor(seed: int) -> tuple[GaussianActor, GaussianActor]:
    """An actor in float64 and a copy moved away from it, so ratios leave the clip range."""
    torch.manual_seed(seed)
    old = GaussianActor(obs_dim=5, act_dim=3, hidden=(16, 16), init_log_std=-0.3).double()
    with torch.no_grad():
        old.mean_net[-1].weight.mul_(30.0)
    new = copy.deepcopy(old)
    with torch.no_grad():
        for p in new.parameters():
            p.add_(0.15 * torch.randn_like(p))
    return old, new


def autograd_policy_grads(actor, batch, objective, epsilon, beta):
    actor = copy.deepcopy(actor)
    mean, log_std = actor(batch.obs)
    r = ratio(mean, log_std, batch.actions, batch.logp_old)
    kl = gaussian_kl(batch.mean_old, batch.log_std_old, mean, log_std)
    loss = -ppo_objective(r, batch.advantages, kl, objective, epsilon, beta).mean()
    loss.backward()
    return loss.detach(), [p.grad for p in actor.parameters()], r.detach()


@pytest.mark.parametrize("objective", OBJECTIVES)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ppo_gradient_equals_autograd(objective, seed):
    old, actor = moved_actor(seed)
    batch = make_batch(old, 256, seed)
    expected_loss, expected_grads, r = autograd_policy_grads(actor, batch, objective, 0.2, 0.7)
    if objective == "clip":  # the case is only a test of clipping if some ratios are clipped
        assert 0.05 < ((r - 1.0).abs() > 0.2).double().mean() < 0.95
    params = [p.detach().unsqueeze(0) for p in actor.parameters()]  # a stack of one
    member = {name: getattr(batch, name)[None] for name in MINIBATCH_FIELDS}
    one = torch.ones((1, 1), dtype=torch.float64)
    flat, norm, loss, clip_frac = minibatch_grads(
        params, **member, beta=0.7 * one, objective=objective, epsilon=0.2 * one,
        max_grad_norm=torch.full((1, 1), float("inf"), dtype=torch.float64),
    )  # fmt: skip
    assert loss.item() == pytest.approx(expected_loss.item(), rel=1e-12)
    assert clip_frac.item() == pytest.approx(((r - 1.0).abs() > 0.2).double().mean().item())
    grads = flat[0].split([p.numel() for p in expected_grads])
    for got, want in zip(grads, expected_grads, strict=True):
        torch.testing.assert_close(got.view_as(want), want, rtol=1e-9, atol=1e-12)
    assert norm.item() == pytest.approx(
        torch.cat([g.reshape(-1) for g in expected_grads]).norm().item()
    )


@pytest.mark.parametrize("seed", [0, 1])
def test_critic_gradient_equals_autograd(seed):
    torch.manual_seed(seed)
    critic = ValueNet(obs_dim=5, hidden=(16, 16)).double()
    batch = make_batch(moved_actor(seed)[0], 128, seed)
    reference = copy.deepcopy(critic)
    expected_loss = 0.5 * ((reference(batch.obs) - batch.returns) ** 2).mean()
    expected_loss.backward()
    params = [p.unsqueeze(0) for p in critic.parameters()]  # a population of one
    grads, loss = value_grads(params, batch.obs[None], batch.returns[None])
    assert loss.item() == pytest.approx(expected_loss.item(), rel=1e-12)
    for got, want in zip(grads, reference.parameters(), strict=True):
        torch.testing.assert_close(got[0], want.grad, rtol=1e-9, atol=1e-12)


def test_flat_clip_equals_torch_clip_grad_norm_member_by_member():
    """Members with no clip (an infinite max norm), a clip that binds and one that does not,
    clipped in one call, each as torch.nn.utils.clip_grad_norm_ clips it alone."""
    torch.manual_seed(0)
    max_norms = [None, 0.5, 1e3]
    shapes = [(3,), (3, 5), (3,)]
    members = [[torch.randn(shape, dtype=torch.float64) for shape in shapes] for _ in max_norms]
    stacked = [torch.stack(ps) for ps in zip(*members, strict=True)]
    limits = [float("inf") if n is None else n for n in max_norms]
    flat, norm = clipped_flat_grads(stacked, torch.tensor(limits, dtype=torch.float64)[:, None])
    for m, (grads, limit) in enumerate(zip(members, limits, strict=True)):
        theirs = [torch.nn.Parameter(torch.zeros_like(g)) for g in grads]
        for p, g in zip(theirs, grads, strict=True):
            p.grad = g.clone()
        expected = torch.nn.utils.clip_grad_norm_(theirs, limit)
        assert norm[m].item() == pytest.approx(expected.item(), rel=1e-12)
        torch.testing.assert_close(
            flat[m], torch.cat([p.grad.reshape(-1) for p in theirs]), rtol=1e-12, atol=0.0
        )


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_ppo_update_trains_the_same_as_autograd_over_a_whole_update(compiled):
    """Ten epochs of Adam with the hand-written gradients, eager or compiled into one graph
    with the clip and Adam, follow autograd's trajectory under torch.optim.Adam."""
    old, _ = moved_actor(3)
    batch = make_batch(old, 512, 3)
    ours, reference = copy.deepcopy(old), copy.deepcopy(old)
    PPOUpdate(ours, PPOConfig(), compiled).step(batch, torch.Generator().manual_seed(0))
    optimizer = torch.optim.Adam(reference.parameters(), lr=3e-4, eps=1e-5)
    generator = torch.Generator().manual_seed(0)
    for _ in range(PPOConfig().epochs):
        for mb in batch.minibatches(64, generator):
            mean, log_std = reference(mb.obs)
            r = ratio(mean, log_std, mb.actions, mb.logp_old)
            loss = -ppo_objective(r, mb.advantages, 0.0, "clip", 0.2, 0.0).mean()
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(reference.parameters(), 0.5)
            optimizer.step()
    for p, q in zip(ours.parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(p, q, **trajectory_tolerance(compiled))


def trajectory_tolerance(compiled: bool) -> dict:
    """float64 round-off: compiled, inductor fuses the gradient's ops and may order a sum
    differently, which 80 steps amplify no further than this. A step in the wrong direction
    or of the wrong size moves parameters by ~1e-3."""
    return {"rtol": 1e-9, "atol": 1e-10}


def test_critic_fit_trains_the_same_as_autograd_over_a_whole_fit():
    """Ten epochs of the critic's minibatch steps follow autograd's trajectory under
    torch.optim.Adam, and report the mean of its minibatch losses."""
    torch.manual_seed(4)
    critic = ValueNet(obs_dim=5, hidden=(16, 16)).double()
    batch = make_batch(moved_actor(4)[0], 512, 4)
    ours, reference = copy.deepcopy(critic), copy.deepcopy(critic)
    fitter = ValueFitter(ours, 1e-3, 10, 64)
    metrics = fit_together([fitter], [batch], [torch.Generator().manual_seed(0)])[0]
    optimizer = torch.optim.Adam(reference.parameters(), lr=1e-3, eps=1e-5)
    generator, losses = torch.Generator().manual_seed(0), []
    for _ in range(10):
        for mb in batch.minibatches(64, generator):
            loss = 0.5 * ((reference(mb.obs) - mb.returns) ** 2).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    tolerance = trajectory_tolerance(compiled=False)  # the critic's step is always eager
    assert metrics["value_loss"] == pytest.approx(sum(losses) / len(losses), rel=tolerance["rtol"])
    for p, q in zip(ours.parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(p, q, **tolerance)


def compiled_update(hidden: tuple[int, ...], seed: int) -> None:
    torch.manual_seed(seed)
    actor = GaussianActor(3, 2, hidden, 0.0)
    batch = make_batch(actor, 128, seed)
    before = flat_params(actor)
    PPOUpdate(actor, PPOConfig(epochs=1), compiled=True).step(batch, torch.Generator())
    assert not torch.equal(flat_params(actor), before)


def test_compiled_steps_past_the_recompile_limit_fail_loudly_rather_than_run_eager():
    """A sweep worker trains run after run in one process: runs of one shape reuse one
    compiled step, and a shape past the limit raises rather than silently taking eager
    code, which would change a run's numbers with what the process ran before."""
    compiled_update((8,), 0)
    with torch._dynamo.config.patch(recompile_limit=1):
        for run in range(1, 3):
            compiled_update((8,), run)
        with pytest.raises(torch._dynamo.exc.FailOnRecompileLimitHit):
            compiled_update((5,), 3)
