"""TRPO's and NPG's population step: each stacked member's update is bit for bit the same
member's update as a stack of one (its `step`, a run alone), parameters and every metric."""

import copy
import math

import pytest
import torch

from algos import natural_gradient
from algos.cg import conjugate_gradient
from algos.npg import NPGConfig, NPGUpdate
from algos.policy import GaussianActor, flat_params
from algos.train import TrainConfig, make_learner
from algos.trpo import TRPOConfig, TRPOUpdate
from tests.conftest import make_batch


def hopper_member(seed: int, hidden: tuple[int, ...] = (16, 16)):
    """An actor and a real batch it collected on Hopper-v5."""
    learner = make_learner(TrainConfig(env_id="Hopper-v5", seed=seed, horizon=128, hidden=hidden))
    batch = learner.collector.collect(learner.actor, learner.critic)
    learner.collector.close()
    return learner.actor, batch


def same_metrics(got: dict, expected: dict) -> bool:
    return list(got) == list(expected) and all(
        got[k] == expected[k] or (math.isnan(got[k]) and math.isnan(expected[k])) for k in got
    )


def stepped_together_and_alone(rule, configs, members):
    """Each member's metrics and parameters from one `step_together` of them all, and from
    its own `step` as a stack of one, each on a copy of its actor."""
    together = [rule(copy.deepcopy(a), c) for (a, _), c in zip(members, configs, strict=True)]
    alone = [rule(copy.deepcopy(a), c) for (a, _), c in zip(members, configs, strict=True)]
    batches = [b for _, b in members]
    generators = [torch.Generator() for _ in members]
    got = rule.step_together(together, batches, generators)
    expected = [u.step(b, g) for u, b, g in zip(alone, batches, generators, strict=True)]
    return got, expected, together, alone


def assert_bit_for_bit(got, expected, together, alone) -> None:
    for m, (g, e, u, v) in enumerate(zip(got, expected, together, alone, strict=True)):
        assert same_metrics(g, e), (m, g, e)
        assert torch.equal(flat_params(u.actor), flat_params(v.actor)), m


@pytest.fixture(scope="module")
def hopper() -> list:
    return [hopper_member(seed) for seed in range(6)]


TRPO_MEMBERS = [
    TRPOConfig(delta=0.01),
    TRPOConfig(delta=5.0),  # its full step overshoots the KL bound: it backtracks
    TRPOConfig(delta=0.05),
    TRPOConfig(delta=5.0, backtrack_iters=3, backtrack_coef=1.0),  # the same step 4 times
    TRPOConfig(delta=0.01, cg_residual_tol=2e-3),  # CG stops on its residual
    TRPOConfig(delta=0.02, cg_iters=4, backtrack_coef=0.5),
]


def test_a_stacked_trpo_population_steps_each_member_as_alone(hopper):
    got, expected, together, alone = stepped_together_and_alone(TRPOUpdate, TRPO_MEMBERS, hopper)
    assert_bit_for_bit(got, expected, together, alone)
    # the cases the population was built to hold did happen
    assert got[0]["ls_accepted"] == 1 and got[0]["ls_steps"] == 0
    assert got[1]["ls_accepted"] == 1 and got[1]["ls_steps"] > 0
    assert got[3]["ls_accepted"] == 0 and got[3]["ls_steps"] == 3  # rejected every step
    assert torch.equal(flat_params(together[3].actor), flat_params(hopper[3][0]))
    assert got[4]["cg_residual"] < 2e-3 < got[4]["grad_norm"] ** 2  # stopped on its residual
    assert all(got[m]["cg_residual"] > 1e-10 for m in (0, 1, 2, 3))  # the others went on


def test_a_stacked_npg_population_steps_each_member_as_alone(hopper):
    configs = [NPGConfig(delta=d, cg_residual_tol=tol)
               for d, tol in ((0.01, 1e-10), (0.1, 1e-10), (1.0, 2e-3), (0.05, 1e-10))]  # fmt: skip
    got, expected, together, alone = stepped_together_and_alone(NPGUpdate, configs, hopper[:4])
    assert_bit_for_bit(got, expected, together, alone)
    assert got[2]["cg_residual"] < 2e-3 and got[1]["cg_residual"] > 1e-10


def test_members_of_different_networks_are_stacked_apart(hopper):
    members = [hopper[0], hopper_member(7, (8,)), hopper[1], hopper_member(8, (8,)), hopper[2]]
    configs = [TRPOConfig(delta=d) for d in (0.01, 0.02, 0.03, 0.01, 0.02)]
    assert_bit_for_bit(*stepped_together_and_alone(TRPOUpdate, configs, members))


def test_a_population_larger_than_a_stack_is_stepped_in_several(hopper, monkeypatch):
    monkeypatch.setattr(natural_gradient, "STACK_SAMPLES", 2 * 128)  # stacks of 2, 2 and 1
    configs = [TRPOConfig(delta=0.01 * (m + 1)) for m in range(5)]
    assert_bit_for_bit(*stepped_together_and_alone(TRPOUpdate, configs, hopper[:5]))


@pytest.mark.parametrize(
    "obs_dim, act_dim, hidden", [(1, 1, (8, 8)), (3, 1, (4,)), (3, 2, (1, 4)), (1, 2, (6,))]
)
@pytest.mark.parametrize("rule, config", [(TRPOUpdate, TRPOConfig), (NPGUpdate, NPGConfig)])
def test_layers_one_unit_wide_are_stacked_bit_for_bit(rule, config, obs_dim, act_dim, hidden):
    members = []
    for seed in range(3):
        torch.manual_seed(seed)
        actor = GaussianActor(obs_dim, act_dim, hidden, init_log_std=-0.5)
        members.append((actor, make_batch(actor, n=96, seed=10 + seed)))
    configs = [config(delta=d) for d in (0.01, 0.03, 0.1)]
    assert_bit_for_bit(*stepped_together_and_alone(rule, configs, members))


def test_stacked_conjugate_gradient_solves_each_row_as_a_row_of_one():
    g = torch.Generator().manual_seed(0)
    matrices = []
    for _ in range(4):
        m = torch.randn(12, 12, generator=g)
        matrices.append(m @ m.T + 0.5 * torch.eye(12))
    b = torch.randn(4, 12, generator=g)

    def products(rows: list[torch.Tensor]):
        return lambda p: torch.stack([a @ row for a, row in zip(rows, p, strict=True)])

    def alone(m: int, iters: int, tol: float) -> tuple[torch.Tensor, float]:
        x, (residual,) = conjugate_gradient(products([matrices[m]]), b[m : m + 1], [iters], [tol])
        return x[0], residual

    after_3 = alone(2, 3, 0.0)[1]
    iters, tols = [10, 3, 10, 10], [1e-10, 1e-10, 1.5 * after_3, 1e-10]
    x, residuals = conjugate_gradient(products(matrices), b, iters, tols)
    for m, (n, tol) in enumerate(zip(iters, tols, strict=True)):
        x_alone, residual_alone = alone(m, n, tol)
        assert torch.equal(x[m], x_alone) and residuals[m] == residual_alone
    # row 2 stopped on its tolerance before its 10 iterations, while row 0 went on
    assert residuals[2] < tols[2]
    assert not torch.equal(x[2], alone(2, 10, 0.0)[0])
    assert residuals[0] < residuals[2]
