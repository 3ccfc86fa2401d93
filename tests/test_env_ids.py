"""A user's own env: gymnasium's `module:Env-vN` ids and gym.make's keyword arguments
(env_kwargs) reach every env a run makes, are recorded in its config and its run id, and
leave every earlier run id as it was."""

import subprocess
import sys

import pytest
from hydra import compose, initialize_config_dir

from experiments.evaluate import evaluate
from experiments.spec import RunSpec
from experiments.validate import ConfigError, compose_run_config, validate
from records.paths import CONF_DIR
from records.record import Record
from records.replay import policy_at
from tests.conftest import ROOT
from tests.tiny_env import EPISODE_STEPS

# Computed by the code before env_kwargs existed: the ids of records made then.
KNOWN_IDS = [
    ([], "ppo-Hopper-v5-epsilon0.2-s0-e2a404a261"),
    (["algo=trpo", "delta=0.03", "seed=4"], "trpo-Hopper-v5-delta0.03-s4-4a01c69dc7"),
    (["algo=pg", "env=InvertedPendulum-v5", "total_steps=4096", "train.horizon=256"],
     "pg-InvertedPendulum-v5-lr0.003-s0-26392e5986"),
]  # fmt: skip
TINY_ENV = "tests.tiny_env:TinyEnv-v0"
TARGET = 100.0  # far from where TinyEnv starts: each step's reward is about -TARGET


def spec(overrides: list[str], tmp_path) -> RunSpec:
    return RunSpec.from_cfg(compose_run_config([*overrides, f"out_dir={tmp_path}"]))


@pytest.mark.parametrize(("overrides", "known"), KNOWN_IDS)
def test_a_default_env_kwargs_leaves_the_run_id_as_it_was(overrides, known, tmp_path):
    made = spec(overrides, tmp_path)
    assert made.run_id == known
    older = {k: v for k, v in made.stored_config().items() if k != "env_kwargs"}
    assert RunSpec.from_resolved(older).run_id == known  # a record from before the key


def test_env_kwargs_are_part_of_the_run_id_and_of_the_stored_config(tmp_path):
    default = spec([], tmp_path)
    given = spec(["+env_kwargs.ctrl_cost_weight=0.1"], tmp_path)
    other = spec(["+env_kwargs.ctrl_cost_weight=0.2"], tmp_path)
    assert len({default.run_id, given.run_id, other.run_id}) == 3
    stored = given.stored_config()
    assert stored["env_kwargs"] == {"ctrl_cost_weight": 0.1}
    assert RunSpec.from_resolved(stored).run_id == given.run_id


def test_a_module_env_id_is_named_by_its_env_in_the_run_id_and_hashed_whole(tmp_path):
    made = spec([f"env={TINY_ENV}"], tmp_path)
    assert made.run_id.startswith("ppo-TinyEnv-v0-epsilon0.2-s0-")
    assert made.config.env_id == TINY_ENV


BAD_ENVS = [
    (["env=no_such_package.envs:TinyEnv-v0"],
     "env 'no_such_package.envs:TinyEnv-v0': module 'no_such_package.envs' cannot be imported "
     "(ModuleNotFoundError: No module named 'no_such_package'); allowed: a registered id"),
    (["env=tests.tiny_env:TinyEnv-v9"],
     "unknown env 'TinyEnv-v9' (importing tests.tiny_env registers no such id); "
     "close matches: TinyEnv-v0"),
    (["env=Hopper-v5", "+env_kwargs.no_such_kwarg=1"],
     "env 'Hopper-v5' cannot be created with env_kwargs={'no_such_kwarg': 1}: "),
    (["env_kwargs=3"], "env_kwargs=3 must be a mapping of gym.make's keyword arguments"),
]  # fmt: skip


@pytest.mark.parametrize(("overrides", "message"), BAD_ENVS)
def test_an_env_that_cannot_be_had_is_refused_in_one_line(overrides, message, tmp_path):
    with pytest.raises(ConfigError) as error:
        validate(compose_run_config([*overrides, f"out_dir={tmp_path}"]))
    assert message in str(error.value) and "\n" not in str(error.value)


def test_env_kwargs_given_whole_without_a_plus_say_how_to_give_them():
    with pytest.raises(ConfigError, match=r"env_kwargs takes its keys with a leading \+"):
        compose_run_config(["env_kwargs={ctrl_cost_weight:0.1}"])


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A run on the tests' own env from the command line (a fresh process: gymnasium imports
    the module itself), its env made with target=TARGET."""
    out = tmp_path_factory.mktemp("runs")
    args = [f"env={TINY_ENV}", f"+env_kwargs.target={TARGET}", "total_steps=256",
            "train.horizon=64", "train.hidden=[8]", "checkpoints=1", "progress=false",
            "wandb.mode=disabled", f"out_dir={out}"]  # fmt: skip
    result = subprocess.run([sys.executable, "experiments/run.py", *args], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    (record,) = (out / "single").iterdir()
    return record


def test_a_run_on_a_module_env_trains_with_its_env_kwargs(tiny_run):
    assert tiny_run.name.startswith("ppo-TinyEnv-v0-")
    stored = Record(tiny_run).config
    assert stored["env"] == TINY_ENV and stored["env_kwargs"] == {"target": TARGET}
    metrics = Record(tiny_run).written_metrics()
    assert metrics["step"].tolist() == [64, 128, 192, 256]
    assert metrics["return_mean"].lt(-0.9 * TARGET * EPISODE_STEPS).all()  # target 0: > -64


def test_its_policy_is_replayed_and_evaluated_in_the_env_it_was_trained_in(tiny_run):
    replayed = policy_at(tiny_run, 2)  # no checkpoint before it: trained again from the start
    assert replayed.replayed == 2 and replayed.differs is None
    with initialize_config_dir(config_dir=str(CONF_DIR / "evaluate"), version_base="1.3"):
        cfg = compose("evaluate", [f"run={tiny_run}", "checkpoint=2", "episodes=2", "wandb=false"])
    result = evaluate(cfg, 2)
    assert result["evaluate_return_mean"] < -0.9 * TARGET * EPISODE_STEPS
