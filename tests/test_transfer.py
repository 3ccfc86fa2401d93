"""The report on records of code the suite did not write (monitor.ForeignRun), and the
Transfer section against known answers: target runs whose collapses follow the reference's
own law of P(collapse | KL) are found calibrated, runs whose collapses are ten times as
likely at every KL are not."""

import json

import numpy as np
import pytest
from scipy.special import expit

from monitor import ForeignRun
from records.load import load_records
from tests.test_report import build

LEVEL, FALLEN = 1000.0, 200.0  # returns before a collapse, and during its 3 updates
FAST = ("dose_response.bootstrap=40", "answer.replicates=20", "damage.bootstrap=20",
        "warning.bootstrap=20", "jobs=1")  # fmt: skip


def write_study(out_dir, sweep, shift: float, seed: int, runs_per_arm: int = 6) -> None:
    """Runs of three arms (kl_mean around 0.01, 0.3 and 5 nats) whose collapse after an update
    of KL k has probability expit(-4.2 + shift + 1.2 log10 k): then the return falls to
    FALLEN for 3 updates and comes back."""
    rng = np.random.default_rng(seed)
    start = {"run": "start", "baseline_return": 0.0, "history_returns": [LEVEL] * 10}
    for arm, centre in (("small", 0.01), ("medium", 0.3), ("large", 5.0)):
        for s in range(runs_per_arm):
            run = ForeignRun(out_dir, sweep, "Toy-v0", s, "their_rule", {"lr": centre}, "lr",
                             variant=arm, warm_start=start, tensorboard=False)  # fmt: skip
            fallen_until = -1
            with run:
                for t in range(100):
                    kl = centre * float(np.exp(rng.normal(0.0, 0.5)))
                    ret = (FALLEN if t <= fallen_until else LEVEL) + rng.normal(0.0, 20.0)
                    run.log(
                        1000 * (t + 1),
                        {"kl_mean": kl, "kl_max": 3 * kl, "kl_reported": 0.4 * kl},
                        [(ret, 1000)],
                    )
                    if t > fallen_until and rng.random() < expit(-4.2 + shift + 1.2 * np.log10(kl)):
                        fallen_until = t + 3


@pytest.fixture(scope="module")
def studies(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    write_study(runs, "reference", 0.0, 1)
    write_study(runs, "same_law", 0.0, 2)
    write_study(runs, "ten_times", np.log(10.0), 3)
    return runs


def transfer_finding(report) -> str:
    findings = json.loads((report / "findings.json").read_text())
    [finding] = findings["sections"]["Transfer: the suite's dose–response on these runs"]
    return finding["text"]


def test_runs_that_follow_the_references_law_are_found_calibrated(studies, tmp_path, monkeypatch):
    report = build(studies, "same_law", tmp_path, monkeypatch, f"reference.out_dir={studies}",
                   "reference.sweep=reference", *FAST)  # fmt: skip
    assert "the dose–response carries over" in transfer_finding(report)
    skipped = json.loads((report / "findings.json").read_text())["skipped"]
    assert "no checkpoints to replay" in skipped["What a collapse looks like"]
    assert "Not in this report:" in (report / "README.md").read_text()


def test_runs_ten_times_as_likely_to_collapse_are_not(studies, tmp_path, monkeypatch):
    report = build(studies, "ten_times", tmp_path, monkeypatch, f"reference.out_dir={studies}",
                   "reference.sweep=reference", *FAST)  # fmt: skip
    assert "does not carry over" in transfer_finding(report)


def test_without_a_reference_there_is_no_transfer_section(studies, tmp_path, monkeypatch):
    report = build(studies, "same_law", tmp_path, monkeypatch, *FAST)
    findings = json.loads((report / "findings.json").read_text())
    assert not any(title.startswith("Transfer") for title in findings["sections"])
    assert not any(title.startswith("Transfer") for title in findings["skipped"])


def test_a_starting_policy_that_returned_exactly_zero_is_still_a_warm_start(studies):
    runs = load_records(studies, "reference").runs
    assert (runs["baseline_return"] == 0.0).all()


def test_the_code_s_own_kl_estimate_is_set_against_the_exact_kl(studies, tmp_path, monkeypatch):
    """Records whose logged estimate is 0.4 of every update's exact KL."""
    report = build(studies, "same_law", tmp_path, monkeypatch, *FAST)
    findings = json.loads((report / "findings.json").read_text())["sections"]
    [finding] = findings["What the training code logged: its KL estimate against the exact KL"]
    assert "was a median 0.4× the exact kl_mean" in finding["text"]
    assert "by more than 2× in 100% of them" in finding["text"]
