"""The run record's schema, declared once with what each name means. A record is
<out_dir>/<sweep>/<run_id>/ holding

  config.yaml      the resolved Hydra config plus CONFIG_KEYS
  metrics.parquet  one row per policy update: METRICS (algos.metrics), every column in every row
  status.json      STATUS_KEYS
  lock             who is training it now, and its holder's claim file lock|<host>|<pid>|<n>
                   (records.lock; both gone once the run stops)
  checkpoints/     update_<k>.pt: the full training state at update k (algos.train.Learner)
  wandb/           the W&B run (experiments.wandb_mirror)
  tensorboard/     the metrics as TensorBoard event files at global_step = step (records.tensorboard)

A record of code the suite did not write (monitor.record) has no checkpoints; its
config.yaml names algo.variant and its library (source.library).

The files' names are known to records.record.Record alone, which every reader and the
writer (records.store.RunRecord) open; the keys in them are declared here, and the writer
(experiments/run.py through records.store) and the readers (records.load, the W&B mirror's
summary) take them from here; a test holds both to it.
"""

from algos.metrics import METRICS

STATUSES = {
    "running": "an attempt is training it, or was killed while it did: resumes from its last checkpoint",
    "done": "trained to its last update",
    "failed": "stopped by an error (the reason says which); a re-run starts afresh, as the error would recur, but resumes one whose record could not be written (reason RecordNotWritten: a full disk, a permission)",
    "interrupted": "stopped by Ctrl-C after a checkpoint: resumes",
    "preempted": "stopped by SIGTERM/SIGUSR2 after a checkpoint: resumes",
}
STOPPED = ("running", "interrupted", "preempted")  # statuses of an attempt that can continue

STATUS_KEYS = {
    "status": "one of STATUSES",
    "reason": "why it failed or stopped (null when done)",
    "started_at": "UTC time the run (its first attempt) started",
    "host": "the machine of the latest attempt",
    "pid": "its process id",
    "git_sha": "the commit the code was at (null outside a git checkout)",
    "versions": "python, torch, gymnasium, mujoco, numpy, hydra and wandb versions",
    "numerics": "how the latest attempt computed: reproducible mode or not, the CPU, torch's and numpy's kernels (records.numerics)",
    "argv": "the command line of the latest attempt",
    "wandb_id": "the W&B run it is mirrored to",
    "resumes": "how many times a stopped attempt was continued (absent: never)",
    "resumed_from": "the update the latest resume continued after",
    "population": "how many runs its latest attempt trained side by side, itself included (absent: alone)",
    "updated_at": "UTC time of this write",
    "wall_s": "seconds spent training, over all attempts",
    "updates": "policy updates recorded",
    "steps": "env steps recorded",
}
STATUS_FIELDS = ("status", "reason", "wall_s", "git_sha", "versions")
"""What a run row takes from status.json; the W&B mirror puts the same in its run's summary."""

CONFIG_KEYS = {
    "run_id": "the run's id: readable prefix + hash of its scientific config (experiments.spec)",
    "step_size_key": "the hyperparameter that sizes its updates (delta, epsilon, lr or target_kl)",
    "step_size": "that hyperparameter's value",
}
HISTORY = 10  # the starting policy's last returns a warm-started run carries as its history
WARM_START_KEYS = {
    "warm_start_run": "the run that trained its starting policy (warm-started runs only)",
    "baseline_return": "that run's first return: the untrained policy a gain is measured from",
    "history_returns": "that run's last returns: the level this run starts at",
}
"""What a record adds to the resolved Hydra config in its config.yaml (WARM_START_KEYS only
when it was warm-started)."""

RUN_COLUMNS = {
    "run_id": CONFIG_KEYS["run_id"],
    "sweep": "the sweep it belongs to (sweep.name; single for a lone run)",
    "algo": "the algo's name in the registry (algos.registry)",
    "variant": "the update rule as a researcher names it (pg_sgd, ppo_none, ...)",
    "env": "the gymnasium id",
    "seed": "its seed",
    "step_size_key": CONFIG_KEYS["step_size_key"],
    "step_size": CONFIG_KEYS["step_size"],
    "total_steps": "its budget in env steps",
    "status": STATUS_KEYS["status"],
    "reason": STATUS_KEYS["reason"],
    "diverged": "failed with a non-finite loss, KL or parameter (counts as collapsed)",
    "updates": STATUS_KEYS["updates"],
    "steps": STATUS_KEYS["steps"],
    "baseline_return": WARM_START_KEYS["baseline_return"] + " (NaN: not warm-started)",
    "history_returns": WARM_START_KEYS["history_returns"],
    "warm_start_run": WARM_START_KEYS["warm_start_run"],
    "impl": "the code-level optimisations it had, named by the nearest conf/impl preset",
    "wall_s": STATUS_KEYS["wall_s"],
    "git_sha": STATUS_KEYS["git_sha"],
    "versions": STATUS_KEYS["versions"],
}
"""One row per run, as records.load builds it from config.yaml, status.json and the metrics."""

UPDATE_LABELS = ("run_id", "algo", "variant", "env", "seed", "step_size")
"""The run columns each row of the per-update frame carries beside METRICS."""

__all__ = ["METRICS", "STATUSES", "STOPPED", "STATUS_KEYS", "STATUS_FIELDS", "CONFIG_KEYS",
           "HISTORY", "WARM_START_KEYS", "RUN_COLUMNS", "UPDATE_LABELS"]  # fmt: skip
