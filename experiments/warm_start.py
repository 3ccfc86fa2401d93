"""Warm starts: a run that continues from a competent policy instead of a random one.

A policy that has learned something can lose it; one that never learned cannot. Starting
every algo × step size from the same trained policy (one per env × seed) spends no budget
on learning from scratch and keeps "never learned" apart from "collapsed". The starting
policy is trained by an ordinary run (its own record under <out_dir>/pretrain/, found by
its run id), so it is trained once, reused by every run that asks for it, resumed like
any run after a kill, and mirrored to W&B like the rest.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass

from omegaconf import OmegaConf, open_dict

from experiments.spec import RunSpec
from records.paths import CONF_DIR, PRETRAIN_SWEEP
from records.store import RunRecord, load_checkpoint

WAIT_S = 5.0  # how often a run waiting for another process's pretraining looks again


def pretrain_spec(spec: RunSpec) -> RunSpec:
    """The spec of the run that trains `spec`'s starting policy: the same env, seed and
    train settings, warm_start's algo with its defaults plus warm_start.params, from scratch."""
    pre = OmegaConf.create(spec.resolved)  # a copy: the spec is left as it is
    ws = pre.warm_start
    with open_dict(pre):
        pre.algo = OmegaConf.merge(OmegaConf.load(CONF_DIR / "algo" / f"{ws.algo}.yaml"), ws.params)
        pre.delta = pre.epsilon = pre.lr = None
        pre.total_steps = ws.total_steps
        pre.checkpoints = max(pre.checkpoints, 1)  # its last checkpoint is the starting policy
        pre.warm_start = {"algo": None, "total_steps": 0, "params": {}}
        pre.sweep.name = PRETRAIN_SWEEP
        pre.wandb.group = PRETRAIN_SWEEP
    return RunSpec.from_resolved(OmegaConf.to_container(pre, resolve=True))


@dataclass
class WarmStart:
    state: dict  # the pretrain run's last checkpoint
    run_id: str  # the pretrain run
    baseline_return: float  # the untrained policy's return: what a gain is measured against
    history_returns: list[float]  # the pretrain's last returns: the level the run starts at


def starting_state(spec: RunSpec, train_run: Callable[[RunSpec, bool], str]) -> WarmStart:
    """The starting policy of `spec`'s warm start, trained with `train_run` unless its record is
    done; waits while another process trains it. The baseline is the pretrain run's first
    finite return_mean; the history its last HISTORY return_means, so that the collapse
    rules see the level the policy had before this run's first update (one batch's return
    alone is a noisy reference)."""
    pre = pretrain_spec(spec)
    rid = pre.run_id
    record = RunRecord(pre.record_dir)
    waiting = False
    while not record.is_done():
        if record.lock.held_elsewhere():
            if not waiting:
                print(f"waiting for the starting policy {rid} (another process trains it)")
                waiting = True
            time.sleep(WAIT_S)
            continue
        status = train_run(pre, False)
        if status not in ("done", "locked"):
            reason = (record.status() or {}).get("reason")
            raise RuntimeError(f"warm start: pretrain run {rid} {status} ({reason})")
    checkpoint = record.last_checkpoint()
    if checkpoint is None:
        raise RuntimeError(f"warm start: pretrain run {rid} has no checkpoint (checkpoints=0?)")
    return WarmStart(
        load_checkpoint(checkpoint),
        rid,
        *record.starting_returns(),
    )
