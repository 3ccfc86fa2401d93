"""The behavioural KL against its closed form: the policy that collected a batch against the
one that collects the next, observation normaliser included."""

import math

import numpy as np
import torch

from algos.policy import GaussianActor, ValueNet
from algos.rollout import RolloutCollector, Steps, batches_together
from algos.train import TrainConfig, train

ENV = "InvertedPendulum-v5"


def known_rollout(collector: RolloutCollector, seed: int) -> Steps:
    """A rollout whose raw observations the test chooses: far from the normaliser's start."""
    rng = np.random.default_rng(seed)
    T, n, d = collector.horizon, collector.num_envs, collector.obs_dim
    raw = rng.normal(3.0, 2.0, (T, n, d))
    return Steps(raw, raw.copy(), rng.normal(size=(T, n, collector.act_dim)), rng.normal(size=(T, n)),
                 np.zeros((T, n), bool), np.zeros((T, n), bool), [], [])  # fmt: skip


def numpy_mean(actor: GaussianActor, x: np.ndarray) -> np.ndarray:
    """The actor's mean by hand: tanh hidden layers, a linear output, in float64."""
    layers = [m for m in actor.mean_net if isinstance(m, torch.nn.Linear)]
    h = x
    for i, layer in enumerate(layers):
        h = h @ layer.weight.detach().double().numpy().T + layer.bias.detach().double().numpy()
        if i < len(layers) - 1:
            h = np.tanh(h)
    return h


def test_kl_normaliser_is_the_closed_form_gaussian_kl_of_the_normalisers_move():
    collector = RolloutCollector(ENV, 1, 256, 0, 0.99, 0.95, True, False)
    torch.manual_seed(0)
    actor = GaussianActor(collector.obs_dim, collector.act_dim, (16,), -0.5)
    with torch.no_grad():
        actor.mean_net[-1].weight.mul_(100.0)  # a mean that depends on the state
    critic = ValueNet(collector.obs_dim, (16,))
    steps = known_rollout(collector, 1)
    batch = batches_together([collector], [actor], [critic], [steps])[0]
    raw = steps.raw_obs.reshape(-1, collector.obs_dim)
    # the statistics by hand: the prior (mean 0, var 1, count 1e-4) merged with the batch
    count = 1e-4 + len(raw)
    mean = raw.sum(axis=0) / count
    var = (1e-4 * (1 + mean**2) + ((raw - mean) ** 2).sum(axis=0)) / count
    old = np.clip(raw / np.sqrt(1 + 1e-8), -10, 10)  # the prior: mean 0, var 1
    new = np.clip((raw - mean) / np.sqrt(var + 1e-8), -10, 10)
    sigma2 = math.exp(2 * -0.5)
    delta = numpy_mean(actor, old) - numpy_mean(actor, new)
    expected = float((delta**2 / (2 * sigma2)).sum(axis=1).mean())
    assert expected > 1e-3  # the normaliser's move matters here
    assert math.isclose(batch.kl_normaliser, expected, rel_tol=1e-4)


def run(algo: str, normalize_obs: bool, **params) -> list[dict]:
    rows: list[dict] = []
    config = TrainConfig(env_id=ENV, seed=0, total_steps=3 * 64, horizon=64, hidden=(8,), algo=algo,
                         algo_params=params, normalize_obs=normalize_obs, value_epochs=1)  # fmt: skip
    train(config, rows.append)
    return rows


def test_a_policy_that_never_moves_receives_only_its_normalisers_dose():
    rows = run("hold", normalize_obs=True)
    for row in rows:
        assert row["kl_mean"] == 0.0
        assert row["kl_behaviour"] == row["kl_normaliser"] > 0.0


def test_nothing_moves_nothing_is_received():
    for row in run("hold", normalize_obs=False):
        assert row["kl_behaviour"] == row["kl_normaliser"] == 0.0


def test_with_the_normaliser_frozen_the_behavioural_kl_is_kl_mean():
    for row in run("trpo", normalize_obs=False, delta=0.01):
        assert row["kl_mean"] > 0.0
        assert row["kl_behaviour"] == row["kl_mean"]
        assert row["kl_normaliser"] == 0.0
