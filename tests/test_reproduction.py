"""The reproduction tables: ours beside published figures, and a run from real records."""

import json
import shutil

import pandas as pd
import pytest
import yaml
from omegaconf import OmegaConf
from PIL import Image

from analysis.reproduction import algo_env_label, beside_published, merged_provenance, update_size
from analysis.reproduction import main as reproduction_main
from records.load import load_records, load_sweeps
from tests.conftest import ROOT


def test_ours_sits_under_the_published_figures_of_the_same_algo_and_env():
    ours = pd.DataFrame([{
        "algo": "ppo", "env": "Hopper", "step_size": "epsilon 0.2", "seeds": 3, "steps": 999_424,
        "final": 2400.0, "final_ci_low": 2200.0, "final_ci_high": 2600.0,
        "max_smoothed": 3400.0, "max_smoothed_ci_low": 3200.0, "max_smoothed_ci_high": 3600.0,
    }])  # fmt: skip
    published = pd.DataFrame([
        {"algo": "ppo", "env": "Hopper", "source": "A", "return": 2330.0, "spread": None, "metric": "final"},
        {"algo": "ppo", "env": "Walker2d", "source": "A", "return": 3460.0, "spread": None, "metric": "final"},
        {"algo": "trpo", "env": "Hopper", "source": "B", "return": 2046.0, "spread": 1037.9, "metric": "max"},
    ])  # fmt: skip
    table = beside_published(ours, published, episodes=100)
    assert table["source"].tolist() == ["A", "ours (epsilon 0.2, 3 seeds)"] + [
        "ours (epsilon 0.2, 3 seeds)"
    ]
    assert table["return"].tolist() == [2330.0, 2400.0, 3400.0]
    assert table[["ci_low", "ci_high"]].iloc[1:].values.tolist() == [
        [2200.0, 2600.0],
        [3200.0, 3600.0],
    ]
    assert "last 100 episodes" in table["metric"].iloc[1]


def test_update_size_summarises_each_groups_updates_and_ignores_other_runs():
    runs = pd.DataFrame([
        {"run_id": r, "algo": "trpo", "env": "Hopper-v5", "step_size_key": "delta", "step_size": 0.01}
        for r in ("a", "b")
    ])  # fmt: skip
    updates = pd.DataFrame({
        "run_id": ["a"] * 3 + ["b"] * 2 + ["unfinished"] * 2,
        "kl_mean": [0.001, 0.002, 0.009, 0.004, 0.005, 5.0, 6.0],
        "ratio_max": [1.1, 1.2, 1.3, 1.4, 1.5, 90.0, 99.0],
    })  # fmt: skip
    size = update_size(runs, updates, algo_env_label, "run group").set_index("run group")
    row = size.loc["trpo delta 0.01, Hopper-v5"]
    assert row["updates"] == 5 and row["kl_mean_max"] == 0.009
    assert row["kl_mean_median"] == 0.004 and row["ratio_max_median"] == 1.3
    assert row["kl_mean_p95"] == pytest.approx(0.005 + 0.8 * (0.009 - 0.005))  # linear, rank 3.8


def write_references(directory):
    """Published figures in the format of reference/ (values made up for the test)."""
    directory.mkdir()
    pd.DataFrame([
        {"variant": "clipping", "objective": "clip", "epsilon": e, "kl_target": None, "kl_coef": None,
         "normalized_score": score}
        for e, score in ((0.1, 0.76), (0.2, 0.82), (0.3, 0.70))
    ]).to_csv(directory / "ppo_paper_table1.csv", index=False)  # fmt: skip
    pd.DataFrame([
        {"algo": "ppo", "env": "InvertedPendulum", "source": "S", "return": 1000.0, "spread": 0.0, "metric": "final"},
    ]).to_csv(directory / "published_returns_1m.csv", index=False)  # fmt: skip


def test_reproduction_runs_on_real_records(smoke_sweep, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    out = tmp_path / "reproduction"
    write_references(tmp_path / "reference")
    monkeypatch.setattr("sys.argv", [
        "reproduction", f"out_dir={smoke_sweep}", "table1_sweep=smoke", "returns_sweep=smoke",
        f"results_dir={out}", f"reference_dir={tmp_path / 'reference'}",
        "table1_impl_sweeps=[smoke,smoke]",  # the same records twice: each run counts once
        "bootstrap=100",  # rliable's resamples: enough to check the tables, a tenth of the time
    ])  # fmt: skip
    reproduction_main()
    table1 = pd.read_csv(out / "ppo_table1.csv")
    scored = table1.dropna(subset=["normalized_score_ours"])
    assert set(scored["variant"]) == {"ppo_clip(epsilon=0.1)", "ppo_clip(epsilon=0.3)"}
    assert (scored["runs"] == 2).all() and scored["normalized_score_ours"].notna().all()
    by_env = pd.read_csv(out / "ppo_table1_by_env.csv").set_index("variant")
    assert list(by_env.columns) == ["InvertedPendulum-v5"]
    assert by_env.loc["ppo_clip(epsilon=0.1)"].iloc[0] == pytest.approx(
        scored.set_index("variant").loc["ppo_clip(epsilon=0.1)", "normalized_score_ours"]
    )  # one env: the per-env score is the overall score
    size = pd.read_csv(out / "ppo_table1_update_size.csv").set_index("variant")
    assert size.loc["ppo_clip(epsilon=0.1)", "updates"] == 2 * 4  # 2 seeds × 4 updates
    assert (size["kl_mean_median"] <= size["kl_mean_p95"]).all()
    returns_size = pd.read_csv(out / "returns_1m_update_size.csv")
    assert len(returns_size) == 8 and (returns_size["updates"] == 2 * 4).all()
    assert (returns_size["kl_mean_p95"] <= returns_size["kl_mean_max"]).all()
    returns = pd.read_csv(out / "returns_1m.csv")
    ours = returns[returns["source"].str.startswith("ours")]
    assert (
        len(ours) == 2 * 8 and ours["source"].str.endswith("2 seeds)").all()
    )  # 2 metrics × 8 variants
    assert sorted(ours["algo"].unique()) == ["hold", "npg", "pg", "ppo", "trpo"]
    assert (ours["ci_low"] <= ours["return"]).all() and (ours["return"] <= ours["ci_high"]).all()
    assert returns.loc[returns["algo"] == "ppo", "source"].iloc[0] == "S"  # published above ours
    by_impl = pd.read_csv(out / "ppo_table1_impl.csv")
    assert set(by_impl["impl"]) == {"modern"} and (by_impl["runs"] == 2).all()
    assert set(by_impl["variant"]) == {"ppo_clip(epsilon=0.1)", "ppo_clip(epsilon=0.3)"}
    assert by_impl["normalized_score"].max() == pytest.approx(1.0)
    assert len(pd.read_csv(out / "ppo_table1_impl_order.csv")) == 1
    provenance = (out / "provenance.md").read_text()
    assert "## `smoke` + `smoke`" in provenance and "- sweep: smoke (4 runs)" in provenance
    assert "done (16 runs)" in provenance and "torch 2.13.0" in provenance
    aggregate = pd.read_csv(out / "returns_1m_aggregate.csv")
    assert len(aggregate) == 8 and (aggregate["runs"] == 2).all()
    assert (aggregate["iqm_ci_low"] <= aggregate["iqm"]).all()
    improvement = pd.read_csv(out / "returns_1m_improvement.csv")
    assert len(improvement) == 28 and improvement["probability"].between(0, 1).all()  # 8 choose 2
    for figure in (
        "ppo_table1.png",
        "ppo_table1_impl.png",
        "returns_1m_curves.png",
        "returns_1m_kl.png",
        "returns_1m_profile.png",
    ):
        with Image.open(out / figure) as image:
            assert image.size[0] > 300


def test_a_run_in_two_sweeps_counts_once_and_its_done_copy_is_kept(smoke_sweep, tmp_path):
    out = tmp_path / "runs"
    shutil.copytree(smoke_sweep, out)
    record = sorted((out / "smoke").glob("*/status.json"))[0].parent
    copy = out / "other" / record.name
    shutil.copytree(record, copy)
    config = yaml.safe_load((copy / "config.yaml").read_text())
    config["sweep"]["name"] = "other"
    (copy / "config.yaml").write_text(yaml.safe_dump(config))
    status = json.loads((copy / "status.json").read_text()) | {"status": "running"}
    (copy / "status.json").write_text(json.dumps(status))
    pd.read_parquet(copy / "metrics.parquet").iloc[:1].to_parquet(copy / "metrics.parquet")
    cfg = OmegaConf.create({"source": "records", "out_dir": str(out)})
    both = load_sweeps(cfg, ["other", "smoke"])
    smoke = load_records(out, "smoke")
    assert both.runs["run_id"].is_unique and len(both.runs) == len(smoke.runs)
    kept = both.runs.set_index("run_id").loc[record.name]
    assert kept["sweep"] == "smoke" and kept["status"] == "done"
    assert len(both.updates) == len(smoke.updates)  # the running copy's update is not added


def test_provenance_keeps_the_sections_of_sweeps_not_read_this_time():
    old = "# How these results were made\n\n## `a`\n\nCommand: a\n- status: done (3 runs)\n\n## `b`\n\nold b\n"
    merged = merged_provenance(old, ["## `b`\n\nnew b\n", "## `c` + `d`\n\nc and d\n"])
    assert merged == (
        "# How these results were made\n\n## `a`\n\nCommand: a\n- status: done (3 runs)\n\n"
        "## `b`\n\nnew b\n\n## `c` + `d`\n\nc and d\n"
    )
