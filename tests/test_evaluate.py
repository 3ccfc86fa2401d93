"""Any update of a recorded run, replayed, evaluated and filmed: the replay against the
run's own checkpoints and metrics, the film against the evaluation's episode, the command
line's results and errors."""

import json
import re
import shutil
import subprocess
import sys

import gymnasium as gym
import imageio.v3 as iio
import numpy as np
import pandas as pd
import pytest
import torch
from hydra import compose, initialize_config_dir
from PIL import Image

from algos.allowed import ConfigError
from algos.rollout import episode_returns
from analysis import render
from analysis.sections.collapse_film import draw, falls, filmstrip
from experiments.evaluate import check
from experiments.run import run
from experiments.validate import compose_run_config
from records.film import film
from records.paths import CONF_DIR
from records.replay import policy_at
from records.store import load_checkpoint
from tests.conftest import ROOT

TINY = ["env=InvertedPendulum-v5", "total_steps=768", "train.horizon=128", "train.hidden=[8]",
        "checkpoints=2", "algo=ppo", "epsilon=0.2"]  # fmt: skip


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """A tiny run of 6 updates with checkpoints at updates 3 and 6, mirrored to W&B offline."""
    out = tmp_path_factory.mktemp("runs")
    assert run(compose_run_config([*TINY, f"out_dir={out}", "wandb.mode=offline"]),
               show_progress=False) == "done"  # fmt: skip
    (record,) = (out / "single").iterdir()
    return record


def test_a_replayed_update_is_the_runs_own_checkpoint_and_metrics(recorded, tmp_path):
    """Update 6 trained again from checkpoint 3 (its own checkpoint removed from a copy of
    the record): the actor and critic are the ones the run saved at 6, bit for bit, and
    every replayed update's metrics are the record's."""
    copy = tmp_path / recorded.name
    shutil.copytree(recorded, copy, ignore=shutil.ignore_patterns("wandb"))
    (copy / "checkpoints" / "update_6.pt").unlink()
    replayed = policy_at(copy, 6)
    assert replayed.replayed == 3 and replayed.differs is None
    saved = load_checkpoint(recorded / "checkpoints" / "update_6.pt")
    for net in ("actor", "critic"):
        mine = getattr(replayed.learner, net).state_dict()
        assert all(torch.equal(mine[k], v) for k, v in saved[net].items())
    at_5 = policy_at(recorded, 5)
    assert at_5.replayed == 2 and at_5.differs is None
    assert policy_at(recorded, 6, after=at_5).replayed == 0  # its checkpoint is the nearer


def test_a_replay_that_parts_from_the_record_says_where(recorded, tmp_path):
    copy = tmp_path / recorded.name
    shutil.copytree(recorded, copy, ignore=shutil.ignore_patterns("wandb"))
    metrics = pd.read_parquet(copy / "metrics.parquet")
    metrics.loc[metrics["update"] == 5, "kl_mean"] *= 1 + 1e-9
    metrics.to_parquet(copy / "metrics.parquet")
    assert policy_at(copy, 5).differs.startswith(
        "replayed update 5 differs from the record in kl_mean"
    )


def test_the_filmed_episode_is_the_evaluated_one(recorded):
    policy = policy_at(recorded, 4)
    actor, normalizer = policy.learner.actor, policy.learner.collector.obs_normalizer
    returns, lengths = episode_returns(actor, normalizer, "InvertedPendulum-v5", 2, 7, True)
    frames, filmed_return, filmed_length = film(actor, normalizer, "InvertedPendulum-v5", 7,
                                                True, lambda t: t % 5 == 0, 48, 32)  # fmt: skip
    assert filmed_return == returns[0] and filmed_length == lengths[0]
    assert len(frames) == lengths[0] // 5 + 1 and frames[0].shape == (32, 48, 3)
    assert np.ptp(np.stack(frames)) > 0  # not a blank render


def test_the_filmstrip_films_the_policies_around_the_update_that_fell_most(recorded, tmp_path):
    """Updates 4 and 5 as the run's "fall": each policy evaluated on the same 2 starts
    (computed here again, independently of the strip); the update chosen is the one after
    which their mean fell most, and its two policies are the ones filmed."""
    strip = filmstrip(str(recorded), 4, 5, 0, 2, 32, 3)
    means, lengths = {}, {}
    for update in (3, 4, 5):
        policy = policy_at(recorded, update)
        returns, episode_lengths = episode_returns(
            policy.learner.actor, policy.learner.collector.obs_normalizer,
            "InvertedPendulum-v5", 2, 0, False)  # fmt: skip
        means[update], lengths[update] = returns.mean(), episode_lengths[0]
    falls_after = {u: means[u] - means[u - 1] for u in (4, 5)}
    chosen = min(falls_after, key=falls_after.get)
    assert strip["update"] == chosen
    assert strip["evaluated_before"] == means[chosen - 1]
    assert strip["evaluated_after"] == means[chosen]
    for name, update in (("before", chosen - 1), ("after", chosen)):
        assert strip[f"length_{name}"] == lengths[update]
        assert len(strip[f"frames_{name}"]) == len(strip[f"at_{name}"]) <= 3
        assert strip[f"at_{name}"][0] == 0 and strip[f"at_{name}"][-1] == lengths[update]
    assert strip["differs"] == ""
    updates = pd.read_parquet(recorded / "metrics.parquet").assign(run_id=recorded.name)
    row = updates[updates["update"] == chosen].iloc[0]
    table = pd.DataFrame([{"variant": "ppo", "run_id": recorded.name, "update": chosen,
                           "step": row["step"], "kl_mean": row["kl_mean"]}])  # fmt: skip
    png, svg = render.save(draw(table, [strip], updates), tmp_path / "strip")
    with Image.open(png) as image:
        assert image.width > 400 and image.height > 150
    assert svg.stat().st_size > 1000


def test_a_fall_runs_from_the_peak_to_the_detection_of_the_run_that_fell_furthest():
    runs = pd.DataFrame({
        "run_id": ["a", "b", "c", "h"], "sweep": "s", "env": "Hopper-v5",
        "variant": ["ppo", "ppo", "trpo", "hold"], "status": "done",
        "collapsed": [True, True, False, True], "drop": [0.6, 0.9, 0.0, 0.7],
        "peak_step": [200, 300, np.nan, 100], "collapse_step": [500, 600, np.nan, 300],
    })  # fmt: skip
    updates = pd.concat([pd.DataFrame({"run_id": r, "update": range(1, 8),
                                       "step": np.arange(1, 8) * 100}) for r in "abch"])  # fmt: skip
    chosen = falls(runs, updates, smooth_window=2)
    # b fell furthest: peak at update 3, detected at 6; the smoothed return lags by one update
    assert chosen[["variant", "run_id", "first", "last"]].values.tolist() == [["ppo", "b", 2, 6]]


def evaluate_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "experiments/evaluate.py", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)  # fmt: skip


def test_evaluate_writes_its_result_and_video_and_logs_them_to_the_runs_wandb_run(recorded):
    before = set((recorded / "wandb").glob("offline-run-*"))
    done = evaluate_cli(f"run={recorded}", "checkpoint=4", "episodes=3", "video=true",
                        "width=64", "height=48", "video_fps=10")  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads((recorded / "evaluate" / "update_4_deterministic.json").read_text())
    assert result["update"] == 4 and result["step"] == 512 and result["replayed_updates"] == 1
    assert result["replay_differs"] is None
    assert result["evaluate_return_mean"] == pytest.approx(np.mean(result["returns"]))
    every = max(1, round(gym.make("InvertedPendulum-v5").metadata["render_fps"] / 10))
    video = iio.imread(result["video"])
    assert video.shape[1:] == (48, 64, 3) and len(video) == result["lengths"][0] // every + 1
    assert f"result: {recorded / 'evaluate'}" in done.stdout and "video: " in done.stdout
    assert len(set((recorded / "wandb").glob("offline-run-*")) - before) == 1


@pytest.mark.parametrize("args, says", [
    (["checkpoint=99"], "checkpoint=99; allowed: last, or an update 0–6"),
    (["checkpoint=first"], "checkpoint=first; allowed: last"),
    (["episodes=1"], "episodes=1 is out of range"),
])  # fmt: skip
def test_evaluate_rejects_what_it_cannot_do_in_one_line(recorded, args, says):
    with initialize_config_dir(config_dir=str(CONF_DIR / "evaluate"), version_base="1.3"):
        cfg = compose(config_name="evaluate", overrides=[f"run={recorded}", *args])
    with pytest.raises(ConfigError, match=re.escape(says)) as error:
        check(cfg)
    assert "\n" not in str(error.value)


def test_evaluate_of_a_folder_that_is_no_run_says_so_in_one_line(tmp_path):
    failed = evaluate_cli(f"run={tmp_path}")
    assert failed.returncode == 2 and "is not a run record" in failed.stderr
    assert len(failed.stderr.strip().splitlines()) == 1
