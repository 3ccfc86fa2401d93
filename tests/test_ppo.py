"""PPO's surrogates on hand-computed cases, the adaptive KL rule and the KL early stop."""

import pytest
import torch

from algos.policy import GaussianActor, flat_params
from algos.ppo import PPOConfig, PPOUpdate, adapt_kl_coef, ppo_objective
from algos.surrogate import mean_kl
from tests.conftest import make_batch

EPS = 0.2


@pytest.mark.parametrize(
    ("r", "advantage", "expected"),
    [
        (1.1, 2.0, 2.2),  # inside the clip range: r·A
        (1.5, 2.0, 2.4),  # A > 0, r above 1+ε: clipped to (1+ε)·A
        (0.5, 2.0, 1.0),  # A > 0, r below 1−ε: min keeps the smaller unclipped r·A
        (0.5, -2.0, -1.6),  # A < 0, r below 1−ε: clipped to (1−ε)·A
        (1.5, -2.0, -3.0),  # A < 0, r above 1+ε: min keeps the more negative r·A
        (0.9, -1.0, -0.9),  # inside, negative advantage
    ],
)
def test_clipped_objective_on_hand_computed_cases(r, advantage, expected):
    value = ppo_objective(
        torch.tensor([r]), torch.tensor([advantage]), torch.zeros(1), "clip", EPS, 0.0
    )
    assert value.item() == pytest.approx(expected)


def test_clipped_objective_has_no_gradient_once_clipped_in_the_improving_direction():
    r = torch.tensor([1.5, 0.5, 1.1], requires_grad=True)
    advantages = torch.tensor([2.0, -2.0, 2.0])
    ppo_objective(r, advantages, torch.zeros(3), "clip", EPS, 0.0).sum().backward()
    assert r.grad.tolist() == pytest.approx([0.0, 0.0, 2.0])


def test_unclipped_and_penalised_objectives():
    r, a, kl = torch.tensor([1.5]), torch.tensor([2.0]), torch.tensor([0.1])
    assert ppo_objective(r, a, kl, "none", EPS, 3.0).item() == pytest.approx(3.0)
    assert ppo_objective(r, a, kl, "kl_fixed", EPS, 3.0).item() == pytest.approx(3.0 - 0.3)
    assert ppo_objective(r, a, kl, "kl_adaptive", EPS, 0.5).item() == pytest.approx(3.0 - 0.05)


def test_adaptive_kl_coefficient_halves_doubles_or_stays():
    target = 0.01
    assert adapt_kl_coef(1.0, target / 1.5 - 1e-6, target) == 0.5
    assert adapt_kl_coef(1.0, target * 1.5 + 1e-6, target) == 2.0
    assert adapt_kl_coef(1.0, target, target) == 1.0


def test_unknown_objective_names_the_allowed_ones():
    with pytest.raises(ValueError, match="clip, none, kl_fixed, kl_adaptive"):
        ppo_objective(torch.ones(1), torch.ones(1), torch.zeros(1), "trust", EPS, 0.0)


def ppo_after(epochs: int, objective: str = "none", **params) -> tuple[torch.Tensor, dict, float]:
    """A fresh tiny actor after one PPO update: its parameters, the metrics, its mean KL."""
    torch.manual_seed(0)
    actor = GaussianActor(obs_dim=4, act_dim=2, hidden=(16,), init_log_std=0.0)
    batch = make_batch(actor, n=256, seed=5)
    config = PPOConfig(lr=3e-3, epochs=epochs, minibatch_size=64, objective=objective, **params)
    metrics = PPOUpdate(actor, config).step(batch, torch.Generator().manual_seed(1))
    with torch.no_grad():
        kl = mean_kl(actor, batch).item()
    return flat_params(actor), metrics, kl


@pytest.mark.parametrize("objective", ["clip", "none"])
def test_kl_early_stop_starts_no_epoch_after_the_kl_passed_its_threshold(objective):
    target = 0.002
    _, metrics, kl = ppo_after(10, objective, target_kl=target)
    k = metrics["epochs_run"]
    assert 1 <= k < 10  # it stopped early: the case under test happened
    assert kl > 1.5 * target  # it stopped because the KL after epoch k passed the threshold
    # and the KL had not passed it when epoch k started (after k − 1 epochs, without the stop)
    _, _, kl_before = ppo_after(k - 1, objective) if k > 1 else (None, None, 0.0)
    assert kl_before <= 1.5 * target
    # the stopped update is exactly k epochs of the plain one
    assert torch.equal(ppo_after(k, objective)[0], ppo_after(10, objective, target_kl=target)[0])


def test_kl_early_stop_off_or_never_reached_is_the_plain_update():
    plain, metrics, _ = ppo_after(4)
    unreached, stopped_metrics, _ = ppo_after(4, target_kl=1e6)
    assert torch.equal(plain, unreached)
    assert metrics["epochs_run"] == stopped_metrics["epochs_run"] == 4
