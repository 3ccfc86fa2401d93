"""Closed-form Gaussian KL against Monte-Carlo, and the properties KL must have."""

import torch
from torch.distributions import Normal, kl_divergence

from algos.kl import gaussian_kl, gaussian_kl_parts, kl_k3
from algos.policy import gaussian_log_prob


def sample_pair(seed: int, n_states: int = 4, act_dim: int = 3):
    g = torch.Generator().manual_seed(seed)
    mean_p = torch.randn(n_states, act_dim, generator=g, dtype=torch.float64)
    mean_q = mean_p + 0.5 * torch.randn(n_states, act_dim, generator=g, dtype=torch.float64)
    log_std_p = 0.3 * torch.randn(n_states, act_dim, generator=g, dtype=torch.float64)
    log_std_q = log_std_p + 0.3 * torch.randn(n_states, act_dim, generator=g, dtype=torch.float64)
    return mean_p, log_std_p, mean_q, log_std_q


def test_closed_form_kl_matches_monte_carlo_expectation_of_log_ratio():
    mean_p, log_std_p, mean_q, log_std_q = sample_pair(0)
    g = torch.Generator().manual_seed(1)
    n = 400_000
    x = mean_p + log_std_p.exp() * torch.randn((n, *mean_p.shape), generator=g, dtype=torch.float64)
    log_ratio = gaussian_log_prob(mean_p, log_std_p, x) - gaussian_log_prob(mean_q, log_std_q, x)
    monte_carlo = log_ratio.mean(dim=0)
    stderr = log_ratio.std(dim=0) / n**0.5
    exact = gaussian_kl(mean_p, log_std_p, mean_q, log_std_q)
    assert torch.all((monte_carlo - exact).abs() < 5 * stderr)
    assert torch.all(exact > 0.05)  # the test distinguishes a real KL from zero


def test_kl_of_a_distribution_with_itself_is_zero():
    mean_p, log_std_p, _, _ = sample_pair(2)
    assert torch.allclose(
        gaussian_kl(mean_p, log_std_p, mean_p, log_std_p), torch.zeros(4, dtype=torch.float64)
    )


def test_kl_is_asymmetric_when_variances_differ():
    mean = torch.zeros(1, 1, dtype=torch.float64)
    narrow, wide = (
        torch.full((1, 1), -1.0, dtype=torch.float64),
        torch.zeros(1, 1, dtype=torch.float64),
    )
    forward = gaussian_kl(mean, narrow, mean, wide).item()
    reverse = gaussian_kl(mean, wide, mean, narrow).item()
    # 1-D closed forms: KL(N(0,σp²)‖N(0,σq²)) = log σq/σp + σp²/(2σq²) − ½
    assert abs(forward - (1.0 + 0.5 * torch.e**-2 - 0.5)) < 1e-12
    assert abs(reverse - (-1.0 + 0.5 * torch.e**2 - 0.5)) < 1e-12
    assert reverse > 2 * forward


def test_the_k3_estimator_is_unbiased_and_nonnegative():
    mean_p, log_std_p, mean_q, log_std_q = sample_pair(3, n_states=1)
    g = torch.Generator().manual_seed(4)
    n = 400_000
    x = mean_p + log_std_p.exp() * torch.randn(
        (n, *mean_p.shape[1:]), generator=g, dtype=torch.float64
    )
    logp_old = gaussian_log_prob(mean_p, log_std_p, x)
    logp_new = gaussian_log_prob(mean_q, log_std_q, x)
    exact = gaussian_kl(mean_p, log_std_p, mean_q, log_std_q).item()
    estimate = kl_k3(logp_old, logp_new)
    assert abs(estimate.mean().item() - exact) < 5 * estimate.std().item() / n**0.5
    assert (estimate >= 0).all()


def test_the_mean_shift_and_scale_parts_add_up_to_torchs_closed_form_kl():
    for seed in range(5):
        mean_p, log_std_p, mean_q, log_std_q = sample_pair(10 + seed)
        shift, scale = gaussian_kl_parts(mean_p, log_std_p, mean_q, log_std_q)
        total = kl_divergence(Normal(mean_p, log_std_p.exp()), Normal(mean_q, log_std_q.exp()))
        assert torch.allclose(shift + scale, total.sum(-1))
        assert torch.all(shift > 0) and torch.all(scale > 0)


def test_each_part_is_the_whole_kl_when_the_other_does_not_change():
    mean_p, log_std_p, mean_q, log_std_q = sample_pair(20)
    same_spread = gaussian_kl_parts(mean_p, log_std_p, mean_q, log_std_p)
    assert torch.allclose(same_spread[0], gaussian_kl(mean_p, log_std_p, mean_q, log_std_p))
    assert torch.allclose(same_spread[1], torch.zeros(4, dtype=torch.float64))
    same_mean = gaussian_kl_parts(mean_p, log_std_p, mean_p, log_std_q)
    assert torch.allclose(same_mean[0], torch.zeros(4, dtype=torch.float64))
    assert torch.allclose(same_mean[1], gaussian_kl(mean_p, log_std_p, mean_p, log_std_q))
