"""The collapse definition a user brings: their own functions named in the settings change
every count of the report, a wrong name or signature stops it in one line, and every env
gets a min_gain by a stated rule (the table's, a share of its runs' typical gain, or none)."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_dir

from analysis.collapse import gain_scale
from analysis.definition import definition, threshold_sentences
from analysis.multiverse import per_definition, study_multiverse
from analysis.section import Context
from analysis.settings import REPORT_KEYS, check_or_exit
from analysis.tables import study_collapse_table
from records.load import Records
from records.paths import CONF_DIR
from records.schema import METRICS, RUN_COLUMNS
from tests.conftest import ROOT

UPDATES = 40
OWN = ["collapse.rule=tests.own_collapse_rules:never_collapses",
       "update_collapse.rule=tests.own_collapse_rules:no_update_collapses"]  # fmt: skip


def curve(top: float, crash: bool, rng) -> np.ndarray:
    """Learns from 0 to `top` over 10 updates and holds it; a crash falls to 0 at update 25."""
    returns = np.concatenate([np.linspace(0, top, 10), np.full(UPDATES - 10, top)])
    if crash:
        returns[25:] = 0.0
    return returns + rng.normal(0, top / 100, UPDATES)


def synthetic_records() -> Records:
    """Hopper-v5 (in the table) at a return scale of 1,500 and Tiny-v0 (not) at one of 10,
    two of each's three trpo runs crashing, beside a zero-dose run that holds; Flat-v0, not
    in the table either, whose runs only lose return: none gained anything."""
    rng = np.random.default_rng(0)
    runs, frames = [], []
    for env, top in [("Hopper-v5", 1500.0), ("Tiny-v0", 10.0), ("Flat-v0", None)]:
        for seed, (algo, crash) in enumerate([("trpo", True), ("trpo", True), ("trpo", False),
                                              ("hold", False)]):  # fmt: skip
            run_id = f"{algo}-{env}-s{seed}"
            returns = 5.0 - 0.1 * np.arange(UPDATES) if top is None else curve(top, crash, rng)
            kl = np.zeros(UPDATES) if algo == "hold" else np.full(UPDATES, 0.01)
            steps = np.arange(1, UPDATES + 1)
            frames.append(pd.DataFrame(dict.fromkeys(METRICS, np.nan), index=range(UPDATES)).assign(
                run_id=run_id, update=steps, step=1000 * steps, return_mean=returns, episodes=5,
                kl_mean=kl, kl_max=kl, ratio_max=1 + kl, algo=algo, variant=algo, env=env,
                seed=seed, step_size=0.01))  # fmt: skip
            runs.append(dict.fromkeys(RUN_COLUMNS) | {
                "run_id": run_id, "sweep": "own", "algo": algo, "variant": algo, "env": env,
                "seed": seed, "step_size_key": "delta", "step_size": 0.01, "status": "done",
                "diverged": False, "updates": UPDATES, "baseline_return": np.nan,
                "total_steps": 1000 * UPDATES})  # fmt: skip
    return Records(pd.DataFrame(runs), pd.concat(frames, ignore_index=True))


def context(tmp_path, *overrides: str) -> Context:
    with initialize_config_dir(config_dir=str(CONF_DIR / "analysis"), version_base="1.3"):
        cfg = compose("report", overrides=["multiverse.drop_fracs=[0.3,0.5]",
                                           "multiverse.updates_ahead=[1,3]", *overrides])  # fmt: skip
    return Context(cfg, synthetic_records())


def counts(ctx: Context) -> dict[str, int]:
    """Every collapse count the report is made of: runs, updates, and per multiverse definition."""
    return {"runs": int(ctx.frame["collapsed"].sum()),
            "table": int(study_collapse_table(ctx)["collapsed"].sum()),
            "updates": int(ctx.at_risk["collapse"].sum()),
            "multiverse": int(per_definition(study_multiverse(ctx))["collapsed_runs"].min())}  # fmt: skip


def test_a_rule_of_ones_own_changes_every_collapse_count_of_the_report(tmp_path):
    built_in, own = context(tmp_path), context(tmp_path, *OWN)
    assert counts(built_in) == {"runs": 4, "table": 4, "updates": 8, "multiverse": 4}  # 2 a crash
    assert counts(own) == dict.fromkeys(["runs", "table", "updates", "multiverse"], 0)
    assert len(own.at_risk) == len(built_in.at_risk) > 0  # its own outcomes, the same trials
    own_rules = definition(own)
    assert "`tests.own_collapse_rules:never_collapses` (collapse.rule)" in own_rules
    assert "`tests.own_collapse_rules:no_update_collapses` (update_collapse.rule)" in own_rules
    assert "smoothed by a trailing mean" in definition(built_in)


def test_each_env_states_its_min_gain_and_where_it_came_from(tmp_path):
    ctx = context(tmp_path)
    tiny = ctx.gain_scales.loc["Tiny-v0"]
    assert tiny["runs"] == 4 and tiny["scale"] == pytest.approx(10.0, abs=0.3)
    assert ctx.rules["Hopper-v5"].min_gain == 500.0
    assert ctx.rules["Tiny-v0"].min_gain == 0.5 * tiny["scale"]  # its own runs set it
    assert ctx.rules["Flat-v0"].min_gain == np.inf
    sentences = dict(zip(sorted(ctx.rules), threshold_sentences(ctx), strict=True))
    assert sentences["Hopper-v5"] == "Hopper-v5: min_gain = 500, from the table."
    assert sentences["Tiny-v0"] == (
        "Tiny-v0: min_gain = 5, by the rule (0.5 × 10, the median gain of its 4 runs that gained)."
    )
    assert "left unjudged" in sentences["Flat-v0"]
    assert all(sentence in definition(ctx) for sentence in threshold_sentences(ctx))
    collapsed = ctx.frame.merge(ctx.runs[["run_id", "env"]])
    assert collapsed.groupby("env")["collapsed"].sum().to_dict() == {
        "Flat-v0": 0, "Hopper-v5": 2, "Tiny-v0": 2}  # fmt: skip
    assert not ctx.trials.loc[ctx.trials["env"] == "Flat-v0", "at_risk"].any()


def test_a_warm_started_runs_scale_is_its_starting_policys_gain_whatever_it_did_next():
    crashed = np.zeros(20)
    assert gain_scale(crashed, 20.0, np.array([1000.0, 1040.0, np.nan]), 5) == 1000.0
    assert gain_scale(np.array([0.0, 30.0, 60.0, 90.0]), 0.0, None, 2) == 75.0  # best smoothed
    assert np.isnan(gain_scale(np.full(3, np.nan), np.nan, None, 2))


BAD = [("collapse.rule=no_such_module:detect", "cannot import no_such_module"),
       ("collapse.rule=analysis.collapse:no_such_rule", "analysis.collapse has no function"),
       ("collapse.rule=analysis.collapse", "not of the form module:function"),
       ("update_collapse.rule=tests.own_collapse_rules:wrong_signature",
        "wrong_signature(returns, rule) does not take that call")]  # fmt: skip


@pytest.mark.parametrize(("setting", "says"), BAD)
def test_a_bad_rule_name_or_signature_is_one_line_saying_what_is_expected(setting, says, capsys):
    with initialize_config_dir(config_dir=str(CONF_DIR / "analysis"), version_base="1.3"):
        cfg = compose("report", overrides=[setting])
    with pytest.raises(SystemExit) as stopped:
        check_or_exit(cfg, REPORT_KEYS)
    error = capsys.readouterr().err
    assert stopped.value.code == 2 and error.startswith("error: ") and error.count("\n") == 1
    key = setting.partition("=")[0]
    call = (
        "returns, initial, rule, updates_ahead, history"
        if "update" in key
        else "returns, rule, initial"
    )
    assert f"{setting}: " in error and says in error and f"f({call}" in error


@pytest.mark.parametrize("setting", [BAD[0][0], BAD[-1][0]])
def test_the_report_stops_on_it_with_exit_2_before_reading_or_writing(setting, tmp_path):
    command = [sys.executable, "-m", "analysis.report", setting, f"report_dir={tmp_path / 'r'}",
               f"out_dir={tmp_path / 'no_records'}"]  # fmt: skip
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"error: {setting}: ") and result.stderr.count("\n") == 1
    assert not (tmp_path / "r").exists()
