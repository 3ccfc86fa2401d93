"""The command line on tiny runs: the record it leaves, the errors it gives, determinism."""

import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from algos.metrics import METRICS, TIMING
from algos.train import TrainConfig, train
from experiments.run import run
from experiments.validate import ConfigError, compose_run_config, validate
from records.record import Record, records_under
from tests.conftest import poisoned_step

ROOT = Path(__file__).resolve().parent.parent
TINY = ["env=InvertedPendulum-v5", "total_steps=512", "train.horizon=128", "train.hidden=[16,16]"]


def cli(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "experiments/run.py", *args, f"out_dir={tmp_path}"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_tiny_run_leaves_a_complete_record_and_an_offline_wandb_run(tmp_path):
    result = cli(["algo=ppo", "epsilon=0.1", *TINY], tmp_path)
    assert result.returncode == 0, result.stderr
    (record,) = records_under(tmp_path / "single")
    assert f"record: {record.dir}" in result.stdout
    status = record.read_status()
    assert status["status"] == "done" and status["updates"] == 4 and status["steps"] == 512
    assert status["versions"]["torch"].startswith("2.13.0")
    metrics = record.written_metrics()
    assert list(metrics.columns) == list(METRICS)
    assert metrics["step"].tolist() == [128, 256, 384, 512]
    assert metrics["kl_mean"].gt(0).all() and metrics["clip_frac"].notna().all()
    assert record.exists() and not list(record.dir.glob(f"{Record.LOCK_FILE}*"))
    assert list(record.wandb_dir.glob("offline-run-*/run-*.wandb"))
    again = cli(["algo=ppo", "epsilon=0.1", *TINY], tmp_path)
    assert again.returncode == 0 and "already done" in again.stdout


BAD_INPUTS = [
    (["algo=foo"], "unknown algo 'foo'; allowed: hold, npg, pg, ppo, trpo"),
    (["bogus=1"], "unknown key 'bogus'; allowed: algo, env"),
    (["algo.bogus=1"], "unknown key 'algo.bogus'"),
    (
        ["algo=pg", "algo.cg_iters=3"],
        "unknown key 'algo.cg_iters'; allowed: algo.name, algo.lr, algo.optimizer, algo.steps_per_update",
    ),
    (["+algo.bogus=1"], "unknown key 'algo.bogus'; allowed: algo.name, algo.epsilon"),
    (
        ["warm_start.algo=trpo", "+warm_start.params.epsilon=0.2"],
        "unknown key 'warm_start.params.epsilon'; allowed: warm_start.params.delta",
    ),
    (["env=Hoper-v5"], "unknown env 'Hoper-v5'; close matches: Hopper-v5"),
    (["env=CartPole-v1"], "continuous (Box)"),
    (["algo=trpo", "delta=-0.01"], "delta=-0.01 is out of range; allowed: 0.0 < delta"),
    (["algo=trpo", "delta=0"], "delta=0 is out of range"),
    (["algo=ppo", "epsilon=50"], "epsilon=50 is out of range"),
    (["algo=pg", "lr=300"], "lr=300 is out of range"),
    (["algo=ppo", "delta=0.01"], "delta is not used by algo=ppo; ppo accepts epsilon"),
    (["algo=trpo", "epsilon=0.2"], "epsilon is not used by algo=trpo; trpo accepts delta"),
    (["algo=pg", "epsilon=0.2"], "epsilon is not used by algo=pg; pg accepts lr"),
    (["total_steps=100"], "total_steps=100 is less than one batch"),
    (["seed=abc"], "seed=abc must be an integer with seed >= 0"),
    (["wandb.mode=cloud"], "unknown wandb.mode 'cloud'; allowed: offline, online, disabled"),
]


@pytest.mark.parametrize(("args", "message"), BAD_INPUTS)
def test_bad_input_is_one_clear_error(args, message):
    with pytest.raises(ConfigError) as error:
        validate(compose_run_config(args))
    assert message in str(error.value)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("args", [["algo=trpo", "epsilon=0.2"], ["algo=nope"]])
def test_bad_input_on_the_command_line_exits_nonzero_with_one_line_and_no_record(args, tmp_path):
    out = tmp_path / "runs"
    result = cli([*args, *TINY], out)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and result.stderr.startswith("error: ")
    assert "Traceback" not in result.stderr + result.stdout
    assert not out.exists()


def test_cfg_job_prints_the_run_config_and_runs_nothing(tmp_path):
    result = cli(["--cfg", "job", "algo=trpo", "delta=0.01"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "algo:\n  name: trpo\n  delta: 0.01\n" in result.stdout
    assert not (tmp_path / "single").exists()


def test_same_seed_gives_identical_metrics():
    torch.set_num_threads(1)
    config = TrainConfig(
        env_id="InvertedPendulum-v5", total_steps=512, horizon=128, hidden=(16,), algo="trpo"
    )
    runs = []
    for _ in range(2):
        rows: list[dict] = []
        train(config, rows.append)
        runs.append([{k: v for k, v in r.items() if k not in TIMING} for r in rows])
    assert len(runs[0]) == 4
    for a, b in zip(*runs, strict=True):
        assert a.keys() == b.keys()
        assert all(a[k] == b[k] or (math.isnan(a[k]) and math.isnan(b[k])) for k in a)


def test_diverging_run_is_recorded_failed_with_reason(tmp_path, monkeypatch):
    from algos import pg

    monkeypatch.setattr(pg.PGUpdate, "step", poisoned_step)
    cfg = compose_run_config(["algo=pg", *TINY, f"out_dir={tmp_path}", "wandb.mode=disabled"])
    assert run(cfg, show_progress=False) == "failed"
    (record,) = records_under(tmp_path / "single")
    status = record.read_status()
    assert status["status"] == "failed"
    assert "kl_mean became nan at update 1" in status["reason"]
    assert not list(record.dir.glob(f"{Record.LOCK_FILE}*"))
