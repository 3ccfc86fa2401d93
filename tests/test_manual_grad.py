"""The hand-derived minibatch gradients against autograd on the straightforward losses (float64)."""

import copy

import pytest
import torch
import torch._dynamo

from algos.kl import gaussian_kl
from algos.manual_grad import clip_flat_grad_, flat_grad_buffer
from algos.policy import GaussianActor, ValueNet, flat_params
from algos.ppo import OBJECTIVES, PPOConfig, PPOUpdate, ppo_grads, ppo_objective
from algos.surrogate import ratio
from algos.value import ValueFitter, fit_together, stacked_value_grads
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
    grads, loss, clip_frac = ppo_grads(
        list(actor.parameters()), batch.obs, batch.actions, batch.logp_old, batch.advantages,
        batch.mean_old, batch.log_std_old, torch.tensor(0.7, dtype=torch.float64),
        objective, 0.2,
    )  # fmt: skip
    assert loss.item() == pytest.approx(expected_loss.item(), rel=1e-12)
    assert clip_frac.item() == pytest.approx(((r - 1.0).abs() > 0.2).double().mean().item())
    for got, want in zip(grads, expected_grads, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("seed", [0, 1])
def test_critic_gradient_equals_autograd(seed):
    torch.manual_seed(seed)
    critic = ValueNet(obs_dim=5, hidden=(16, 16)).double()
    batch = make_batch(moved_actor(seed)[0], 128, seed)
    reference = copy.deepcopy(critic)
    expected_loss = 0.5 * ((reference(batch.obs) - batch.returns) ** 2).mean()
    expected_loss.backward()
    params = [p.unsqueeze(0) for p in critic.parameters()]  # a population of one
    grads, loss = stacked_value_grads(params, batch.obs[None], batch.returns[None])
    assert loss.item() == pytest.approx(expected_loss.item(), rel=1e-12)
    for got, want in zip(grads, reference.parameters(), strict=True):
        torch.testing.assert_close(got[0], want.grad, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("max_norm", [None, 0.5, 1e3])
def test_flat_clip_equals_torch_clip_grad_norm(max_norm):
    torch.manual_seed(0)
    ours = GaussianActor(obs_dim=5, act_dim=3, hidden=(16,), init_log_std=0.0).double()
    theirs = copy.deepcopy(ours)
    flat = flat_grad_buffer(ours)
    for p, q in zip(ours.parameters(), theirs.parameters(), strict=True):
        q.grad = torch.randn_like(q)
        p.grad.copy_(q.grad)
    norm = clip_flat_grad_(flat, max_norm)
    limit = float("inf") if max_norm is None else max_norm
    expected = torch.nn.utils.clip_grad_norm_(theirs.parameters(), limit)
    assert norm.item() == pytest.approx(expected.item(), rel=1e-12)
    for p, q in zip(ours.parameters(), theirs.parameters(), strict=True):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-12, atol=0.0)


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
    """float64 round-off, or float32's where compiled: Adam keeps its step count as a float32
    tensor, the compiled (capturable) Adam takes its bias corrections from that tensor, and
    80 steps amplify that to ~3e-7 (with the count cast to float64 the two agree to 1e-16).
    A step in the wrong direction or of the wrong size moves parameters by ~1e-3."""
    return {"rtol": 1e-5, "atol": 1e-6} if compiled else {"rtol": 1e-9, "atol": 1e-10}


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


def test_one_process_compiles_run_after_run_past_dynamos_recompile_limit(monkeypatch):
    """A sweep worker trains many runs in one process: each run's compiled step must
    compile afresh, not hit the recompile limit and fall back to eager capturable Adam."""
    monkeypatch.setattr(torch._dynamo.config, "cache_size_limit", 1)
    for run in range(3):  # without a fresh start per run, the second would fail
        torch.manual_seed(run)
        actor = GaussianActor(3, 2, (8,), 0.0)
        batch = make_batch(actor, 128, run)
        before = flat_params(actor)
        PPOUpdate(actor, PPOConfig(epochs=1), compiled=True).step(batch, torch.Generator())
        assert not torch.equal(flat_params(actor), before)
