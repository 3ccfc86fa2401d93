"""The per-update metrics, each name with its meaning: one declaration for the training
loop, the run record, the W&B mirror and the analysis (which imports it without pulling in
torch). Every row has every column (NaN where a metric does not apply to the update rule),
so all records share one schema."""

METRICS = {
    "step": "env steps so far",
    "update": "policy updates so far (1-based)",
    "return_mean": "mean return of the episodes that finished in this update's batch",
    "return_std": "their standard deviation",
    "episode_length": "their mean length",
    "episodes": "how many finished",
    "kl_mean": "exact KL(π_old‖π_new) of the update, averaged over the batch's states (nats)",
    "kl_max": "its largest per-state value",
    "kl_shift": "the part of kl_mean spent moving the action mean: mean_s Σ_i Δμ_i² / (2σ_new,i²)",
    "kl_scale": "the part spent changing the action spread: kl_mean − kl_shift (closed form, ≥ 0)",
    "kl_quadratic": "½ΔθᵀFΔθ: the second-order (Fisher) model of kl_mean for the same update",
    "kl_model_ratio": "kl_mean / kl_quadratic: 1 where the quadratic model of the KL holds",
    "kl_full_step": "exact mean KL of TRPO's or NPG's full natural-gradient step, before any line search",
    "kl_k3": "the k3 sample estimate of kl_mean (Schulman's low-variance estimator)",
    "kl_reverse_mean": "exact KL(π_new‖π_old), averaged over the batch's states",
    "kl_behaviour": "exact KL between the policy that collected this batch and the one that collects the next, "
    "observation normaliser included, averaged over this batch's states (nats): the dose the agent receives",
    "kl_normaliser": "the part of that the observation normaliser alone makes: KL(π_old under the old statistics‖"
    "π_old under the statistics updated with this batch)",
    "kl_reported": "the KL estimate the training code logged itself, for runs of other libraries: "
    "Stable-Baselines3 PPO's train/approx_kl (the k3 estimate over its minibatches, each before its step, "
    "averaged), sb3-contrib TRPO's train/kl_divergence_loss (its accepted step's KL on the batch), or what a "
    "loop logged; NaN for the suite's own runs, which measure kl_mean exactly",
    "ratio_min": "smallest probability ratio π_new/π_old over the batch",
    "ratio_max": "largest probability ratio over the batch",
    "clip_frac": "share of PPO's minibatch ratios outside [1−ε, 1+ε]",
    "entropy": "mean entropy of the policy after the update",
    "policy_loss": "the update rule's loss (the negative surrogate)",
    "value_loss": "the critic's mean squared error in its fit",
    "explained_variance": "how much of the returns' variance the critic explains",
    "grad_norm": "norm of the policy gradient",
    "step_norm": "‖θ_new − θ_old‖ of the actor's parameters",
    "ls_steps": "TRPO's line-search shrinkings",
    "ls_accepted": "whether TRPO's line search accepted a step (1) or kept θ_old (0)",
    "cg_residual": "TRPO's conjugate-gradient residual",
    "kl_coef": "PPO's KL-penalty coefficient β",
    "epochs_run": "PPO's epochs over the batch actually run (fewer when its KL early stop ends them)",
    "eval_return": "mean return of deterministic evaluation episodes (when train.eval_every)",
    "sps": "env steps per second of this update",
    "rollout_s": "seconds collecting the batch (in a population: its share of the shared rollout)",
    "update_s": "seconds updating policy and critic (in a population: its policy update and its share of the critics' fit)",
}

TIMING = ["sps", "rollout_s", "update_s"]  # wall-clock measurements: never equal twice
