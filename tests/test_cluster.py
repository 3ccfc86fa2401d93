"""The cluster path against a real SLURM (tests/single_node_slurm.py, started here from
nothing): a smoke sweep through hydra-submitit-launcher to its report, a run preempted by a
higher-priority job, and a run that reaches its time limit. Each interrupted run must be
requeued by SLURM, resume from its checkpoint and end frame-equal to an uninterrupted run.
And a Ray cluster started with `ray start --head`: a run whose worker is killed is retried
and resumes the same way.

`make test-cluster` runs these (root, and Debian's packages, which it installs if missing).
"""

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import pytest
from single_node_slurm import SingleNodeSlurm

from algos.metrics import TIMING
from records.paths import REPO_ROOT
from records.record import Record

pytestmark = pytest.mark.cluster

PYTHON = sys.executable
SUBMITIT = ".hydra/.submitit"


def free_ports(count: int, first: int = 16817) -> int:
    """A port p with p .. p + count - 1 free, below Linux's ephemeral range (from 32768), so
    that no outgoing connection of the daemons takes one of them meanwhile."""
    for port in range(first, 32768 - count):
        try:
            for offset in range(count):
                with socket.socket() as probe:
                    probe.bind(("0.0.0.0", port + offset))
        except OSError:
            continue
        return port
    raise RuntimeError(f"no {count} consecutive free ports below 32768")


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    with SingleNodeSlurm(tmp_path_factory.mktemp("slurm"), port=free_ports(4)) as started:
        yield started


def one_run_sweep(out_dir: Path, env: str, total_steps: int, launcher: list[str]) -> list[str]:
    """The overrides of a sweep of one PPO run (the smoke preset's grid replaced)."""
    return [
        "sweep=smoke", "~sweep.grids", "+sweep.grids={ppo:{epsilon:[0.2]}}", "sweep.seeds=[0]",
        f"sweep.envs=[{env}]", f"total_steps={total_steps}", "train.horizon=1024",
        "train.hidden=[64,64]", "wandb.mode=disabled", f"out_dir={out_dir}", *launcher,
    ]  # fmt: skip


def sweep_in_background(overrides: list[str], env: dict | None = None) -> subprocess.Popen:
    """The sweep started (env: a SLURM client's, for its launcher to find the cluster)."""
    return subprocess.Popen(
        [PYTHON, "experiments/run.py", "-m", *overrides], cwd=REPO_ROOT, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def wait_for_a_checkpoint(out_dir: Path, sweep: subprocess.Popen, timeout_s: float = 300) -> None:
    """Until the sweep's run has written its first checkpoint (the sweep still going)."""
    deadline = time.monotonic() + timeout_s
    while not list((out_dir / "smoke").glob("ppo-*/checkpoints/update_*.pt")):
        assert time.monotonic() < deadline and sweep.poll() is None, "no checkpoint came"
        time.sleep(0.2)


def uninterrupted(tmp_path: Path, env: str, total_steps: int) -> tuple[pd.DataFrame, float]:
    """The same run trained here, in one go: its metrics (timing aside) and wall time."""
    overrides = one_run_sweep(tmp_path / "alone", env, total_steps, ["hydra/launcher=basic"])
    subprocess.run([PYTHON, "experiments/run.py", "-m", *overrides], cwd=REPO_ROOT, check=True,
                   capture_output=True, timeout=600)  # fmt: skip
    record = the_record(tmp_path / "alone")
    status = Record(record).read_status()
    return metrics(record), status["wall_s"]


def metrics(record: Path) -> pd.DataFrame:
    return Record(record).written_metrics().drop(columns=TIMING)


def the_record(out_dir: Path) -> Path:
    (record,) = (out_dir / "smoke").glob("ppo-*")
    return record


def job_log(out_dir: Path) -> str:
    """Everything the sweep's SLURM jobs printed, attempt after attempt."""
    logs = sorted((out_dir / "smoke" / SUBMITIT).glob("*/*_log.out"))
    return "\n".join(path.read_text() for path in logs)


def in_order(text: str, patterns: list[str]) -> None:
    """Each pattern (a regex) matches `text` after the previous one's match."""
    at = 0
    for pattern in patterns:
        found = re.compile(pattern).search(text, at)
        assert found, f"{pattern!r} not found after position {at} of:\n{text[at : at + 3000]}"
        at = found.end()


def finished(process: subprocess.Popen, timeout_s: float) -> str:
    try:
        out, _ = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        raise
    assert process.returncode == 0, out[-3000:]
    assert "sweep finished: 1/1 done, 0 failed" in out, out[-3000:]
    return out


def test_the_smoke_sweep_runs_on_slurm_every_run_once_to_its_report(slurm, tmp_path):
    result = subprocess.run(
        ["make", "sweep", "SWEEP=smoke", "LAUNCHER=slurm", f"OUT_DIR={tmp_path}",
         f"REPORT_ARGS=report_dir={tmp_path / 'reports'}"],
        cwd=REPO_ROOT, env=slurm.env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    records = sorted((tmp_path / "smoke").glob("*-InvertedPendulum-v5-*"))
    assert len(records) == 16  # 5 algos' grids × 2 seeds
    for record in records:
        status = Record(record).read_status()
        assert status["status"] == "done" and "resumes" not in status, record.name
    done = re.findall(r"^done: (\S+)$", job_log(tmp_path), flags=re.MULTILINE)
    assert sorted(done) == [r.name for r in records]  # each trained once, by a SLURM job
    assert (tmp_path / "reports" / "smoke" / "index.html").exists()


def test_a_preempted_run_is_requeued_by_slurm_and_resumes_frame_equal(slurm, tmp_path):
    env, steps = "Hopper-v5", 98304  # 96 updates: long enough to be preempted in
    out = tmp_path / "cluster"
    sweep = sweep_in_background(one_run_sweep(
        out, env, steps, ["hydra/launcher=slurm", "hydra.launcher.timeout_min=60"]), slurm.env)  # fmt: skip
    wait_for_a_checkpoint(out, sweep)
    (job_id,) = slurm.client("squeue", "-h", "-p", "low", "-o", "%A").split()
    cpus = slurm.client("sinfo", "-h", "-o", "%c").strip()
    submitted = slurm.client(
        "sbatch", "-p", "high", "-c", cpus, "-o", "/dev/null", "--wrap", "sleep 1"
    )
    preemptor = submitted.split()[-1]
    expected, _ = uninterrupted(tmp_path, env, steps)  # on the other core meanwhile
    finished(sweep, 600)

    record = the_record(out)
    status = Record(record).read_status()
    assert status["status"] == "done" and status["resumes"] == 1
    pd.testing.assert_frame_equal(metrics(record), expected)
    deadline = time.monotonic() + 60  # the job's result comes back before its end is logged
    while f"_job_complete: JobId={job_id} done" not in slurm.log():
        assert time.monotonic() < deadline, slurm.log()[-3000:]
        time.sleep(0.5)
    in_order(slurm.log(), [  # the controller's side: signalled for the preemptor, requeued
        f"_slurm_rpc_submit_batch_job: JobId={preemptor} ",
        f"job_signal: {int(signal.SIGUSR2)} of running JobId={job_id} ",
        f"Requeuing JobId={job_id}\n", f"Allocate JobId={preemptor} ",
        f"(Allocate|Started) JobId={job_id} ", f"_job_complete: JobId={job_id} done",
    ])  # fmt: skip
    in_order(job_log(out), [  # the job's side: checkpointed, then requeued by submitit, resumed
        f"preempted: {record.name} \\(stopped by a signal after update {status['resumed_from']};",
        "Caught signal SIGUSR2 on .*: this job is preempted",
        f"Requeued job {job_id} ", f"{record.name}: resuming after update {status['resumed_from']}",
        f"done: {record.name}",
    ])  # fmt: skip


def test_a_run_that_reaches_its_time_limit_checkpoints_is_requeued_and_finishes(slurm, tmp_path):
    # SLURM signals a job signal_delay_s before its end, or up to its 30-s event cycle
    # earlier: 29-59 s after it starts in a 1-minute limit with a 1-s delay, and kills it a
    # cycle later. The run takes longer than that.
    env, steps = "Hopper-v5", 393216
    out = tmp_path / "cluster"
    sweep = sweep_in_background(one_run_sweep(out, env, steps, [
        "hydra/launcher=slurm", "hydra.launcher.timeout_min=1",
        "hydra.launcher.signal_delay_s=1", "hydra.launcher.max_num_timeout=6",
    ]), slurm.env)  # fmt: skip
    expected, wall_s = uninterrupted(tmp_path, env, steps)  # on the other core meanwhile
    assert wall_s > 60, f"the run takes {wall_s:.0f} s here: too short to reach its time limit"
    finished(sweep, 900)

    record = the_record(out)
    status = Record(record).read_status()
    assert status["status"] == "done" and status["resumes"] >= 1
    pd.testing.assert_frame_equal(metrics(record), expected)
    log = job_log(out)
    in_order(log, [
        f"preempted: {record.name} \\(stopped by a signal after update",
        "Caught signal SIGUSR2 on .*: this job is timed-out", r"\(5 remaining timeouts\)",
        f"{record.name}: resuming after update", f"done: {record.name}",
    ])  # fmt: skip
    assert log.count("resuming after update") == status["resumes"]


@pytest.fixture
def ray_head():
    """A Ray cluster of its own, started as a user would (`ray start --head`). `ray stop`
    stops every Ray of this machine, so none may be running before."""
    ray = Path(sys.executable).with_name("ray")
    running = subprocess.run(["pgrep", "-f", "raylet|gcs_server"], capture_output=True, text=True)
    assert not running.stdout.strip(), "a Ray is running on this machine already: stop it first"
    port = free_ports(1, first=26379)
    # Its sockets and logs apart from any other Ray here, in a path short enough for a socket.
    with tempfile.TemporaryDirectory(prefix="ray", dir="/tmp") as temp_dir:
        started = subprocess.run(
            [ray, "start", "--head", f"--port={port}", "--node-ip-address=127.0.0.1",
             "--num-cpus=2", "--disable-usage-stats", "--include-dashboard=false",
             f"--temp-dir={temp_dir}"], capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert started.returncode == 0, started.stderr[-3000:]
        try:
            yield f"127.0.0.1:{port}"
        finally:
            subprocess.run([ray, "stop", "--force"], capture_output=True, timeout=120)


def test_a_ray_worker_killed_mid_run_is_retried_and_the_run_resumes_frame_equal(ray_head, tmp_path):
    env, steps = "Hopper-v5", 98304
    out = tmp_path / "cluster"
    sweep = sweep_in_background(one_run_sweep(out, env, steps, [
        "hydra/launcher=ray_cluster", f"hydra.launcher.ray.init.address={ray_head}"]))  # fmt: skip
    wait_for_a_checkpoint(out, sweep)
    record = the_record(out)
    worker = Record(record).read_status()["pid"]  # the Ray worker training it
    os.kill(worker, signal.SIGKILL)
    expected, _ = uninterrupted(tmp_path, env, steps)  # on the other core meanwhile
    out_text = finished(sweep, 600)

    status = Record(record).read_status()
    assert status["status"] == "done" and status["resumes"] == 1 and status["pid"] != worker
    pd.testing.assert_frame_equal(metrics(record), expected)
    assert f"took over stale lock of {socket.getfqdn().split('.')[0]}:{worker}" in out_text
