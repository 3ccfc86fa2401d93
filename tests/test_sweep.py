"""Sweeps: the union grid covered once, re-runs skip, a killed sweep resumes to the same result."""

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

from algos.metrics import TIMING
from experiments.spec import RunSpec
from experiments.sweep import (
    command_line_axes,
    expand_jobs,
    preset_grids,
    sweep_jobs,
)
from experiments.validate import compose_run_config, without_sweeps
from records.paths import CONF_DIR
from records.record import Record, records_under
from tests.conftest import ROOT, sweep_command

SMOKE_GRID = {
    ("pg", 0.001),
    ("pg", 0.01),
    ("trpo", 0.01),
    ("trpo", 0.1),
    ("npg", 0.1),
    ("hold", 0.0),
    ("ppo", 0.1),
    ("ppo", 0.3),
}
PRESETS = sorted(p.stem for p in (ROOT / "conf" / "sweep").glob("*.yaml"))


def run_set(sweep_dir: Path) -> dict[str, pd.DataFrame]:
    """run_id -> metrics without timing columns, for every run of a sweep."""
    runs = {}
    for record in records_under(sweep_dir):
        assert record.read_status()["status"] == "done", record
        runs[record.dir.name] = record.written_metrics().drop(columns=TIMING)
    return runs


def test_expand_jobs_is_a_union_of_per_algo_grids():
    jobs = expand_jobs({"pg": {"lr": [1, 2]}, "trpo": {"delta": [3]}}, ["E"], [0, 1], ["x=1"], [])
    assert len(jobs) == 6
    assert ["x=1", "algo=trpo", "delta=3", "env=E", "seed=1"] in jobs
    crossed = expand_jobs(
        {"pg": {"lr": [1]}}, ["E"], [0], [], [["seed=5", "seed=6"], ["a=1", "a=2"]]
    )
    assert sorted(j[-1] + j[2] for j in crossed) == [
        "seed=5a=1",
        "seed=5a=2",
        "seed=6a=1",
        "seed=6a=2",
    ]


def jobs_of(*overrides: str) -> list[list[str]]:
    """The jobs the sweeper makes of a command line (`-m` and its overrides), nothing run."""
    parsed = OverridesParser.create().parse_overrides(list(overrides))
    preset = compose_run_config(without_sweeps(list(overrides))).sweep
    return sweep_jobs(preset, *command_line_axes(parsed))


def test_a_range_of_seeds_sweeps_each_seed_as_hydras_basic_sweeper_does():
    overrides = ["algo=trpo", "delta=0.03", "seed=range(1,4)"]
    jobs = jobs_of(*overrides)
    parsed = OverridesParser.create().parse_overrides(overrides)
    assert jobs == BasicSweeper.split_arguments(parsed, None)[0]
    configs = [compose_run_config(job) for job in jobs]
    assert [(c.algo.name, c.delta, c.seed) for c in configs] == [
        ("trpo", 0.03, 1), ("trpo", 0.03, 2), ("trpo", 0.03, 3)
    ]  # fmt: skip
    assert len({RunSpec.from_cfg(c).run_id for c in configs}) == 3
    smoke = jobs_of("sweep=smoke", "seed=range(1,4)", "train.value_epochs=choice(1,2)")
    assert {job[-1] for job in smoke} == {"seed=1", "seed=2", "seed=3"}  # the preset's replaced
    assert len(smoke) == 8 * 3 * 2  # the preset's 8 grid points × 3 seeds × the choice


@pytest.mark.parametrize(
    ("sweep", "message"),
    [("seed=range(4,1)", "'seed=range(4,1)' sweeps no values"),
     ("seed=interval(1,4)", "'seed=interval(1,4)' cannot be enumerated")],
)  # fmt: skip
def test_a_sweep_without_values_to_run_is_refused(sweep, message):
    # a GridError; Hydra's plugin scan re-imports the sweeper's module, so not that class
    with pytest.raises(ValueError, match=re.escape(message)):
        jobs_of("sweep=smoke", sweep)


def test_smoke_sweep_covers_its_grid_exactly_once(smoke_sweep):
    sweep_dir = smoke_sweep / "smoke"
    runs = run_set(sweep_dir)
    assert len(runs) == 16
    seen = []
    for run_id in runs:
        cfg = Record(sweep_dir / run_id).config
        seen.append((cfg["algo"]["name"], cfg["step_size"], cfg["seed"]))
        assert cfg["env"] == "InvertedPendulum-v5" and cfg["sweep"]["name"] == "smoke"
        assert len(runs[run_id]) == 4 and runs[run_id]["update"].tolist() == [1, 2, 3, 4]
    assert sorted(seen) == sorted((a, s, seed) for a, s in SMOKE_GRID for seed in (0, 1))


def test_rerunning_a_finished_sweep_skips_every_run(smoke_sweep):
    before = {r.dir: r.metrics_path.stat().st_mtime for r in records_under(smoke_sweep / "smoke")}
    result = subprocess.run(
        sweep_command(smoke_sweep, "sweep=smoke"),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0
    assert "16 runs, 16 already done, 0 to run" in result.stdout
    assert before == {
        r.dir: r.metrics_path.stat().st_mtime for r in records_under(smoke_sweep / "smoke")
    }


def group_alive(pgid: int) -> bool:
    """Whether any process of the process group is still running."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def ctrl_c_acts() -> None:
    """In the sweep's process, before exec: SIGINT back to its default disposition. A suite
    started in the background of a non-interactive shell (`make test &`, nohup) inherits
    SIGINT ignored, and Python then never raises KeyboardInterrupt, so no Ctrl-C could land."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def started_sweep(tmp_path) -> subprocess.Popen:
    """The smoke sweep in a process group of its own, once it has runs in progress."""
    sweep = subprocess.Popen(
        sweep_command(tmp_path, "sweep=smoke"),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=ctrl_c_acts,
    )
    deadline = time.time() + 120
    while (
        sum(r.has_metrics() for r in records_under(tmp_path / "smoke")) < 4
        and time.time() < deadline
    ):
        time.sleep(0.2)
    return sweep


def test_a_sweep_killed_alone_takes_its_workers_down_with_it(tmp_path):
    sweep = started_sweep(tmp_path)
    os.kill(sweep.pid, signal.SIGTERM)  # `kill <pid>` of the sweep alone, not of its group
    sweep.wait(timeout=60)
    deadline = time.time() + 30
    while group_alive(sweep.pid) and time.time() < deadline:
        time.sleep(0.2)
    assert not group_alive(sweep.pid), "a worker of the killed sweep is still running"


@pytest.mark.parametrize("kill_signal", [signal.SIGINT, signal.SIGKILL])
def test_killed_sweep_resumes_to_the_uninterrupted_result(smoke_sweep, tmp_path, kill_signal):
    command = sweep_command(tmp_path, "sweep=smoke")
    sweep = started_sweep(tmp_path)
    os.killpg(sweep.pid, kill_signal)  # the whole process group, as Ctrl-C or a scheduler would
    sweep.wait(timeout=60)
    statuses = [record.read_status()["status"] for record in records_under(tmp_path / "smoke")]
    assert 0 < statuses.count("done") < 12, statuses  # killed half way, not before or after
    resumed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"{statuses.count('done')} already done" in resumed.stdout
    expected, got = run_set(smoke_sweep / "smoke"), run_set(tmp_path / "smoke")
    assert got.keys() == expected.keys()
    for run_id, metrics in expected.items():
        pd.testing.assert_frame_equal(got[run_id], metrics, check_exact=True)
        attempts = list((tmp_path / "smoke" / run_id / "wandb").glob("offline-run-*"))
        assert len({a.name.rsplit("-", 1)[1] for a in attempts}) == 1  # one W&B run, resumed


def test_two_sweeps_at_once_on_one_out_dir_train_every_run_once_and_both_finish(
    smoke_sweep, tmp_path
):
    command = sweep_command(tmp_path, "sweep=smoke", "hydra.launcher.n_jobs=1")
    sweeps = [subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True) for _ in range(2)]  # fmt: skip
    outputs = [sweep.communicate(timeout=600) for sweep in sweeps]
    assert [sweep.returncode for sweep in sweeps] == [0, 0], [err[-2000:] for _, err in outputs]
    expected, got = run_set(smoke_sweep / "smoke"), run_set(tmp_path / "smoke")
    assert got.keys() == expected.keys()
    for run_id, metrics in expected.items():
        pd.testing.assert_frame_equal(got[run_id], metrics, check_exact=True)
        record = Record(tmp_path / "smoke" / run_id)
        assert "resumes" not in record.read_status()  # one attempt trained it, start to end
        assert len(list(record.wandb_dir.glob("offline-run-*"))) == 1
    finished = f"sweep finished: {len(expected)}/{len(expected)} done, 0 failed"
    assert all(finished in out for out, _ in outputs)


def test_a_failing_run_is_recorded_and_the_others_finish(tmp_path):
    preset_dir = tmp_path / "conf" / "sweep"
    preset_dir.mkdir(parents=True)
    (preset_dir / "with_failure.yaml").write_text(
        "# @package _global_\n"
        "sweep:\n  name: with_failure\n"
        "  grids:\n"
        "    pg: {lr: [0.001, 100.0]}\n"  # Adam at lr 100: KL infinite at update 1
        "    trpo: {delta: [0.01]}\n"
        "  envs: [InvertedPendulum-v5]\n  seeds: [0]\n"
        "total_steps: 512\ntrain: {horizon: 128, hidden: [16]}\n"
    )
    search_path = f"hydra.searchpath=[file://{tmp_path / 'conf'}]"
    command = sweep_command(tmp_path / "runs", "sweep=with_failure", search_path)
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "sweep finished: 2/3 done, 1 failed" in result.stdout
    statuses = {
        record.dir.name: record.read_status()
        for record in records_under(tmp_path / "runs" / "with_failure")
    }
    failed = [s for s in statuses.values() if s["status"] == "failed"]
    assert len(statuses) == 3 and len(failed) == 1
    assert failed[0]["reason"].startswith("DivergenceError: kl_mean became")


def test_bad_preset_or_override_fails_before_any_run(tmp_path):
    for overrides, message in (
        (["sweep=nope"], "unknown sweep 'nope'; allowed: " + ", ".join(PRESETS)),
        (["sweep=smoke", "epsilon=0.1"], "epsilon is not used by algo=pg"),
        (
            ["sweep=smoke", "algo.objective=none"],
            "unknown key 'algo.objective'; allowed: algo.name",
        ),
        (["sweep=smoke", "seed=range(4,1)"], "sweep 'smoke': 'seed=range(4,1)' sweeps no values"),
        (["sweep=smoke", "seed=range(1,x)"], "Error parsing override 'seed=range(1,x)'"),
    ):
        result = subprocess.run(
            sweep_command(tmp_path, *overrides),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 2
        assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
        assert not records_under(tmp_path, depth=2)


@pytest.mark.parametrize(
    ("launcher", "target"),
    [
        ("joblib", "JoblibLauncher"),
        ("slurm", "SlurmLauncher"),
        ("submitit_slurm", "SlurmLauncher"),
        ("submitit_local", "LocalLauncher"),
    ],
)
def test_launcher_configs_compose(launcher, target):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(
            "config",
            overrides=["sweep=full", f"hydra/launcher={launcher}"],
            return_hydra_config=True,
        )
    assert cfg.hydra.launcher._target_.endswith(target)
    assert cfg.hydra.sweeper._target_.endswith("UnionSweeper")
    if launcher == "slurm":
        assert cfg.hydra.launcher.cpus_per_task == 1 and cfg.hydra.launcher.timeout_min > 0
        # preempted or timed-out jobs are requeued and resume from their checkpoint
        assert cfg.hydra.launcher.signal_delay_s > 0 and cfg.hydra.launcher.max_num_timeout > 0


@pytest.mark.slow
def test_ray_launcher_runs_the_smoke_preset_on_a_local_ray_instance(smoke_sweep, tmp_path):
    pytest.importorskip("hydra_plugins.hydra_ray_launcher")
    result = subprocess.run(
        sweep_command(tmp_path, "sweep=smoke", "hydra/launcher=ray"),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    expected, got = run_set(smoke_sweep / "smoke"), run_set(tmp_path / "smoke")
    assert got.keys() == expected.keys()


def test_a_grid_can_name_its_algo_so_one_algo_has_several_grids():
    grids = {
        "clip": {"algo": "ppo", "epsilon": [0.1, 0.2]},
        "none": {"algo": "ppo", "algo.objective": ["none"]},
    }
    jobs = expand_jobs(grids, ["E"], [0], [], [])
    assert jobs == [
        ["algo=ppo", "epsilon=0.1", "env=E", "seed=0"],
        ["algo=ppo", "epsilon=0.2", "env=E", "seed=0"],
        ["algo=ppo", "algo.objective=none", "env=E", "seed=0"],
    ]


def test_an_axis_given_per_env_runs_each_envs_own_values_there_only():
    grids = {"trpo": {"delta": {"A": [1, 3], "B": [10]}}, "pg": {"lr": [0.1]}}
    jobs = expand_jobs(grids, ["A", "B"], [0, 1], [], [])
    trpo = [j for j in jobs if j[0] == "algo=trpo"]
    assert sorted((j[1], j[2]) for j in trpo if j[3] == "seed=0") == [
        ("delta=1", "env=A"),
        ("delta=10", "env=B"),
        ("delta=3", "env=A"),
    ]
    assert len(trpo) == 6 and len(jobs) == 6 + 4
    only_b = expand_jobs(grids, ["A", "B"], [0], [], [["env=B"]])
    assert [j[1] for j in only_b if j[0] == "algo=trpo"] == ["delta=10"]


def test_an_axis_given_per_env_must_cover_every_env_the_sweep_runs():
    # GridError is a ValueError (Hydra's plugin scan may load the module twice)
    with pytest.raises(ValueError, match="gives delta for A but not for B"):
        expand_jobs({"trpo": {"delta": {"A": [1]}}}, ["A", "B"], [0], [], [])


def test_held_out_grids_run_with_the_grids_and_need_names_of_their_own():
    preset = OmegaConf.create({"grids": {"ppo": {"epsilon": [0.2]}},
                               "held_out": {"ppo_epochs": {"algo": "ppo", "algo.epochs": [30]}}})  # fmt: skip
    assert list(preset_grids(preset)) == ["ppo", "ppo_epochs"]
    assert list(preset_grids(OmegaConf.create({"grids": {"ppo": {}}}))) == ["ppo"]
    clash = OmegaConf.create({"grids": {"ppo": {}}, "held_out": {"ppo": {}}})
    with pytest.raises(ValueError, match="both in grids and in held_out"):
        preset_grids(clash)


def test_ppo_table1_preset_expands_to_the_papers_variants():
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("config", overrides=["sweep=ppo_table1"])
    jobs = expand_jobs(dict(cfg.sweep.grids), list(cfg.sweep.envs), list(cfg.sweep.seeds), [], [])
    assert len(jobs) == 11 * 7 * 3
    variants = {tuple(j[1:-2]) for j in jobs}
    assert len(variants) == 11 and ("algo.objective=kl_fixed", "algo.kl_coef=10.0") in variants
    assert cfg.algo.max_grad_norm is None and cfg.total_steps == 1_000_000


def test_a_sweep_in_populations_trains_every_run_as_one_run_per_job_does(smoke_sweep, tmp_path):
    result = subprocess.run(sweep_command(tmp_path, "sweep=smoke", "sweep.population=auto",
                                          "hydra.launcher.n_jobs=2"),
                            cwd=ROOT, capture_output=True, text=True, timeout=600)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "16 runs in 2 populations of 8, 8" in result.stdout
    expected, got = run_set(smoke_sweep / "smoke"), run_set(tmp_path / "smoke")
    assert got.keys() == expected.keys()
    for run_id, metrics in expected.items():
        pd.testing.assert_frame_equal(got[run_id], metrics, check_exact=True)
        assert len(list((tmp_path / "smoke" / run_id / "wandb").glob("offline-run-*"))) == 1
