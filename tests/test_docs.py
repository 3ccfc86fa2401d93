"""The documentation shows the code as it is: the update-rule guide's worked example is
algos/hold.py verbatim and its registry entry the one in algos/registry.py; the site builds
strictly, its reference lists every config key, metric and export column, and its results
pages say what results/ says."""

import html
import json
import os
import re
import subprocess
import sys

import pytest
from omegaconf import OmegaConf

from algos.allowed import ABSENT, allowed_values, lookup
from algos.metrics import METRICS
from algos.ppo import PPOConfig
from algos.train import TrainConfig
from analysis.export import UPDATES_SCHEMA
from experiments.validate import RUN_KEYS, compose_run_config
from tests.conftest import ROOT

QUIET = {"NO_MKDOCS_2_WARNING": "1", "DISABLE_MKDOCS_2_WARNING": "true"}  # a banner, not a warning


def guide_blocks(name: str) -> list[str]:
    text = (ROOT / "docs" / "develop" / name).read_text()
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def squeezed(code: str) -> str:
    return re.sub(r"\s+", "", code)


def test_the_update_rule_guides_example_is_the_zero_dose_rule_as_it_stands():
    module, entry = guide_blocks("adding-an-update-rule.md")
    assert module == (ROOT / "algos" / "hold.py").read_text()
    assert squeezed(entry) in squeezed((ROOT / "algos" / "registry.py").read_text())


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The documentation built as `make docs` builds it: strict, a warning fails it."""
    out = tmp_path_factory.mktemp("site")
    built = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(out)],
                           cwd=ROOT, capture_output=True, text=True, timeout=600,
                           env=os.environ | QUIET)  # fmt: skip
    assert built.returncode == 0, built.stderr[-3000:]
    return out


def page_text(site, name: str) -> str:
    return re.sub(r"<[^>]+>", " ", html.unescape((site / name / "index.html").read_text()))


def test_the_reference_is_generated_from_the_code(site):
    config = page_text(site, "reference/config")
    tree = OmegaConf.to_container(compose_run_config([]))
    keys = [*RUN_KEYS, *(f"train.{k}" for k in allowed_values(TrainConfig)),
            *(f"algo.{k}" for k in allowed_values(PPOConfig))]  # fmt: skip
    present = [k for k in keys if lookup(tree, k) is not ABSENT and not k.startswith("sweep.")]
    assert len(present) > 40
    for key in present:
        assert f" {key} " in config, key
    assert "horizon &gt;= 1" in (site / "reference/config/index.html").read_text()
    metrics = page_text(site, "reference/metrics")
    assert all(name in metrics for name in METRICS)
    export = page_text(site, "reference/export")
    assert all(column in export for column in UPDATES_SCHEMA)


def test_the_results_pages_say_what_the_committed_results_say(site):
    for study in ("default", "tasks"):
        findings = json.loads((ROOT / "results" / study / "findings.json").read_text())
        page = page_text(site, f"results/{study}")
        assert " ".join(findings["answer"].split()) in " ".join(page.split())
        assert (site / "results" / study / "headline.png").exists()
    assert "covered 0 / repeats" in page_text(site, "guide/probe")
