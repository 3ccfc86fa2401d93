"""TensorBoard event files beside the W&B run: every run's record holds them, each metric's
steps and values the record's own (NaN ones left out), each step once after a resume, and
none with tensorboard=false, which changes nothing else."""

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch.utils.tensorboard import SummaryWriter

from algos.metrics import TIMING
from experiments import attempt
from experiments.run import run
from experiments.sweep import population_job
from experiments.validate import compose_run_config
from records.record import Record
from tests.conftest import ROOT

TINY = ["env=InvertedPendulum-v5", "total_steps=256", "train.horizon=64", "train.hidden=[8]",
        "train.value_epochs=2", "progress=false", "wandb.mode=disabled"]  # fmt: skip


def logged(record: Path) -> dict[str, list[tuple[int, float]]]:
    """Each scalar tag of the record's event files, with its (step, value)s as TensorBoard
    shows them."""
    events = EventAccumulator(str(Record(record).tensorboard_dir), size_guidance={"scalars": 0})
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)]
            for tag in events.Tags()["scalars"]}  # fmt: skip


def expected(record: Path) -> dict[str, list[tuple[int, float]]]:
    """The record's metrics as event files hold them: float32, at the row's step, NaN left out."""
    metrics = Record(record).written_metrics()
    out = {}
    for name in metrics.columns:
        points = [(int(step), float(np.float32(value)))
                  for step, value in zip(metrics["step"], metrics[name], strict=True)
                  if not math.isnan(value)]  # fmt: skip
        if points:
            out[name] = points
    return out


def only_record(out: Path) -> Path:
    (record,) = (out / "single").iterdir()
    return record


def test_a_run_writes_its_metrics_as_event_files_and_with_the_key_off_none(tmp_path):
    assert run(compose_run_config([*TINY, f"out_dir={tmp_path / 'on'}"])) == "done"
    record = only_record(tmp_path / "on")
    events = logged(record)
    assert events == expected(record)
    assert "kl_mean" in events and "cg_residual" not in events  # PPO has no CG: NaN, left out
    assert run(compose_run_config([*TINY, f"out_dir={tmp_path / 'off'}", "tensorboard=false"]))
    off = only_record(tmp_path / "off")
    assert off.name == record.name and not Record(off).tensorboard_dir.exists()
    metrics = [Record(r).written_metrics().drop(columns=TIMING) for r in (record, off)]
    pd.testing.assert_frame_equal(*metrics)  # writing them consumes nothing random


class StopAfterTwoUpdates:
    """A preemption signal that arrives during the second update, handed over to nobody."""

    def __init__(self):
        self.asked = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass

    def requested(self) -> bool:
        self.asked += 1
        return self.asked >= 2

    def hand_over(self) -> None:
        pass


def test_a_resumed_run_holds_each_step_once_whatever_the_stopped_attempt_left(
    tmp_path, monkeypatch
):
    cfg = compose_run_config([*TINY, f"out_dir={tmp_path}", "checkpoints=4"])
    with monkeypatch.context() as patched:
        patched.setattr(attempt, "StopSignals", StopAfterTwoUpdates)
        assert run(cfg) == "preempted"
    record = only_record(tmp_path)
    stale = SummaryWriter(str(Record(record).tensorboard_dir))  # a killed attempt's later steps
    stale.add_scalar("kl_mean", 123.0, global_step=192)
    stale.close()
    assert run(cfg) == "done"
    events = logged(record)
    assert [step for step, _ in events["step"]] == [64, 128, 192, 256]
    assert events == expected(record)


def test_each_member_of_a_population_writes_its_own_event_files(tmp_path):
    members = [["algo=ppo", "seed=1"], ["algo=trpo", "delta=0.01", "seed=2"]]
    job = population_job([f"out_dir={tmp_path}", *TINY], members)
    result = subprocess.run([sys.executable, "experiments/run.py", *job], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    records = sorted((tmp_path / "single").iterdir())
    assert [r.name.split("-")[0] for r in records] == ["ppo", "trpo"]
    for record in records:
        assert len(list(Record(record).tensorboard_dir.glob("events.out.tfevents.*"))) == 1
        assert logged(record) == expected(record)
