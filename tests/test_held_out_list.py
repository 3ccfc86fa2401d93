"""A preset's held-out runs: the list its sweep writes beside its records is the preset's
held-out grids as the sweep expands them, and a report of a sweep whose preset holds runs
out but that has no list stops rather than fitting them as step-size runs."""

import subprocess
import sys

import pytest

from experiments.preset import preset_jobs
from experiments.spec import RunSpec
from experiments.validate import compose_run_config
from records.held_out import read_held_out
from records.record import records_under
from tests.conftest import ROOT, sweep_command


def test_the_list_holds_exactly_the_held_out_grids_runs_each_named_by_its_grid_and_value(
    tmp_path,
):
    written = subprocess.run(
        [sys.executable, "-m", "experiments.preset", "tasks", f"out_dir={tmp_path}"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert written.returncode == 0, written.stderr[-2000:]
    settings = read_held_out(tmp_path, "tasks")
    expected = {}
    for job in preset_jobs("tasks", "held_out"):
        spec = RunSpec.from_cfg(compose_run_config([*job, f"out_dir={tmp_path}"]))
        params = spec.config.algo_params
        expected[spec.run_id] = (
            f"ppo_lr lr={params['lr']:g}"
            if params["objective"] == "clip"
            else f"ppo_none_epochs epochs={params['epochs']}"
        )
    assert settings == expected and len(settings) == 60
    steps = {
        RunSpec.from_cfg(compose_run_config(job)).run_id for job in preset_jobs("tasks", "grids")
    }
    assert steps.isdisjoint(settings)


def test_a_preset_that_holds_runs_out_without_its_list_stops_the_report(tmp_path):
    with pytest.raises(ValueError, match="python -m experiments.preset tasks"):
        read_held_out(tmp_path, "tasks")
    assert read_held_out(tmp_path, "default") == {}  # a preset that holds none out
    assert read_held_out(tmp_path, "not_a_preset") == {}


def test_a_sweep_writes_the_list_of_its_held_out_runs_as_it_expands_them(tmp_path):
    """Only held-out grids, crossed with the command line's overrides: the list names every
    run the sweep trained, by the run ids the sweep gave them."""
    result = subprocess.run(
        sweep_command(tmp_path, "sweep=smoke", "sweep.grids=null",
                      "+sweep.held_out={hold_out: {algo: hold}}", "total_steps=256",
                      "train.horizon=128", "wandb.mode=disabled"),
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    trained = {record.dir.name for record in records_under(tmp_path / "smoke")}
    assert len(trained) == 2  # hold, on the preset's one env and two seeds
    assert read_held_out(tmp_path, "smoke") == dict.fromkeys(trained, "hold_out")
