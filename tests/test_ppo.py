"""PPO's surrogates on hand-computed cases, and the adaptive KL rule."""

import pytest
import torch

from algos.ppo import adapt_kl_coef, ppo_objective

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
