"""A run's spec: its id finds the records made before this code, and a field added later
(with its id_neutral value) leaves every id unchanged."""

import dataclasses

import pandas as pd

from algos.allowed import Real, setting
from algos.train import TrainConfig
from experiments.preset import preset_jobs
from experiments.spec import RunSpec, run_id
from experiments.validate import compose_run_config
from tests.conftest import ROOT


def test_the_committed_ablations_run_ids_are_what_its_preset_composes_today():
    # recorded by an earlier version of the code (results/impl_ablation/runs.csv)
    committed = set(pd.read_csv(ROOT / "results" / "impl_ablation" / "runs.csv")["run_id"])
    assert len(committed) == 33
    composed = {RunSpec.from_cfg(compose_run_config(job)).run_id
                for job in preset_jobs("impl_ablation")}  # fmt: skip
    assert committed <= composed


def test_a_field_added_later_changes_no_id_at_its_id_neutral_value_and_every_id_elsewhere():
    extended = dataclasses.make_dataclass(
        "Extended",
        [("target", float, setting(0.5, Real(0.0), id_neutral=0.5))],
        bases=(TrainConfig,),
    )
    before = TrainConfig(algo="trpo", algo_params={"delta": 0.03}, seed=2)
    same = extended(algo="trpo", algo_params={"delta": 0.03}, seed=2)
    other = extended(algo="trpo", algo_params={"delta": 0.03}, seed=2, target=0.7)
    assert run_id(same) == run_id(before) != run_id(other)


def test_the_spec_stores_the_config_it_was_built_from_with_the_records_own_keys(tmp_path):
    cfg = compose_run_config(["algo=trpo", "delta=0.03", f"out_dir={tmp_path}", "seed=4"])
    spec = RunSpec.from_cfg(cfg)
    stored = spec.stored_config()
    assert stored["run_id"] == spec.run_id and spec.run_id.startswith(
        "trpo-Hopper-v5-delta0.03-s4-"
    )
    assert (stored["step_size_key"], stored["step_size"]) == ("delta", 0.03)
    assert spec.record_dir == tmp_path / "single" / spec.run_id
    assert RunSpec.from_resolved(stored).run_id == spec.run_id  # read back from a record
