"""docs/develop/adding-a-report-section.md's example as it stands: its module, its SECTIONS
entry and its setting are all it takes for a report to show its table, figure and Finding."""

import re
import types

import numpy as np
import pandas as pd
import yaml
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf, open_dict

from algos.allowed import Real
from analysis import report, settings
from analysis.sections import SECTIONS
from records.load import Records
from records.paths import CONF_DIR
from records.schema import METRICS, RUN_COLUMNS
from tests.conftest import ROOT

GUIDE = ROOT / "docs" / "develop" / "adding-a-report-section.md"
UPDATES = 40


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", GUIDE.read_text(), flags=re.S)


def example_section() -> types.ModuleType:
    """The guide's module, as the module it tells one to write."""
    module = types.ModuleType("analysis.sections.large_updates")
    exec(compile(blocks("python")[0], str(GUIDE), "exec"), module.__dict__)
    return module


def example_setting() -> tuple[dict, dict]:
    """The guide's settings: its yaml defaults and its REPORT_KEYS entry."""
    (entry,) = re.findall(r'^"([\w.]+)": (.+),$', blocks("python")[-1], flags=re.M)
    return yaml.safe_load(blocks("yaml")[0]), {entry[0]: eval(entry[1], {"Real": Real})}


def tiny_study() -> Records:
    """Two update rules on one task, three seeds each: small and large updates."""
    rng = np.random.default_rng(0)
    runs, frames = [], []
    for variant, key, value, log_kl in (("pg", "lr", 0.1, 0.3), ("trpo", "delta", 0.01, -2.0)):
        for seed in range(3):
            run_id = f"{variant}-s{seed}"
            kl = 10.0 ** (log_kl + rng.normal(0, 0.5, UPDATES))
            steps = np.arange(1, UPDATES + 1)
            returns = np.linspace(20, 1500, UPDATES) + rng.normal(0, 15, UPDATES)
            frames.append(pd.DataFrame(dict.fromkeys(METRICS, np.nan), index=range(UPDATES)).assign(
                run_id=run_id, update=steps, step=1000 * steps, return_mean=returns, episodes=5,
                kl_mean=kl, kl_max=4 * kl, ratio_max=1 + kl, algo=variant, variant=variant,
                env="Hopper-v5", seed=seed, step_size=value))  # fmt: skip
            runs.append(dict.fromkeys(RUN_COLUMNS) | {
                "run_id": run_id, "sweep": "guide", "algo": variant, "variant": variant,
                "env": "Hopper-v5", "seed": seed, "step_size_key": key, "step_size": value,
                "total_steps": 1000 * UPDATES, "status": "done", "diverged": False,
                "updates": UPDATES, "baseline_return": np.nan})  # fmt: skip
    return Records(pd.DataFrame(runs), pd.concat(frames, ignore_index=True))


def test_the_guides_example_section_is_its_module_its_entry_and_its_setting(tmp_path, monkeypatch):
    section = example_section()
    defaults, keys = example_setting()
    monkeypatch.setattr(report, "SECTIONS", [*SECTIONS, section])
    monkeypatch.setattr(settings, "REPORT_KEYS", settings.REPORT_KEYS | keys)
    monkeypatch.setattr(report, "load", lambda cfg, sweep: tiny_study())
    with initialize_config_dir(config_dir=str(CONF_DIR / "analysis"), version_base="1.3"):
        cfg = compose("report", overrides=[
            "sweep=guide", f"report_dir={tmp_path}", "dose_response.bootstrap=0",
            "answer.replicates=2", "damage.bootstrap=2", "warning.bootstrap=2",
            "multiverse.drop_fracs=[0.5]", "multiverse.updates_ahead=[3]", "film.show=false", "jobs=1",
        ])  # fmt: skip
    with open_dict(cfg):
        cfg.merge_with(OmegaConf.create(defaults))
    settings.check_or_exit(cfg, settings.REPORT_KEYS)
    out = report.build_report(cfg)

    shares = pd.read_csv(out / "large_updates.csv").set_index("variant")
    assert shares.at["pg", "large"] > shares.at["trpo", "large"] == 0
    assert (
        "Per update rule: its updates with kl_mean > 1 nats."
        in (out / "large_updates.md").read_text()
    )
    assert (out / "large_updates.png").stat().st_size > 1000 and (
        out / "large_updates.svg"
    ).exists()
    page = (out / "index.html").read_text()
    assert "<h2>Large updates</h2>" in page and "id='large_updates'" in page
    findings = (out / "findings.json").read_text()
    assert "pg took the most large updates (kl_mean > 1 nats)" in findings
