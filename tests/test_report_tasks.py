"""The report of a study of several tasks with held-out runs, from synthetic records whose
collapses follow a known per-update relation to KL: every section builds, the held-out
runs stay out of the step-size sections, and the cross-task, out-of-sample and KL-parts
sections say what the data say."""

import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from scipy.special import expit

from analysis import render
from analysis.bands import ZERO
from analysis.cells import pct
from analysis.section import Context
from analysis.sections import SECTIONS, headline, kl_parts, out_of_sample, tasks
from analysis.tables import study_collapse_table
from records.load import Records
from records.paths import CONF_DIR
from records.schema import METRICS, RUN_COLUMNS

TASKS = ["Hopper-v5", "Walker2d-v5"]
UPDATES = 60
SETTINGS = [("pg", "pg", "lr", 0.001, -2.5), ("pg", "pg", "lr", 0.1, 0.3),
            ("trpo", "trpo", "delta", 0.01, -2.0), ("trpo", "trpo", "delta", 1.0, 0.0),
            ("hold", "hold", "lr", 0.0, None)]  # fmt: skip
HELD_OUT = ("ppo", "ppo", "epsilon", 0.2, -0.5)  # a PPO knob other than ε moved the KL up


def synthetic_run(rng, run_id, env, algo, variant, key, value, log_kl, seed):
    """Learns to ~1,500 over 15 updates, then each update collapses the policy (to ~20 for
    the rest) with P = expit(−2 + 1.2 log10 kl_mean), whatever part of the KL moved the
    mean; a zero-dose run never moves."""
    kl = np.zeros(UPDATES) if log_kl is None else 10.0 ** (log_kl + rng.normal(0, 0.3, UPDATES))
    share = rng.uniform(0.3, 0.9, UPDATES)  # of the KL spent moving the mean: the risk ignores it
    returns = np.concatenate([np.linspace(20, 1500, 15), np.full(UPDATES - 15, 1500.0)])
    if log_kl is not None:
        hits = np.flatnonzero(rng.random(UPDATES - 20) < expit(-2.0 + 1.2 * np.log10(kl[20:])))
        if len(hits):
            returns[21 + hits[0] :] = 20.0
    returns = returns + rng.normal(0, 15, UPDATES)
    steps = np.arange(1, UPDATES + 1)
    updates = pd.DataFrame(dict.fromkeys(METRICS, np.nan), index=range(UPDATES)).assign(
        run_id=run_id, update=steps, step=1000 * steps, return_mean=returns, episodes=5,
        kl_mean=kl, kl_max=4 * kl, kl_shift=share * kl, kl_scale=(1 - share) * kl, ratio_max=1 + kl,
        algo=algo, variant=variant, env=env, seed=seed, step_size=value,
    )  # fmt: skip
    run = dict.fromkeys(RUN_COLUMNS) | {
        "run_id": run_id, "sweep": "tasks", "algo": algo, "variant": variant, "env": env,
        "seed": seed, "step_size_key": key, "step_size": value, "total_steps": 1000 * UPDATES,
        "status": "done", "diverged": False, "updates": UPDATES, "baseline_return": np.nan,
    }  # fmt: skip
    return run, updates


@pytest.fixture(scope="module")
def study():
    rng = np.random.default_rng(0)
    runs, frames, held_out = [], [], {}
    for env in TASKS:
        for seed in range(6):
            for setting in [*SETTINGS, HELD_OUT]:
                algo, variant, key, value, log_kl = setting
                run_id = f"{variant}-{env}-{key}{value:g}-s{seed}"
                run, updates = synthetic_run(
                    rng, run_id, env, algo, variant, key, value, log_kl, seed
                )
                runs.append(run)
                frames.append(updates)
                if setting is HELD_OUT:
                    held_out[run_id] = "ppo epochs=100"
    with initialize_config_dir(config_dir=str(CONF_DIR / "analysis"), version_base="1.3"):
        cfg = compose(
            "report",
            overrides=[
                "dose_response.bootstrap=20",
                "multiverse.drop_fracs=[0.4,0.5]",
                "multiverse.updates_ahead=[3]",
                "answer.replicates=20",
                "damage.bootstrap=10",
                "warning.bootstrap=20",
            ],
        )
    return cfg, Records(pd.DataFrame(runs), pd.concat(frames, ignore_index=True)), held_out


@pytest.fixture(scope="module")
def report(study, tmp_path_factory):
    """The study's Context and every section's Part, built once, and where its figures are."""
    cfg, records, held_out = study
    ctx = Context(cfg, records, held_out)
    out = tmp_path_factory.mktemp("report")
    parts = {}
    for section in SECTIONS:
        if (part := section.build(ctx)) is not None:
            render.save_figures(out, part)
            parts[part.title] = part
    return ctx, parts, out


def test_every_section_builds_and_the_held_out_runs_stay_out_of_the_step_size_sections(
    study, report
):
    _, _, held_out = study
    ctx, parts, out = report
    assert set(ctx.runs["run_id"]).isdisjoint(held_out) and set(ctx.held_runs["run_id"]) == set(
        held_out
    )
    assert set(ctx.at_risk["run_id"]).isdisjoint(held_out)
    assert not (study_collapse_table(ctx)["variant"] == "ppo").any()
    assert {tasks.TITLE, out_of_sample.TITLE, kl_parts.TITLE} <= set(parts)
    by_run = parts["Update size and collapse, per run"].data["collapse_by_run_kl"]
    assert set(by_run["env"]) == {"all", *TASKS}  # the run-level table per task too
    per_run = parts["Update size and collapse, per run"].findings[0].text
    assert "the 2 tasks pooled" in per_run and "/12 = " in per_run  # 6 seeds × 2 tasks a setting
    render.write_files(out, list(parts.values()))
    render.write_index(out, "tasks", list(parts.values()), [])
    assert (out / "collapse_vs_kl.png").stat().st_size > 1000
    assert (out / "held_out_calibration.png").stat().st_size > 1000


def test_the_cross_task_section_fits_each_task_and_finds_one_relation(report):
    part = report[1][tasks.TITLE]
    fits = part.data["per_task"].set_index("env")
    assert list(fits.index) == ["all", *TASKS]
    for env in TASKS:  # the odds rise with KL on each task
        assert fits.at[env, "odds_ratio_ci_low"] > 1
    tests = part.data["task_tests"].iloc[0]
    assert tests["slope_p"] > 0.05 and tests["level_p"] > 0.05  # the same relation on both
    zero = part.data["zero_dose_by_task"]
    assert list(zero["runs_n"]) == [6, 6] and list(zero["runs_k"]) == [0, 0]
    assert "On every one of the 2 tasks" in part.findings[0].text


def test_the_held_out_runs_are_predicted_as_calibrated(report):
    part = report[1][out_of_sample.TITLE]
    calibration = part.data["held_out_calibration"].iloc[0]
    assert not calibration["miscalibrated"]
    assert "predicts the collapses of runs made unstable by other knobs" in part.findings[0].text
    settings = part.data["held_out_settings"]
    assert list(settings["env"]) == TASKS and (settings["runs"] == 6).all()


def test_the_kl_parts_section_finds_that_the_split_does_not_matter_when_it_does_not(report):
    odds = report[1][kl_parts.TITLE].data["kl_parts"].set_index("term")
    assert odds.at["shift_share", "ci_low"] <= 1 <= odds.at["shift_share", "ci_high"]
    assert odds.at["log10_kl", "ci_low"] > 1


def test_the_answer_states_each_band_with_the_evidence_beside_the_zero_dose_and_no_other(report):
    part = report[1][headline.TITLE]
    rates = part.data["answer_bands"]
    zero = rates[rates["band"] == ZERO].iloc[0]
    assert part.answer.startswith("Per update, the larger its KL")
    assert f"against {zero['collapses']}/{zero['updates']} = {pct(zero['p'])}" in part.answer
    moved = rates[rates["band"] != ZERO]
    assert moved["enough"].any() and not moved["enough"].all()
    for r in moved.itertuples():
        assert (f"{pct(r.p)} at {r.band} nats" in part.answer) == r.enough, r.band
    # the synthetic risk rises with KL: the largest stated band is above doing nothing
    assert moved[moved["enough"]].iloc[-1]["above"]
    assert 1 <= len(part.findings) <= 5
