"""A Stable-Baselines3 callback that measures every policy update exactly and writes the
suite's run record: PPO, A2C, sb3-contrib's TRPO, or any on-policy algorithm whose policy's
action distribution is a diagonal Gaussian.

    model = PPO("MlpPolicy", env)
    run = ForeignRun("runs", "mine", "Hopper-v5", seed=1, algo="sb3_ppo",
                     hyperparameters=hyperparameters(model), step_size_key="learning_rate",
                     library=LIBRARY)
    model.learn(100_000, callback=ExactKLCallback(run))

When each rollout ends (before `train()`), the policy's action distribution on the batch's
states is kept; when the next rollout starts (after `train()`), the new policy's is taken on
the same states, and the update's row is written: kl_mean, kl_max and the other update
sizes (monitor.measure), SB3's own logged estimate as kl_reported, its losses, and the
returns of the episodes that finished in the batch. With a VecNormalize that normalises
observations, whose statistics move at every step, each state of the batch was acted on
as the buffer holds it (normalised with the statistics of that moment), and the next batch
begins with the new parameters under the statistics the rollout ended with: kl_behaviour
is the KL between the two on the batch's states, kl_normaliser the part the statistics
alone make (the old parameters under the end-of-rollout statistics).
"""

import importlib.metadata

import numpy as np
import torch
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.distributions import DiagGaussianDistribution

from monitor.measure import Gaussian, behaviour, update_size
from monitor.record import ForeignRun

LIBRARY = f"stable-baselines3 {importlib.metadata.version('stable-baselines3')}"

LOGGED = {
    "kl_reported": ("train/approx_kl", "train/kl_divergence_loss"),
    "clip_frac": ("train/clip_fraction",),
    "policy_loss": ("train/policy_gradient_loss", "train/policy_loss", "train/policy_objective"),
    "value_loss": ("train/value_loss",),
    "explained_variance": ("train/explained_variance",),
    "ls_accepted": ("train/is_line_search_success",),
}
"""Each suite metric and the names SB3 (PPO, A2C) and sb3-contrib (TRPO) log it under: the
first one logged is recorded. TRPO's policy_objective is a gain, recorded negated."""

HYPERPARAMETERS = ("learning_rate", "n_steps", "batch_size", "n_epochs", "gamma", "gae_lambda",
                   "clip_range", "clip_range_vf", "normalize_advantage", "ent_coef", "vf_coef",
                   "max_grad_norm", "target_kl", "use_sde", "cg_max_steps", "line_search_max_iter",
                   "line_search_shrinking_factor", "n_critic_updates")  # fmt: skip
"""The model attributes a record's config holds (those the model has); a schedule is
recorded by its value at the start of training."""


def hyperparameters(model) -> dict:
    """The model's hyperparameters as a record's config holds them, with `normalize`:
    whether its env is a VecNormalize, and `policy`: its policy class and network sizes."""
    params = {}
    for name in HYPERPARAMETERS:
        if hasattr(model, name):
            value = getattr(model, name)
            params[name] = value(1.0) if callable(value) else value
    params["normalize"] = model.get_vec_normalize_env() is not None
    params["policy"] = {"class": type(model.policy).__name__,
                        "net_arch": getattr(model.policy, "net_arch", None)}  # fmt: skip
    return params


class ExactKLCallback(BaseCallback):
    """Writes `run`'s record while the model learns: starts it when learning starts and
    ends it `done` when learning ends, unless the run is already open (`with run:
    model.learn(...)`, which also records a crash as the run's failure, with its reason)."""

    def __init__(self, run: ForeignRun, verbose: int = 0):
        super().__init__(verbose)
        self.run = run
        self.pending: dict | None = None
        self.raw_obs: list[np.ndarray] = []
        self.episodes: list[tuple[float, float]] = []

    def _on_training_start(self) -> None:
        if not isinstance(self.model.policy.action_dist, DiagGaussianDistribution):
            kind = type(self.model.policy.action_dist).__name__
            raise TypeError(f"the monitor measures diagonal-Gaussian policies; this policy's "
                            f"action distribution is {kind}")  # fmt: skip
        normaliser = self.model.get_vec_normalize_env()
        self.normaliser = normaliser if normaliser is not None and normaliser.norm_obs else None
        self.first_step = self.num_timesteps
        self.owns_run = not self.run.active
        if self.owns_run:
            self.run.start()

    def _on_rollout_start(self) -> None:
        if self.pending is not None:
            self.write_update()
        self.episodes = []
        if self.normaliser is not None:
            self.raw_obs = [self.normaliser.get_original_obs()]

    def _on_step(self) -> bool:
        for info in self.locals["infos"]:
            if "episode" in info:
                self.episodes.append((float(info["episode"]["r"]), float(info["episode"]["l"])))
        if self.normaliser is not None:
            self.raw_obs.append(self.normaliser.get_original_obs())
        return True

    def _on_rollout_end(self) -> None:
        buffer = self.model.rollout_buffer
        obs = buffer.observations.reshape(-1, *buffer.obs_shape)
        self.pending = {
            "obs": obs,
            "actions": buffer.actions.reshape(-1, buffer.action_dim),
            "old": self.distribution(obs),
            "params": self.actor_parameters(),
            "step": self.num_timesteps - self.first_step,
            "episodes": self.episodes,
            "n_updates": getattr(self.model, "_n_updates", 0),
        }
        if self.normaliser is None:
            return
        raw = np.stack(self.raw_obs[:-1]).reshape(-1, *buffer.obs_shape)
        self.pending |= {
            "raw": raw,
            "renormalised": self.distribution(self.normaliser.normalize_obs(raw)),
        }

    def _on_training_end(self) -> None:
        if self.pending is not None:
            self.write_update()
        if self.owns_run:
            self.run.finish("done")

    def write_update(self) -> None:
        """The update `train()` made since the rollout ended, measured and recorded."""
        p, self.pending = self.pending, None
        new = self.distribution(p["obs"])
        metrics = update_size(p["old"], new, torch.as_tensor(p["actions"]))
        if "raw" in p:
            following = self.distribution(self.normaliser.normalize_obs(p["raw"]))
            metrics |= behaviour(p["old"], p["renormalised"], following)
        else:
            metrics |= behaviour(p["old"], p["old"], new)
        metrics["step_norm"] = (self.actor_parameters() - p["params"]).norm().item()
        if hasattr(self.model, "n_epochs"):
            metrics["epochs_run"] = self.model._n_updates - p["n_updates"]
        logged = self.model.logger.name_to_value
        for metric, names in LOGGED.items():
            found = [name for name in names if name in logged]
            if found:
                value = float(logged[found[0]])
                metrics[metric] = -value if found[0] == "train/policy_objective" else value
        self.run.log(p["step"], metrics, p["episodes"])

    def distribution(self, obs: np.ndarray) -> Gaussian:
        policy = self.model.policy
        with torch.no_grad():
            dist = policy.get_distribution(policy.obs_to_tensor(obs)[0]).distribution
        return Gaussian.of(dist.loc, torch.log(dist.scale))

    def actor_parameters(self) -> torch.Tensor:
        """The parameters the action distribution depends on (the critic's left out), flat."""
        named = self.model.policy.named_parameters()
        return torch.cat([p.detach().reshape(-1).to(torch.float64) for name, p in named
                          if "value" not in name and not name.startswith("vf_")])  # fmt: skip
