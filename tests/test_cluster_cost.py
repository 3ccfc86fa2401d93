"""The cost model's kinds of run: the step size does not change a run's cost per step,
other settings do, and a record read back prices like the job that made it."""

from benchmarks.cluster_cost import measured_seconds, run_kind
from experiments.spec import RunSpec
from experiments.validate import compose_run_config


def config(*overrides: str):
    return RunSpec.from_cfg(compose_run_config(["sweep=tasks", "env=Hopper-v5", *overrides])).config


def test_a_kind_of_run_ignores_the_step_size_and_the_seed_but_not_other_settings():
    assert run_kind(config("algo=trpo", "delta=0.01")) == run_kind(
        config("algo=trpo", "delta=3", "seed=4")
    )
    assert run_kind(config("algo=trpo", "delta=0.3")) != run_kind(config("algo=npg", "delta=0.3"))
    assert run_kind(config("algo=ppo")) != run_kind(config("algo=ppo", "algo.epochs=30"))


def test_a_record_read_back_is_the_same_kind_as_its_job(tmp_path):
    spec = RunSpec.from_cfg(
        compose_run_config(["algo=ppo", "algo.lr=0.003", f"out_dir={tmp_path}"])
    )
    assert run_kind(RunSpec.from_resolved(spec.stored_config()).config) == run_kind(spec.config)


def test_a_measured_rate_prices_the_whole_run_and_its_evaluations():
    plain = config("algo=pg", "lr=0.01")
    assert measured_seconds(plain, 1e-3) == plain.total_steps * 1e-3
    evaluated = config("algo=pg", "lr=0.01", "train.eval_every=50", "train.eval_episodes=2")
    assert measured_seconds(evaluated, 1e-3) == (evaluated.total_steps + 2 * 2 * 1000) * 1e-3
