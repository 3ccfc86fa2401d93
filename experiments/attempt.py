"""Training runs, alone or side by side: each run's attempt claims its record, opens its W&B
run, its TensorBoard event files and its progress bar, and closes them with the status its
training ended in.

Runs trained side by side (a population: `train_runs` with several specs) share one process
and one loop (algos.train.train_together); each keeps its own record, checkpoints, W&B run,
resume and failure. A run alone is a population of one.
"""

from tqdm import tqdm

from algos.minibatch_step import use_compiled
from algos.registry import variant
from algos.train import Member, Preempted, train_together
from algos.train import population_key as key_of
from experiments.spec import RunSpec
from experiments.stop_signals import StopSignals
from experiments.wandb_mirror import WandbMirror
from experiments.warm_start import pretrain_spec, starting_state
from records import tensorboard
from records.lock import LockLost, RunLocked
from records.store import RecordNotWritten, RunRecord


class Attempt:
    """One attempt at training one run: what its Member reports to."""

    def __init__(self, spec: RunSpec, record: RunRecord, begun: tuple, show_progress: bool,
                 position: int):  # fmt: skip
        self.spec, self.record = spec, record
        stored, start_state, resume_state = begun
        cfg, rid = spec.resolved, spec.run_id
        wandb = cfg["wandb"]
        self.mirror = WandbMirror(
            wandb["mode"], wandb["project"], wandb["entity"], wandb["group"] or spec.sweep,
            rid, record.dir, stored | {"variant": variant(stored["algo"])}, spec.tags,
            record.meta.get("wandb_id"),
        )  # fmt: skip
        if (
            resume_state is not None and not self.mirror.resumed
        ):  # a new W&B run: the updates so far
            for row in record.rows:
                self.mirror.log(row)
        record.meta["wandb_id"] = self.mirror.run.id
        try:
            self.tensorboard = tensorboard.opened(record.tensorboard_dir, cfg["tensorboard"])
            if self.tensorboard:
                for row in record.rows:  # a resumed run's updates so far (a new run has none)
                    self.tensorboard.log(row)
            record.write_status("running")
        except RecordNotWritten:
            self.mirror.abandon()
            raise
        done = resume_state["update"] if resume_state else 0
        self.bar = tqdm(total=spec.config.num_updates, initial=done, unit="update", desc=rid,
                        disable=not show_progress, position=position)  # fmt: skip
        self.member = Member(spec.config, self.on_update, start_state, cfg["checkpoints"],
                             record.save_checkpoint, resume_state)  # fmt: skip

    @classmethod
    def open(cls, spec: RunSpec, show_progress: bool, position: int = 0) -> "Attempt | str":
        """The attempt, or the run's status when there is nothing to train: `done` (its
        record is), `locked` (another process trains it), `failed` (no starting policy, or
        a record the machine will not let it write: records.store.RecordNotWritten)."""
        rid = spec.run_id
        record = RunRecord(spec.record_dir)
        if record.is_done():
            print(f"skip {rid}: already done ({record.dir})")
            return "done"
        try:
            note = record.claim()
        except RunLocked as locked:
            print(f"skip {locked}")
            return "locked"
        except RecordNotWritten as unwritten:  # not claimed: its record is left as it was
            print(f"failed: {rid} ({type(unwritten).__name__}: {unwritten})\nrecord: {record.dir}")
            return "failed"
        if note:
            print(f"{rid}: {note}")
        try:
            begun = begin_attempt(spec, record)
            if begun is None:
                return "failed"
            return cls(spec, record, begun, show_progress, position)
        except RecordNotWritten as unwritten:
            return ended(spec, record, record.end_unwritten(unwritten))

    def on_update(self, row: dict) -> None:
        self.record.append(row, flush=row["update"] % self.spec.resolved["flush_every"] == 0)
        self.mirror.log(row)
        if self.tensorboard:
            self.tensorboard.log(row)
        self.bar.update()
        self.bar.set_postfix(return_mean=f"{row['return_mean']:.1f}",
                             kl_mean=f"{row['kl_mean']:.2e}")  # fmt: skip

    def close(self, error: BaseException | None) -> str:
        """Write the record's final status (and the W&B run's) for how training ended."""
        status, reason = "done", None
        if isinstance(error, Preempted):
            status, reason = "preempted", str(error)
        elif isinstance(error, LockLost):
            status, reason = "lost", str(error)
        elif isinstance(error, KeyboardInterrupt):
            status, reason = "interrupted", "interrupted (Ctrl-C); resumes from its last checkpoint"
        elif error is not None:  # recorded as the run's failure; a sweep goes on
            status, reason = "failed", f"{type(error).__name__}: {error}"
        self.bar.close()
        if self.tensorboard:
            status, reason = self.tensorboard.close_ending(status, reason)
        if status == "lost":  # the record is the other attempt's now: nothing is written
            self.mirror.abandon()
            self.record.release()
            print(f"{status}: {self.spec.run_id} ({reason})\nrecord: {self.record.dir}")
            return status
        body = self.record.finish(status, reason)
        self.mirror.finish(body)
        return ended(self.spec, self.record, body)


def train_runs(specs: list[RunSpec], show_progress: bool = True) -> list[str]:
    """Train these runs side by side unless their records are done; returns each one's
    final status. Starting policies that warm-started runs need and that no record holds
    yet are trained first, side by side too. Runs that compile their steps
    (algos.minibatch_step.use_compiled) and runs that do not are two populations."""
    if not specs:
        return []
    parts: dict[bool, list[RunSpec]] = {}
    for spec in specs:
        parts.setdefault(compiles(spec), []).append(spec)
    if len(parts) > 1:
        statuses = {}
        for part in parts.values():
            statuses |= dict(zip([s.run_id for s in part], train_runs(part, show_progress),
                                 strict=True))  # fmt: skip
        return [statuses[spec.run_id] for spec in specs]
    pretrains = {}
    for spec in specs:
        if spec.config.warm_start and not RunRecord(spec.record_dir).is_done():
            pre = pretrain_spec(spec)
            pretrains.setdefault(pre.run_id, pre)
    if len(pretrains) > 1:
        train_runs(list(pretrains.values()), show_progress=False)
    opened = [Attempt.open(spec, show_progress, i) for i, spec in enumerate(specs)]
    attempts = [a for a in opened if isinstance(a, Attempt)]
    if len(attempts) > 1:
        for attempt in attempts:
            attempt.record.meta["population"] = len(attempts)
    compiled = compiles(specs[0])
    errors: list[BaseException | None] = []
    with StopSignals() as signals:
        try:
            errors = train_together([a.member for a in attempts], signals.requested, compiled)
        except KeyboardInterrupt as interrupt:
            for attempt in attempts:
                attempt.close(interrupt)
            raise
        closed = iter([a.close(e) for a, e in zip(attempts, errors, strict=True)])
    statuses = [next(closed) if isinstance(a, Attempt) else a for a in opened]
    if "preempted" in statuses:
        signals.hand_over()
    return statuses


def compiles(spec: RunSpec) -> bool:
    """Whether the run compiles PPO's minibatch steps."""
    return use_compiled(spec.resolved["compile"], spec.config.num_updates)


def population_key(spec: RunSpec) -> tuple:
    """What runs trained side by side must share (algos.train.population_key), and whether
    they compile their steps."""
    return (*key_of(spec.config), compiles(spec))


def train_run(spec: RunSpec, show_progress: bool = True) -> str:
    """Train the run `spec` describes unless its record is done; returns its final status."""
    return train_runs([spec], show_progress)[0]


def begin_attempt(spec: RunSpec, record: RunRecord) -> tuple | None:
    """(the config the record holds, the warm start's state, the run's own checkpoint to
    resume from): a stopped attempt with a checkpoint continues from it; otherwise the run
    starts afresh, warm-started if it asks. None when its starting policy could not be had
    (recorded as failed)."""
    resume_state, note = record.resume_state()
    if note:
        print(f"{spec.run_id}: {note}")
    if resume_state is not None:
        record.resume(resume_state["update"])
        print(f"{spec.run_id}: resuming after update {resume_state['update']}")
        return record.config, None, resume_state
    if not spec.config.warm_start:
        stored = spec.stored_config()
        record.start(stored)
        return stored, None, None
    try:
        warm = starting_state(spec, train_run)
    except Exception as error:  # the run cannot start: recorded as failed, a sweep goes on
        record.start(spec.stored_config())
        ended(spec, record, record.finish("failed", f"{type(error).__name__}: {error}"))
        return None
    stored = spec.stored_config(warm_start_run=warm.run_id, baseline_return=warm.baseline_return,
                                history_returns=warm.history_returns)  # fmt: skip
    record.start(stored)
    return stored, warm.state, None


def ended(spec: RunSpec, record: RunRecord, status_body: dict) -> str:
    """Release the run's record and say in one line how its attempt ended, as its status
    says; returns the status."""
    record.release()
    status, reason = status_body["status"], status_body["reason"]
    print(
        f"{status}: {spec.run_id}" + (f" ({reason})" if reason else "") + f"\nrecord: {record.dir}"
    )
    return status
