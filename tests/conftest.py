"""Shared fixtures: tiny networks and synthetic batches with a known structure."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from algos.policy import GaussianActor, gaussian_log_prob
from algos.rollout import Batch


def make_batch(actor: GaussianActor, n: int, seed: int) -> Batch:
    """A batch as the collector would build it: actions drawn from `actor` itself."""
    g = torch.Generator().manual_seed(seed)
    obs_dim = actor.mean_net[0].in_features
    dtype = actor.log_std.dtype
    obs = torch.randn(n, obs_dim, generator=g, dtype=dtype)
    with torch.no_grad():
        mean, log_std = actor.frozen(obs)
        actions = mean + log_std.exp() * torch.randn(mean.shape, generator=g, dtype=dtype)
        logp = gaussian_log_prob(mean, log_std, actions)
    advantages = torch.randn(n, generator=g, dtype=dtype)
    advantages = (advantages - advantages.mean()) / advantages.std()
    returns = torch.randn(n, generator=g, dtype=dtype)
    return Batch(
        obs=obs, actions=actions, logp_old=logp, mean_old=mean, log_std_old=log_std,
        advantages=advantages, returns=returns, values=torch.zeros(n),
        episode_returns=np.array([]), episode_lengths=np.array([]), steps=n,
    )  # fmt: skip


@pytest.fixture
def tiny_actor() -> GaussianActor:
    torch.manual_seed(0)
    actor = GaussianActor(obs_dim=3, act_dim=2, hidden=(8,), init_log_std=-0.5)
    with torch.no_grad():  # a non-trivial mean function, not the near-zero init
        actor.mean_net[-1].weight.mul_(50.0)
    return actor


ROOT = Path(__file__).resolve().parent.parent


def poisoned_step(self, batch, generator):
    """An update rule's step that makes the policy non-finite: the run must diverge."""
    with torch.no_grad():
        self.actor.log_std.fill_(float("nan"))
    return {"policy_loss": 0.0, "grad_norm": 0.0}


@classmethod
def poisoned_step_together(cls, updates, batches, generators):
    """`poisoned_step` for a rule whose population steps together (PPO's): every member diverges."""
    return [poisoned_step(u, b, g) for u, b, g in zip(updates, batches, generators, strict=True)]


@pytest.fixture(autouse=True)
def own_wandb_service(monkeypatch):
    """Each process its own W&B service, as from a shell: an in-process W&B run leaves
    WANDB_SERVICE in os.environ, and a subprocess inheriting it would share that service."""
    monkeypatch.delenv("WANDB_SERVICE", raising=False)


def sweep_command(out_dir: Path, *overrides: str) -> list[str]:
    return [sys.executable, "experiments/run.py", "-m", f"out_dir={out_dir}", *overrides]


@pytest.fixture(scope="session")
def smoke_sweep(tmp_path_factory) -> Path:
    """The smoke preset run once, uninterrupted: 3 algos × 2 step sizes × 2 seeds."""
    out_dir = tmp_path_factory.mktemp("smoke")
    result = subprocess.run(
        sweep_command(out_dir, "sweep=smoke"), cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return out_dir


def run_cli(main, monkeypatch, *argv: str):
    """A Hydra entry point called in-process, as `python <script> argv...` from the repo root."""
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr("sys.argv", ["cli", *argv])
    return main()
