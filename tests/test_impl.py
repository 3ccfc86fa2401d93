"""Each code-level optimisation is a switch that changes what it claims and nothing else,
`impl=paper` sets the PPO paper's code's values, and runs recorded before the switches
existed keep their ids."""

import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

from algos.metrics import TIMING
from algos.normalization import ObsNormalizer
from algos.policy import GaussianActor, ValueNet
from algos.rollout import RolloutCollector
from algos.train import TrainConfig, annealed, make_learner, train
from analysis.report import main as report_main
from analysis.sections.implementation import versus_base
from experiments.run import run
from experiments.spec import RunSpec
from experiments.validate import compose_run_config
from records.implementation import base_preset, implementation
from tests.conftest import run_cli

TINY = dict(env_id="InvertedPendulum-v5", total_steps=512, horizon=128, hidden=(16,),
            value_epochs=1)  # fmt: skip


def collect(**switches):
    collector = RolloutCollector("Hopper-v5", 1, 256, 0, 0.99, 0.95, **switches)
    torch.manual_seed(0)
    actor = GaussianActor(collector.obs_dim, collector.act_dim, (8,), 0.0)
    batch = collector.collect(actor, ValueNet(collector.obs_dim, (8,)))
    collector.close()
    return collector, batch


def test_observation_normalisation_off_keeps_no_statistics_and_passes_observations_through():
    off, batch = collect(normalize_obs=False, normalize_reward=True)
    on, _ = collect(normalize_obs=True, normalize_reward=True)
    assert off.obs_normalizer.stats.count == pytest.approx(1e-4)  # never updated
    assert on.obs_normalizer.stats.count > 256 - 1
    assert torch.equal(batch.obs, torch.from_numpy(off.obs_normalizer(batch.obs.numpy())))


def test_observation_clip_bounds_the_normalised_observation_only_when_set():
    obs = np.array([[0.0], [1.0], [1000.0]])
    for clip, bound in ((5.0, 5.0), (10.0, 10.0), (None, np.inf)):
        normalizer = ObsNormalizer(1, True, clip)
        normalizer.update(obs[:2])
        top = normalizer(obs).max()
        assert top == bound if np.isfinite(bound) else top > 100


def test_reward_scaling_off_leaves_rewards_in_their_own_units():
    off, batch = collect(normalize_obs=True, normalize_reward=False)
    on, _ = collect(normalize_obs=True, normalize_reward=True)
    assert off.reward_scaler.std == 1.0 and on.reward_scaler.std != 1.0
    assert off.reward_scaler.stats.count == pytest.approx(1e-4)


def test_advantage_normalisation_off_gives_the_raw_gae_advantages():
    _, raw = collect(normalize_obs=True, normalize_reward=True, normalize_advantages=False)
    _, normalised = collect(normalize_obs=True, normalize_reward=True, normalize_advantages=True)
    assert torch.allclose(raw.advantages, raw.returns - raw.values, atol=1e-5)
    assert abs(normalised.advantages.mean()) < 1e-5 and normalised.advantages.std(
        unbiased=False
    ) == pytest.approx(1, abs=1e-4)
    assert raw.advantages.std() != pytest.approx(1, abs=1e-2)


def test_initialisation_is_orthogonal_or_normc():
    torch.manual_seed(0)
    orthogonal = GaussianActor(11, 3, (64, 64), 0.0, orthogonal_init=True).mean_net
    normc = GaussianActor(11, 3, (64, 64), 0.0, orthogonal_init=False).mean_net
    hidden = orthogonal[2].weight  # 64 × 64: orthogonal with gain √2
    assert torch.allclose(hidden @ hidden.T, 2.0 * torch.eye(64), atol=1e-4)
    for layer, norm in ((normc[0], 1.0), (normc[2], 1.0), (normc[4], 0.01)):  # each unit's row
        assert torch.allclose(layer.weight.norm(dim=1), torch.full((layer.out_features,), norm))
    assert not torch.allclose(normc[2].weight @ normc[2].weight.T, torch.eye(64), atol=0.1)


@pytest.mark.parametrize("algo", ["pg", "ppo", "trpo"])
def test_adam_eps_reaches_every_adam_of_the_run(algo):
    learner = make_learner(TrainConfig(**TINY, algo=algo, adam_eps=1e-8))
    learner.collector.close()
    groups = [g for o in learner.optimizers() for g in o.param_groups]
    assert groups and all(g["eps"] == 1e-8 for g in groups)


def test_lr_annealing_is_linear_to_zero_and_changes_training_from_the_second_update():
    assert [annealed(3e-4, k, 4) for k in (1, 2, 3, 4)] == pytest.approx(
        [3e-4, 2.25e-4, 1.5e-4, 7.5e-5]
    )
    runs = {}
    for anneal in (False, True):
        rows = []
        train(TrainConfig(**TINY, algo="ppo", lr_anneal=anneal), rows.append)
        runs[anneal] = pd.DataFrame(rows).drop(columns=TIMING)
    # the first update runs at the full step size; the second at 3/4 of it
    pd.testing.assert_series_equal(runs[False].iloc[0], runs[True].iloc[0])
    assert runs[False].loc[1, "kl_mean"] != runs[True].loc[1, "kl_mean"]


def test_impl_paper_sets_the_ppo_papers_code_and_modern_is_the_default():
    modern = compose_run_config([])
    paper = compose_run_config(["impl=paper"])
    assert (
        RunSpec.from_cfg(modern).config
        == RunSpec.from_cfg(compose_run_config(["impl=modern"])).config
    )
    changed = {k for k in paper.train if paper.train[k] != modern.train[k]}
    assert changed == {"obs_clip", "normalize_reward", "orthogonal_init", "lr_anneal"}
    assert (paper.train.obs_clip, paper.train.normalize_reward) == (5.0, False)
    assert not paper.train.orthogonal_init and paper.train.lr_anneal


def test_runs_recorded_before_the_switches_keep_their_ids_and_a_switch_changes_the_id():
    # the default study's starting policy for seed 1, as recorded before the switches existed
    pretrain = ["sweep=default", "seed=1", "warm_start.algo=null", "warm_start.total_steps=0"]
    assert RunSpec.from_cfg(compose_run_config(pretrain)).run_id == (
        "ppo-Hopper-v5-epsilon0.2-s1-03361398fa"
    )
    ids = {RunSpec.from_cfg(compose_run_config([s])).run_id for s in
           ("impl=modern", "impl=paper", "train.adam_eps=1e-8", "train.obs_clip=null")}  # fmt: skip
    assert len(ids) == 4


def test_a_runs_implementation_label_names_its_preset_or_what_differs_from_modern():
    paper = {
        "obs_clip": 5.0,
        "normalize_reward": False,
        "orthogonal_init": False,
        "lr_anneal": True,
    }
    assert implementation({}, {"name": "ppo", "max_grad_norm": 0.5}) == "modern"  # older records
    assert implementation(paper, {"name": "ppo", "max_grad_norm": None}) == "paper"
    assert implementation(paper, {"name": "trpo"}) == "paper"  # no gradient clip to compare
    assert implementation({}, {"name": "ppo", "max_grad_norm": None}) == "modern − max_grad_norm"
    assert (implementation({"normalize_obs": False, "adam_eps": 1e-8}, {"name": "pg"})
            == "modern − normalize_obs with adam_eps=1e-08")  # fmt: skip
    nearer_paper = paper | {"lr_anneal": False}  # one switch from paper, four from modern
    assert (
        implementation(nearer_paper, {"name": "ppo", "max_grad_norm": None}) == "paper − lr_anneal"
    )
    assert base_preset("paper − lr_anneal") == "paper"
    assert base_preset("paper") == base_preset("modern − normalize_obs") == "modern"


def wilson(k: int, n: int, z: float = stats.norm.ppf(0.975)) -> tuple[float, float]:
    p = k / n
    centre, half = p + z * z / (2 * n), z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre - half) / (1 + z * z / n), (centre + half) / (1 + z * z / n)


def finished_frame(impl: str, finals: list[float], collapsed: list[bool], kl: float, env="E"):
    return pd.DataFrame({"env": env, "variant": "ppo_none", "step_size_key": "epsilon",
                         "step_size": 0.2, "impl": impl, "final_return": finals,
                         "collapsed": collapsed, "below_start": [f < 0 for f in finals],
                         "run_kl_median": kl})  # fmt: skip


def test_each_setting_is_compared_with_its_base_by_welch_and_newcombe_intervals():
    finished = pd.concat([
        finished_frame("modern", [-10.0, 10.0, 30.0], [True, True, False], 40.0),
        finished_frame("paper", [90.0, 110.0, 130.0], [False, False, False], 0.4),
        finished_frame("paper − lr_anneal", [0.0, 50.0, 100.0], [True, False, False], 0.8),
        finished_frame("paper", [1.0, 2.0], [False, False], 1.0, env="no modern here"),
    ])  # fmt: skip
    effects = versus_base(finished).set_index("impl")
    assert list(effects.index) == ["paper", "paper − lr_anneal"]  # no base, no row
    paper = effects.loc["paper"]
    # Equal variances (400) and n = 3 on each side: Welch's df = 4, half-width t(0.975, 4)·√(800/3).
    half = stats.t.ppf(0.975, 4) * np.sqrt(800 / 3)
    assert paper["final_diff"] == pytest.approx(100.0)
    assert (paper["final_diff_ci_low"], paper["final_diff_ci_high"]) == pytest.approx(
        (100 - half, 100 + half)
    )
    # Newcombe's hybrid score interval from the two Wilson intervals, written out.
    (l1, u1), (l2, u2) = wilson(0, 3), wilson(2, 3)
    d = 0 - 2 / 3
    newcombe = (d - np.hypot(0 - l1, u2 - 2 / 3), d + np.hypot(u1 - 0, 2 / 3 - l2))
    assert paper["collapse_diff"] == pytest.approx(d)
    assert (paper["collapse_diff_ci_low"], paper["collapse_diff_ci_high"]) == pytest.approx(
        newcombe
    )
    assert paper["kl_ratio"] == pytest.approx(0.01) and paper["base_below_start"] == 1
    annealing = effects.loc["paper − lr_anneal"]
    assert annealing["base"] == "paper" and annealing["final_diff"] == pytest.approx(-60.0)
    assert annealing["final_diff_ci_low"] < 0 < annealing["final_diff_ci_high"]
    assert annealing["kl_ratio"] == pytest.approx(2.0)


def test_a_sweep_with_several_implementation_settings_shows_them_side_by_side(
    smoke_sweep, tmp_path, monkeypatch
):
    out = tmp_path / "runs"
    shutil.copytree(smoke_sweep, out)
    extra = ["sweep=smoke", "env=InvertedPendulum-v5", "algo=ppo", "epsilon=0.1", "seed=0", "impl=paper",
             "algo.max_grad_norm=null", f"out_dir={out}", "wandb.mode=disabled"]  # fmt: skip
    assert run(compose_run_config(extra), show_progress=False) == "done"
    run_cli(
        report_main, monkeypatch, f"out_dir={out}", "sweep=smoke", f"report_dir={tmp_path / 'r'}"
    )
    report = tmp_path / "r" / "smoke"
    table = pd.read_csv(report / "implementation.csv")
    assert set(table["impl"]) == {"modern", "paper"}
    paper = table[table["impl"] == "paper"]
    assert len(paper) == 1 and paper["runs"].iloc[0] == 1 and paper["step_size"].iloc[0] == 0.1
    assert table["kl_mean_q95"].notna().all() and table["ratio_max_q95"].ge(1).all()
    readme = (report / "README.md").read_text()
    assert "What prevents collapse? Per update rule and implementation setting" in readme
    effects = pd.read_csv(report / "implementation_effects.csv")
    assert list(effects["impl"]) == ["paper"] and list(effects["base"]) == ["modern"]
    assert (report / "implementation.png").exists() and "Each setting against its base" in readme
    assert "## What prevents collapse? Implementation settings" in readme
