"""The per-update metric names: one list for the training loop, the run record, the W&B
mirror and the analysis (which imports it without pulling in torch)."""

METRICS = (
    "step", "update", "return_mean", "return_std", "episode_length", "episodes",
    "kl_mean", "kl_max", "kl_k3", "kl_reverse_mean", "ratio_min", "ratio_max", "clip_frac",
    "entropy", "policy_loss", "value_loss", "explained_variance", "grad_norm", "step_norm",
    "ls_steps", "ls_accepted", "cg_residual", "kl_coef", "eval_return",
    "sps", "rollout_s", "update_s",
)  # fmt: skip
"""Every row has every column (NaN where a metric does not apply), so all records share a schema."""
