"""The exact-KL monitor against independent maths: torch.distributions' closed-form KL and
log-densities, and a policy copied before the update; its records read by records.load
like the suite's own; its SB3 callback against what SB3's policy and logger hold."""

import copy
import re

import numpy as np
import pytest
import torch
from stable_baselines3.common.callbacks import BaseCallback
from torch.distributions import Normal, kl_divergence

from monitor import ForeignRun, Gaussian, behaviour, measured_update, update_size
from monitor.record import RunDone
from records.load import load_records
from tests.conftest import ROOT


def normal(g: Gaussian) -> Normal:
    return Normal(g.mean, g.log_std.exp())


def random_pair(seed: int, states: int = 50, dims: int = 3, move: float = 0.3):
    g = torch.Generator().manual_seed(seed)
    mean = torch.randn(states, dims, generator=g, dtype=torch.float64)
    log_std = 0.3 * torch.randn(dims, generator=g, dtype=torch.float64)
    old = Gaussian.of(mean, log_std)
    new = Gaussian.of(mean + move * torch.randn(states, dims, generator=g, dtype=torch.float64),
                      log_std + move * torch.randn(dims, generator=g, dtype=torch.float64))  # fmt: skip
    noise = torch.randn(states, dims, generator=g, dtype=torch.float64)
    return old, new, old.mean + old.log_std.exp() * noise


def test_update_size_is_torch_distributions_closed_form():
    old, new, actions = random_pair(0)
    per_state = kl_divergence(normal(old), normal(new)).sum(-1)
    reverse = kl_divergence(normal(new), normal(old)).sum(-1)
    logp_old = normal(old).log_prob(actions).sum(-1)
    logp_new = normal(new).log_prob(actions).sum(-1)
    ratio = (logp_new - logp_old).exp()
    got = update_size(old, new, actions)
    assert got["kl_mean"] == pytest.approx(per_state.mean().item(), rel=1e-12)
    assert got["kl_max"] == pytest.approx(per_state.max().item(), rel=1e-12)
    assert got["kl_reverse_mean"] == pytest.approx(reverse.mean().item(), rel=1e-12)
    assert got["kl_shift"] + got["kl_scale"] == pytest.approx(got["kl_mean"], rel=1e-12)
    assert got["entropy"] == pytest.approx(normal(new).entropy().sum(-1).mean().item(), rel=1e-12)
    assert got["ratio_min"] == pytest.approx(ratio.min().item(), rel=1e-12)
    assert got["kl_k3"] == pytest.approx(((ratio - 1) - ratio.log()).mean().item(), rel=1e-12)


def test_a_tiny_update_keeps_its_size_in_float64():
    """A mean moved by 1e-6 of σ costs Δμ²/(2σ²) = 5e-13 nats per dimension: float64 keeps it,
    a float32 policy's outputs are measured in float64 too."""
    mean = torch.zeros(4, 2, dtype=torch.float32)
    old = Gaussian.of(mean, torch.zeros(2))
    new = Gaussian.of(mean.double() + 1e-6, torch.zeros(2))
    assert update_size(old, new)["kl_mean"] == pytest.approx(2 * 0.5e-12, rel=1e-6)


def test_without_a_normaliser_the_behavioural_dose_is_the_update():
    old, new, _ = random_pair(1)
    got = behaviour(old, old, new)
    assert got["kl_behaviour"] == update_size(old, new)["kl_mean"]
    assert got["kl_normaliser"] == 0.0


def tiny_policy():
    torch.manual_seed(0)
    net = torch.nn.Linear(3, 2)
    log_std = torch.nn.Parameter(torch.full((2,), -0.5))
    return net, log_std, lambda obs: (net(obs), log_std.expand(len(obs), -1))


def test_a_loops_update_is_measured_against_the_policy_before_it(tmp_path):
    net, log_std, policy = tiny_policy()
    optimiser = torch.optim.SGD([*net.parameters(), log_std], lr=0.5)
    obs, actions = torch.randn(64, 3), torch.randn(64, 2)
    run = ForeignRun(tmp_path, "mine", "Toy-v0", 3, "my_pg", {"lr": 0.5, "epochs": 1}, "lr")
    before = copy.deepcopy(net), log_std.detach().clone()
    with run:
        with measured_update(
            run, policy, obs, actions, step=64, episodes=[(10.0, 5), (20.0, 7)]
        ) as logged:
            loss = -(
                Normal(*[policy(obs)[0], policy(obs)[1].exp()]).log_prob(actions).sum(-1)
            ).mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            logged["policy_loss"] = loss.item()
    with torch.no_grad():
        p = Normal(before[0](obs).double(), before[1].exp().double().expand(64, -1))
        q = Normal(net(obs).double(), log_std.exp().double().expand(64, -1))
    expected = kl_divergence(p, q).sum(-1)
    records = load_records(tmp_path, "mine")
    row = records.runs.iloc[0]
    assert (row["status"], row["variant"], row["impl"], row["step_size_key"], row["step_size"]) == (
        "done", "my_pg", "own code", "lr", 0.5)  # fmt: skip
    update = records.updates.iloc[0]
    assert update["kl_mean"] == pytest.approx(expected.mean().item(), rel=1e-6)  # float32 outputs
    assert update["kl_max"] == pytest.approx(expected.max().item(), rel=1e-6)
    assert update["kl_behaviour"] == update["kl_mean"]
    assert (update["return_mean"], update["episodes"], update["step"]) == (15.0, 2, 64)
    assert update["policy_loss"] == pytest.approx(loss.item())
    assert np.isnan(update["grad_norm"])


def test_a_name_the_record_does_not_declare_is_refused_and_a_crash_is_recorded(tmp_path):
    _, _, policy = tiny_policy()
    obs = torch.randn(8, 3)
    run = ForeignRun(tmp_path, "mine", "Toy-v0", 1, "my_pg", {"lr": 0.1}, "lr")
    with pytest.raises(ValueError, match="not a metric name: approx_kl"):
        with run:
            with measured_update(run, policy, obs, step=8) as logged:
                logged["approx_kl"] = 0.0
    status = run.record.read_status()
    assert status["status"] == "failed"
    assert status["reason"].startswith("ValueError: not a metric name")
    with pytest.raises(ValueError, match="step_size_key 'delta' is not one of the hyperparameters"):
        ForeignRun(tmp_path, "mine", "Toy-v0", 1, "my_pg", {"lr": 0.1}, "delta")


def test_the_run_id_names_the_setting_and_hashes_the_config(tmp_path):
    a = ForeignRun(tmp_path, "s", "pkg.mod:Env-v0", 1, "x", {"lr": 0.1, "n": 2}, "lr")
    b = ForeignRun(tmp_path, "s", "pkg.mod:Env-v0", 1, "x", {"lr": 0.1, "n": 3}, "lr")
    assert a.run_id.startswith("x-Env-v0-lr0.1-s1-")  # the env as experiments.spec names it
    assert a.run_id != b.run_id
    assert (
        a.run_id
        == ForeignRun(tmp_path, "s", "pkg.mod:Env-v0", 1, "x", {"n": 2, "lr": 0.1}, "lr").run_id
    )


def guide_examples() -> list[str]:
    text = (ROOT / "docs" / "guide" / "your-runs.md").read_text()
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


@pytest.mark.parametrize("index", [0, 1], ids=["sb3", "loop"])
def test_the_guides_examples_run_and_write_records_the_report_reads(tmp_path, monkeypatch, index):
    """Each example of docs/guide/your-runs.md as it stands, its budget cut to two updates."""
    code = guide_examples()[index]
    tiny = re.sub(r"^STEPS = 100_000$", "STEPS = 2048", code, flags=re.M)
    tiny = re.sub(r"^STEPS, BATCH, LR = 20_480, 1024, 3e-4$", "STEPS, BATCH, LR = 512, 256, 3e-4",
                  tiny, flags=re.M)  # fmt: skip
    assert tiny != code, "the guide's budget line moved: update this test's substitution"
    monkeypatch.chdir(tmp_path)
    exec(compile(tiny, f"your-runs.md example {index}", "exec"), {"__name__": "guide"})
    records = load_records(tmp_path / "runs", "mine")
    assert list(records.runs["status"]) == ["done"]
    assert len(records.updates) == 2 and records.updates["kl_mean"].gt(0).all()


class Witness(BaseCallback):
    """Copies the policy when a rollout ends and takes SB3's own logged KL after `train()`:
    the independent record of each update the monitor's must agree with."""

    def __init__(self):
        super().__init__()
        self.updates, self.before = [], None

    def _on_rollout_start(self):
        if self.before is not None:
            logged = self.model.logger.name_to_value
            self.updates.append((*self.before, copy.deepcopy(self.model.policy),
                                 logged.get("train/approx_kl", logged.get("train/kl_divergence_loss"))))  # fmt: skip

    def _on_rollout_end(self):
        buffer = self.model.rollout_buffer
        self.before = (buffer.observations.reshape(-1, buffer.obs_shape[0]).copy(),
                       copy.deepcopy(self.model.policy))  # fmt: skip

    def _on_step(self):
        return True


def sb3_distribution(policy, obs):
    with torch.no_grad():
        dist = policy.get_distribution(policy.obs_to_tensor(obs)[0]).distribution
    return Normal(dist.loc.double(), dist.scale.double())


@pytest.mark.parametrize("normalize", [False, True])
def test_the_sb3_callback_measures_each_update_as_the_policies_before_and_after_give(
    tmp_path, normalize
):
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import CallbackList
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize

    from monitor.sb3 import LIBRARY, ExactKLCallback, hyperparameters

    env = make_vec_env("Pendulum-v1", n_envs=1, seed=0)
    env = VecNormalize(env) if normalize else env
    model = PPO("MlpPolicy", env, n_steps=64, batch_size=32, n_epochs=2, seed=0, device="cpu",
                policy_kwargs={"net_arch": [8]})  # fmt: skip
    run = ForeignRun(tmp_path, "sb3", "Pendulum-v1", 0, "sb3_ppo", hyperparameters(model),
                     "learning_rate", library=LIBRARY)  # fmt: skip
    witness = Witness()
    model.learn(64 * 3, callback=CallbackList([ExactKLCallback(run), witness]))
    witness._on_rollout_start()  # the last update, after the last train()
    records = load_records(tmp_path, "sb3")
    assert records.runs.iloc[0]["status"] == "done"
    assert records.runs.iloc[0]["impl"].startswith("stable-baselines3")
    measured = records.updates
    assert len(measured) == 3 == len(witness.updates)
    for (_, row), (obs, before, after, approx_kl) in zip(
        measured.iterrows(), witness.updates, strict=True
    ):
        kl = kl_divergence(sb3_distribution(before, obs), sb3_distribution(after, obs)).sum(-1)
        assert row["kl_mean"] == pytest.approx(kl.mean().item(), rel=1e-6)
        assert row["kl_reported"] == pytest.approx(float(approx_kl))
        assert row["epochs_run"] == 2
        if not normalize:
            assert row["kl_behaviour"] == row["kl_mean"] and row["kl_normaliser"] == 0.0
        else:
            assert row["kl_normaliser"] > 0.0


def test_a_zero_dose_sb3_run_moves_only_through_its_normaliser(tmp_path):
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize

    from monitor.sb3 import ExactKLCallback, hyperparameters

    env = VecNormalize(make_vec_env("Pendulum-v1", n_envs=1, seed=0))
    model = PPO("MlpPolicy", env, n_steps=64, batch_size=32, n_epochs=2, learning_rate=0.0,
                seed=0, device="cpu", policy_kwargs={"net_arch": [8]})  # fmt: skip
    run = ForeignRun(tmp_path, "sb3", "Pendulum-v1", 0, "hold", hyperparameters(model),
                     "learning_rate")  # fmt: skip
    model.learn(64 * 3, callback=ExactKLCallback(run))
    updates = load_records(tmp_path, "sb3").updates
    assert (updates["kl_mean"] == 0.0).all() and (updates["step_norm"] == 0.0).all()
    assert (updates["kl_behaviour"] > 0.0).all()
    assert np.allclose(updates["kl_behaviour"], updates["kl_normaliser"], rtol=1e-12, atol=0)


def test_a_foreign_record_also_writes_its_metrics_for_tensorboard(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    _, _, policy = tiny_policy()
    obs = torch.randn(8, 3)
    run = ForeignRun(tmp_path, "mine", "Toy-v0", 1, "my_pg", {"lr": 0.1}, "lr")
    with run:
        for step in (8, 16):
            with measured_update(run, policy, obs, step=step, episodes=[(1.0, 2)]):
                pass
    events = EventAccumulator(str(run.dir / "tensorboard"))
    events.Reload()
    assert [e.step for e in events.Scalars("kl_mean")] == [8, 16]
    assert [e.value for e in events.Scalars("return_mean")] == [1.0, 1.0]


def test_reward_only_normalisation_has_no_observation_dose(tmp_path):
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize

    from monitor.sb3 import ExactKLCallback, hyperparameters

    env = VecNormalize(make_vec_env("Pendulum-v1", n_envs=1, seed=0), norm_obs=False)
    model = PPO("MlpPolicy", env, n_steps=64, batch_size=32, n_epochs=2, seed=0, device="cpu",
                policy_kwargs={"net_arch": [8]})  # fmt: skip
    run = ForeignRun(tmp_path, "sb3", "Pendulum-v1", 0, "sb3_ppo", hyperparameters(model),
                     "learning_rate")  # fmt: skip
    model.learn(64 * 2, callback=ExactKLCallback(run))
    updates = load_records(tmp_path, "sb3").updates
    assert (updates["kl_behaviour"] == updates["kl_mean"]).all()
    assert (updates["kl_normaliser"] == 0.0).all()


def test_a_done_run_is_not_written_again(tmp_path):
    _, _, policy = tiny_policy()
    obs = torch.randn(8, 3)
    run = ForeignRun(tmp_path, "mine", "Toy-v0", 1, "my_pg", {"lr": 0.1}, "lr")
    with run:
        with measured_update(run, policy, obs, step=8):
            pass
    before = run.record.metrics_path.read_bytes(), run.record.status_path.read_bytes()
    again = ForeignRun(tmp_path, "mine", "Toy-v0", 1, "my_pg", {"lr": 0.1}, "lr")
    with pytest.raises(RunDone, match="is done: its record in .* is kept"):
        with again:
            pass
    assert (run.record.metrics_path.read_bytes(), run.record.status_path.read_bytes()) == before


@pytest.mark.parametrize("library", ["a2c", "trpo"])
def test_the_callback_measures_a2c_and_sb3_contribs_trpo_too(tmp_path, library):
    from sb3_contrib import TRPO
    from stable_baselines3 import A2C
    from stable_baselines3.common.callbacks import CallbackList
    from stable_baselines3.common.env_util import make_vec_env

    from monitor.sb3 import ExactKLCallback, hyperparameters

    cls, kwargs = {
        "a2c": (A2C, {"n_steps": 32}),
        "trpo": (TRPO, {"n_steps": 64, "batch_size": 32}),
    }[library]
    model = cls("MlpPolicy", make_vec_env("Pendulum-v1", n_envs=2, seed=0), seed=0, device="cpu",
                policy_kwargs={"net_arch": [8]}, **kwargs)  # fmt: skip
    run = ForeignRun(tmp_path, "sb3", "Pendulum-v1", 0, library, hyperparameters(model),
                     "learning_rate")  # fmt: skip
    witness = Witness()
    model.learn(kwargs["n_steps"] * 2 * 2, callback=CallbackList([ExactKLCallback(run), witness]))
    witness._on_rollout_start()
    measured = load_records(tmp_path, "sb3").updates
    assert len(measured) == 2 == len(witness.updates)
    for (_, row), (obs, before, after, logged) in zip(
        measured.iterrows(), witness.updates, strict=True
    ):
        kl = kl_divergence(sb3_distribution(before, obs), sb3_distribution(after, obs)).sum(-1)
        assert row["kl_mean"] == pytest.approx(kl.mean().item(), rel=1e-6)
        if library == "trpo":  # its accepted step's KL on the batch, as the library logged it
            assert row["kl_reported"] == pytest.approx(float(logged))
            assert row["ls_accepted"] in (0.0, 1.0)
        else:
            assert np.isnan(row["kl_reported"]) and np.isnan(row["epochs_run"])
