"""Nothing lost to a kill or a preemption: a run continues from its last checkpoint and ends
exactly as an uninterrupted run does (Hopper-v5: MuJoCo's state restored), each update
once in its record, one W&B run id across its attempts."""

import io
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
import torch

from algos.metrics import TIMING
from algos.rollout import RolloutCollector
from algos.train import TrainConfig, train
from experiments import wandb_mirror
from experiments.run import run
from experiments.stop_signals import StopSignals
from experiments.validate import compose_run_config
from records.record import Record, records_under
from records.store import RunRecord
from tests.conftest import ROOT

HOPPER = ["algo=ppo", "env=Hopper-v5", "total_steps=3072", "train.horizon=256",
          "train.hidden=[16]", "train.value_epochs=2", "checkpoints=4", "progress=false"]  # fmt: skip


def metrics(out_dir) -> pd.DataFrame:
    (record,) = records_under(out_dir / "single")
    return record.written_metrics().drop(columns=TIMING)


def status(out_dir) -> dict:
    (record,) = records_under(out_dir / "single")
    return record.read_status()


def start_run(out_dir) -> subprocess.Popen:
    command = [sys.executable, "experiments/run.py", *HOPPER, f"out_dir={out_dir}"]
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def finish_run(out_dir) -> str:
    done = subprocess.run([sys.executable, "experiments/run.py", *HOPPER, f"out_dir={out_dir}"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def wait_for(path_glob, out_dir, timeout=120.0) -> None:
    deadline = time.time() + timeout
    while not list(out_dir.glob(path_glob)):
        assert time.time() < deadline, f"no {path_glob} after {timeout} s"
        time.sleep(0.02)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("whole")
    finish_run(out)
    return metrics(out)


def test_a_run_killed_after_a_checkpoint_resumes_to_the_uninterrupted_result(
    uninterrupted, tmp_path
):
    run = start_run(tmp_path)
    wait_for("single/*/checkpoints/update_6.pt", tmp_path)
    run.kill()  # SIGKILL: no handler, no last words
    run.wait(timeout=30)
    assert status(tmp_path)["status"] == "running"
    out = finish_run(tmp_path)
    assert "resuming after update" in out
    pd.testing.assert_frame_equal(metrics(tmp_path), uninterrupted, check_exact=True)
    assert status(tmp_path)["resumes"] == 1 and status(tmp_path)["status"] == "done"
    offline = list(tmp_path.glob("single/*/wandb/offline-run-*"))
    assert len(offline) == 2 and len({p.name.rsplit("-", 1)[1] for p in offline}) == 1


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGUSR2])
def test_a_preemption_signal_checkpoints_at_the_next_update_and_the_requeued_run_resumes(
    uninterrupted, tmp_path, signum
):
    run = start_run(tmp_path)
    wait_for("single/*/checkpoints/update_3.pt", tmp_path)
    run.send_signal(signum)
    assert run.wait(timeout=60) == -signum  # the signal's own course after the checkpoint
    stopped = status(tmp_path)
    assert (
        stopped["status"] == "preempted" and "stopped by a signal after update" in stopped["reason"]
    )
    last = RunRecord(next(tmp_path.glob("single/*"))).last_checkpoint()
    assert f"update_{stopped['updates']}.pt" == last.name  # checkpoint = the last recorded update
    assert "resuming after update" in finish_run(tmp_path)
    pd.testing.assert_frame_equal(metrics(tmp_path), uninterrupted, check_exact=True)


@pytest.mark.parametrize(
    "algo, params", [("pg", {}), ("trpo", {}), ("ppo", {"objective": "kl_adaptive"})]
)
def test_every_update_rule_continues_bit_identically_from_a_checkpoint(algo, params):
    config = TrainConfig(env_id="Hopper-v5", seed=3, total_steps=256 * 6, horizon=256,
                         hidden=(16,), value_epochs=2, algo=algo, algo_params=params)  # fmt: skip
    whole, saved = [], {}

    def keep(update, state):  # serialised at once, as the record does
        buffer = io.BytesIO()
        torch.save(state, buffer)
        saved[update] = buffer.getvalue()

    train(config, whole.append, checkpoints=2, on_checkpoint=keep)
    continued = []
    state = torch.load(io.BytesIO(saved[3]), weights_only=False)
    train(config, continued.append, resume_state=state)
    expected = pd.DataFrame(whole[3:]).drop(columns=TIMING)
    pd.testing.assert_frame_equal(pd.DataFrame(continued).drop(columns=TIMING), expected)


def test_a_failed_or_finished_record_is_not_resumed_but_a_stopped_one_is(tmp_path):
    record = RunRecord(tmp_path / "r")
    record.dir.mkdir()
    record.config_path.write_text("run_id: r\n")
    record.append({"update": 1, "step": 128}, flush=False)
    record.append({"update": 2, "step": 256}, flush=False)
    record.save_checkpoint(2, {"update": 2, "collector": None})
    refused = "RecordNotWritten: metrics.parquet not written: No space left on device"
    for state, reason, resumable in (
        ("running", None, True), ("interrupted", None, True), ("preempted", None, True),
        ("failed", "DivergenceError: non-finite loss", False), ("failed", refused, True),
        ("done", None, False),
    ):  # fmt: skip
        record.write_status(state, reason)
        assert (record.resume_state()[0] is not None) == resumable, (state, reason)


def test_an_env_that_cannot_be_restored_continues_with_fresh_episodes():
    collector = RolloutCollector("Pendulum-v1", 1, 8, 0, 0.99, 0.95, True, True)
    state = collector.state_dict()
    assert state["envs"] == [None] and collector.load_state_dict(state) is False
    collector.close()


def test_a_stop_signal_is_noted_and_then_handed_to_the_handler_before_it():
    seen = []
    previous = signal.signal(signal.SIGUSR2, lambda signum, frame: seen.append(signum))
    try:
        with StopSignals() as signals:
            os.kill(os.getpid(), signal.SIGUSR2)
            assert signals.requested() and seen == []  # noted, nothing else yet
        signals.hand_over()  # after the checkpoint: submitit's requeue would run here
        assert seen == [signal.SIGUSR2]
    finally:
        signal.signal(signal.SIGUSR2, previous)


def test_when_wandb_will_not_continue_a_run_the_mirror_starts_a_new_one(tmp_path, monkeypatch):
    real_init = wandb_mirror.wandb.init

    def refusing(**kwargs):  # as W&B does while a killed attempt's service holds the id
        if kwargs.get("id"):
            raise RuntimeError(f"run ID {kwargs['id']} is in use")
        return real_init(**kwargs)

    monkeypatch.setattr(wandb_mirror.wandb, "init", refusing)
    mirror = wandb_mirror.WandbMirror("offline", "p", None, "g", "n", tmp_path, {}, [], "abc")
    assert mirror.resumed is False and mirror.run.id != "abc"
    mirror.run.finish()


def test_a_stopped_run_whose_checkpoint_predates_resume_starts_afresh(tmp_path):
    cfg = compose_run_config(["env=InvertedPendulum-v5", "total_steps=512",
                                        "train.horizon=128", "train.hidden=[8]", "checkpoints=2",
                                        "wandb.mode=disabled", f"out_dir={tmp_path}"])  # fmt: skip
    assert run(cfg, show_progress=False) == "done"
    record = RunRecord(next((tmp_path / "single").iterdir()))
    old = torch.load(record.last_checkpoint(), weights_only=False)
    del old["collector"], old["kl_coef"]  # what a checkpoint held before runs could resume
    record.save_checkpoint(2, old)
    record.last_checkpoint().unlink()  # update_4: the attempt "stopped" after update 2
    record.write_status("running")
    assert run(cfg, show_progress=False) == "done"
    assert "resumes" not in record.read_status()
    assert len(record.written_metrics()) == 4


@pytest.mark.parametrize(
    "damage, says",
    [
        (f"{Record.CHECKPOINTS_DIR}/update_4.pt", "passed over damaged update_4.pt ("),
        (Record.METRICS_FILE, "its record is damaged ("),
        (Record.STATUS_FILE, f"{Record.STATUS_FILE} is damaged: the run starts over"),
    ],
)
def test_a_stopped_run_with_a_damaged_file_resumes_from_what_is_intact_or_starts_over(
    tmp_path, capsys, damage, says
):
    cfg = compose_run_config(["env=InvertedPendulum-v5", "total_steps=512", "train.horizon=128",
                              "train.hidden=[8]", "checkpoints=2", "wandb.mode=disabled",
                              f"out_dir={tmp_path}"])  # fmt: skip
    assert run(cfg, show_progress=False) == "done"
    record = RunRecord(next((tmp_path / "single").iterdir()))
    whole = record.written_metrics().drop(columns=TIMING)
    record.write_status("running")  # as if killed after its last checkpoint
    path = record.dir / damage
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])  # truncated mid-write
    capsys.readouterr()
    assert run(cfg, show_progress=False) == "done"
    out = capsys.readouterr().out
    assert says in out and "Traceback" not in out
    assert ("resuming after update 2" in out) == damage.startswith("checkpoints")
    again = record.written_metrics().drop(columns=TIMING)
    pd.testing.assert_frame_equal(again, whole, check_exact=True)
