"""W&B faults lose nothing: online with no API key is one line before anything starts; online
with a key but no W&B to reach waits a bounded time, then logs offline and says so."""

import os
import subprocess
import sys
import time

import experiments.wandb_mirror
from experiments.run import run
from experiments.validate import compose_run_config
from records.paths import REPO_ROOT

TINY = ["algo=pg", "env=InvertedPendulum-v5", "total_steps=256", "train.horizon=128",
        "train.hidden=[8]"]  # fmt: skip


def test_online_without_an_api_key_is_one_line_and_writes_no_record(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WANDB_", "NETRC"))}
    env["HOME"] = str(tmp_path / "home")  # no .netrc, no wandb settings file
    result = subprocess.run(
        [sys.executable, "experiments/run.py", *TINY, "wandb.mode=online", f"out_dir={tmp_path}"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert "needs a W&B API key" in line and "wandb login" in line and "wandb.mode=offline" in line
    assert not (tmp_path / "single").exists()


def test_online_with_a_key_but_no_w_and_b_to_reach_goes_on_offline(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("WANDB_API_KEY", "a" * 40)
    monkeypatch.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setattr(experiments.wandb_mirror, "ONLINE_WAIT_S", 3)
    started = time.monotonic()
    cfg = compose_run_config([*TINY, "wandb.mode=online", f"out_dir={tmp_path}"])
    assert run(cfg, show_progress=False) == "done"
    assert time.monotonic() - started < 90
    assert "did not answer within 3 s" in capsys.readouterr().out
    (record,) = (tmp_path / "single").iterdir()
    assert list((record / "wandb").glob("offline-run-*/run-*.wandb"))
