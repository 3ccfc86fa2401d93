"""The training loop: collect → advantages → policy update → critic fit → metrics, per batch.

Knows nothing of Hydra, W&B or files: it hands one metrics row per update to `on_update`
and, every few updates, the full training state (a checkpoint) to `on_checkpoint`.
"""

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from algos.allowed import FLAG, LAYERS, Int, OneOf, Real, setting
from algos.metrics import METRICS
from algos.minibatch_step import use_compiled
from algos.policy import GaussianActor, ValueNet, flat_params
from algos.registry import ALGOS
from algos.rollout import Batch, RolloutCollector, collect_together, evaluate
from algos.surrogate import update_diagnostics
from algos.update_rule import UpdateRule
from algos.value import ValueFitter, fit_together


class DivergenceError(RuntimeError):
    """Training produced a non-finite loss or parameter; the run cannot go on."""


class Preempted(RuntimeError):
    """Training stopped at a safe point on request (SIGTERM/SIGUSR2), its checkpoint written."""


@dataclass
class TrainConfig:
    env_id: str = setting("Hopper-v5", None)  # checked by validate.env_problem (made once)
    # gym.make's keyword arguments for every env of the run: checked by validate.env_problem
    env_kwargs: dict = setting({}, None, id_neutral={})
    seed: int = setting(0, Int())
    total_steps: int = setting(1_000_000, Int(low=1))  # at least one batch (validate.py)
    num_envs: int = setting(1, Int(low=1))
    # env steps per env per batch; batch = horizon × num_envs
    horizon: int = setting(2048, Int(low=1))
    gamma: float = setting(0.99, Real(0.0, 1.0))
    gae_lambda: float = setting(0.95, Real(0.0, 1.0, low_open=False))
    hidden: tuple[int, ...] = setting((64, 64), LAYERS)
    init_log_std: float = setting(0.0, Real(-10.0, 2.0, low_open=False))
    # Code-level optimisations, each its own switch (conf/impl/: modern = these defaults)
    normalize_obs: bool = setting(True, FLAG)  # running mean/std of observations
    obs_clip: float | None = setting(
        10.0, Real(0.0, optional=True), id_neutral=10.0
    )  # ± after normalising
    normalize_reward: bool = setting(True, FLAG)  # rewards ÷ std of the discounted return
    normalize_advantages: bool = setting(
        True, FLAG, id_neutral=True
    )  # per batch, zero mean and unit std
    orthogonal_init: bool = setting(
        True, FLAG, id_neutral=True
    )  # else Baselines' normc (the PPO paper's code)
    adam_eps: float = setting(1e-5, Real(0.0, 1.0), id_neutral=1e-5)  # ε of every Adam of the run
    lr_anneal: bool = setting(
        False, FLAG, id_neutral=False
    )  # every step size linearly to 0 over the run
    value_lr: float = setting(3e-4, Real(0.0, 1.0))
    value_epochs: int = setting(10, Int(low=1))
    value_minibatch_size: int = setting(64, Int(low=1))  # at most the batch (validate.py)
    # updates between deterministic evaluations; 0 disables them
    eval_every: int = setting(0, Int())
    eval_episodes: int = setting(3, Int(low=1))
    algo: str = setting("ppo", OneOf(*ALGOS))
    algo_params: dict = setting({}, None)  # fields of the algo's config: checked by its own spec
    warm_start: dict | None = setting(None, None, id_neutral=None)  # validate.validate_warm_start

    @property
    def batch_size(self) -> int:
        return self.horizon * self.num_envs

    @property
    def num_updates(self) -> int:
        return self.total_steps // self.batch_size


@dataclass
class Learner:
    """Everything a run trains or keeps between updates: what a checkpoint holds."""

    collector: RolloutCollector
    actor: GaussianActor
    critic: ValueNet
    policy_update: UpdateRule
    value_fitter: ValueFitter
    generator: torch.Generator

    def state_dict(self, update: int, step: int) -> dict:
        """Networks, normalisers, the update rule's own state (UpdateRule.state_dict),
        the critic's optimiser, counters and every RNG state."""
        return {
            "update": update,
            "step": step,
            "actor": self.actor.state_dict(),
            "critic": self.critic.state_dict(),
            "obs_normalizer": self.collector.obs_normalizer.state_dict(),
            "reward_scaler": self.collector.reward_scaler.state_dict(),
            **self.policy_update.state_dict(),
            "value_optimizer": self.value_fitter.optimizer.state_dict(),
            "collector": self.collector.state_dict(),
            "rng": {
                "torch": torch.get_rng_state(),
                "generator": self.generator.get_state(),
                "collector": self.collector.rng.bit_generator.state,
            },
        }

    def warm_start(self, state: dict) -> None:
        """Start from another run's policy: its networks, normalisers and critic optimiser.
        The update rule's state and the RNGs stay this run's own (its algo and seed may differ)."""
        self.actor.load_state_dict(state["actor"])
        self.critic.load_state_dict(state["critic"])
        self.collector.obs_normalizer.load_state_dict(state["obs_normalizer"])
        self.collector.reward_scaler.load_state_dict(state["reward_scaler"])
        self.value_fitter.optimizer.load_state_dict(state["value_optimizer"])

    def optimizers(self) -> list[torch.optim.Optimizer]:
        """Every optimiser of the run: the update rule's (PG, PPO; TRPO has none) and the critic's."""
        return [*self.policy_update.optimizers(), self.value_fitter.optimizer]

    def resume(self, state: dict) -> bool:
        """Continue this run from its own checkpoint: everything `state_dict` saved. Returns
        whether the episodes in progress were restored exactly (MuJoCo envs) too."""
        self.warm_start(state)
        self.policy_update.load_state_dict(state)
        torch.set_rng_state(state["rng"]["torch"])
        self.generator.set_state(state["rng"]["generator"])
        self.collector.rng.bit_generator.state = state["rng"]["collector"]
        return self.collector.load_state_dict(state["collector"])


def make_learner(config: TrainConfig, compiled: bool = False) -> Learner:
    """A fresh learner; `compiled`: PPO's minibatch policy steps compiled."""
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    collector = RolloutCollector(
        config.env_id, config.num_envs, config.horizon, config.seed, config.gamma,
        config.gae_lambda, config.normalize_obs, config.normalize_reward, config.obs_clip,
        config.normalize_advantages, config.env_kwargs,
    )  # fmt: skip
    actor = GaussianActor(collector.obs_dim, collector.act_dim, config.hidden,
                          config.init_log_std, config.orthogonal_init)  # fmt: skip
    critic = ValueNet(collector.obs_dim, config.hidden, config.orthogonal_init)
    algo = ALGOS[config.algo]
    algo_config = algo.config_cls(**config.algo_params)
    if algo.minibatch_steps:
        policy_update = algo.update_cls(actor, algo_config, compiled)
    else:
        policy_update = algo.update_cls(actor, algo_config)
    value_fitter = ValueFitter(
        critic, config.value_lr, config.value_epochs, config.value_minibatch_size
    )
    learner = Learner(collector, actor, critic, policy_update, value_fitter, generator)
    for optimizer in learner.optimizers():
        if isinstance(optimizer, torch.optim.Adam):
            for group in optimizer.param_groups:
                group["eps"] = config.adam_eps
    return learner


def set_step_sizes(learner: Learner, base_lrs: list, update: int, num_updates: int) -> None:
    for optimizer, lrs in zip(learner.optimizers(), base_lrs, strict=True):
        for group, lr in zip(optimizer.param_groups, lrs, strict=True):
            group["lr"] = annealed(lr, update, num_updates)


def annealed(base_lr: float, update: int, num_updates: int) -> float:
    """The step size of update `update` (1-based) under linear annealing to 0 over the run
    (Baselines ppo1's schedule='linear': 1 at the first update)."""
    return base_lr * (1.0 - (update - 1) / num_updates)


def checkpoint_updates(num_updates: int, checkpoints: int) -> set[int]:
    """`checkpoints` updates spread evenly over the run, always including the last."""
    if checkpoints <= 0 or num_updates <= 0:
        return set()
    return {round(num_updates * k / checkpoints) for k in range(1, checkpoints + 1)} - {0}


@dataclass
class Member:
    """One run of a population (`train_together`): its config and where its results go.

    `start_state`, `checkpoints`, `on_checkpoint` and `resume_state` are `train`'s."""

    config: TrainConfig
    on_update: Callable[[dict[str, float]], None]
    start_state: dict | None = None
    checkpoints: int = 0
    on_checkpoint: Callable[[int, dict], None] | None = None
    resume_state: dict | None = None


def population_key(config: TrainConfig) -> tuple:
    """What runs trained side by side (`train_together`) must share: the env (with its
    keyword arguments), and the shapes of the batch and of the networks. Everything else
    (algo, step size, seed, settings) may differ."""
    env_kwargs = json.dumps(config.env_kwargs, sort_keys=True)
    return (config.env_id, env_kwargs, config.num_envs, config.horizon, config.hidden)


def train(
    config: TrainConfig,
    on_update: Callable[[dict[str, float]], None],
    start_state: dict | None = None,
    checkpoints: int = 0,
    on_checkpoint: Callable[[int, dict], None] | None = None,
    resume_state: dict | None = None,
    stop_requested: Callable[[], bool] = lambda: False,
    compile_mode: str = "auto",
) -> None:
    """Train for config.num_updates updates, from scratch, from `start_state` (a checkpoint
    of another run: see Learner.warm_start) or continuing this run from `resume_state` (its
    own checkpoint: see Learner.resume); hand `checkpoints` evenly spaced checkpoints to
    `on_checkpoint(update, state)`. When `stop_requested()` turns true (a preemption signal),
    checkpoint after the update in progress and raise Preempted. `compile_mode`: whether
    the minibatch steps are compiled (algos.minibatch_step.use_compiled). A run alone is a
    population of one: its error, if any, is raised."""
    member = Member(config, on_update, start_state, checkpoints, on_checkpoint, resume_state)
    compiled = use_compiled(compile_mode, config.num_updates)
    error = train_together([member], stop_requested, compiled)[0]
    if error is not None:
        raise error


def train_together(
    members: list[Member],
    stop_requested: Callable[[], bool] = lambda: False,
    compiled: bool = False,
) -> list[Exception | None]:
    """Train runs of one env and batch shape side by side, update by update: one loop steps
    all their envs (algos.rollout.collect_together), each takes its own policy update, and
    their critics are fitted in one batched pass (algos.value.fit_together). Every run's
    numbers are bit for bit those it has trained alone.

    Returns what ended each run: None when it finished, else its error (DivergenceError,
    Preempted, or what its update or its callbacks raised). A run that fails leaves the
    population and the others go on; an error in the shared rollout or critic fit ends
    every run in it. `compiled`: PPO's minibatch policy steps compiled."""
    outcomes: list[Exception | None] = [None] * len(members)
    live: list[_Running] = []
    try:
        for m, member in enumerate(members):
            try:
                live.append(_Running.start(m, member, compiled))
            except Exception as error:  # e.g. a start state that does not fit: that run fails
                outcomes[m] = error
        last = max((r.member.config.num_updates for r in live), default=0)
        for update in range(min((r.done for r in live), default=last) + 1, last + 1):
            running = [r for r in live if r.done < update <= r.member.config.num_updates]
            _train_update(running, update, stop_requested, outcomes)
            for r in [r for r in live if outcomes[r.index] is not None]:
                live.remove(r)
                r.learner.collector.close()
    finally:
        for r in live:
            r.learner.collector.close()
    return outcomes


def _train_update(
    running: list["_Running"], update: int, stop_requested: Callable[[], bool], outcomes: list
) -> None:
    """One update of every run in `running`; a run that fails gets its error in `outcomes`
    (the shared rollout's or critic fit's error goes to every run in it)."""

    def failed(runs: list[_Running], error: Exception) -> None:
        for r in runs:
            outcomes[r.index] = error

    for r in running:
        r.anneal(update)
    t0 = time.perf_counter()
    try:
        batches = collect_together([r.learner.collector for r in running],
                                   [r.learner.actor for r in running],
                                   [r.learner.critic for r in running])  # fmt: skip
    except Exception as error:
        return failed(running, error)
    rollout_s = (time.perf_counter() - t0) / len(running)
    for r, batch in zip(running, batches, strict=True):
        r.begin_update(batch)
    for rules in _by_rule(running):
        t = time.perf_counter()
        try:
            steps = type(rules[0].learner.policy_update).step_together(
                [r.learner.policy_update for r in rules], [r.batch for r in rules],
                [r.learner.generator for r in rules],
            )  # fmt: skip
        except Exception as error:
            failed(rules, error)
            continue
        share = (time.perf_counter() - t) / len(rules)
        for r, step in zip(rules, steps, strict=True):
            try:
                r.end_update(step, share)
            except Exception as error:
                failed([r], error)
    running = [r for r in running if outcomes[r.index] is None]
    t1 = time.perf_counter()
    try:
        fits = fit_together([r.learner.value_fitter for r in running], [r.batch for r in running],
                            [r.learner.generator for r in running])  # fmt: skip
    except Exception as error:
        return failed(running, error)
    fit_s = (time.perf_counter() - t1) / max(len(running), 1)
    for r, fit in zip(running, fits, strict=True):
        try:
            r.finish_update(update, fit, rollout_s, fit_s)
        except Exception as error:
            failed([r], error)
    stopping = stop_requested()  # after the update's metrics are handed out, as a run alone
    for r in [r for r in running if outcomes[r.index] is None]:
        try:
            r.checkpoint(update, stopping)
        except Exception as error:
            failed([r], error)
            continue
        if stopping and r.stops_on_request:
            failed([r], Preempted(f"stopped by a signal after update {update}; resumes from there"))


def _by_rule(running: list["_Running"]) -> list[list["_Running"]]:
    """The runs of each update rule, whose policy steps its `step_together` takes."""
    rules: dict[str, list[_Running]] = {}
    for r in running:
        rules.setdefault(r.member.config.algo, []).append(r)
    return list(rules.values())


class _Running:
    """A member while it trains: its learner, counters and the update in progress."""

    def __init__(self, index: int, member: Member, learner: Learner):
        self.index, self.member, self.learner = index, member, learner
        self.base_lrs = [[g["lr"] for g in o.param_groups] for o in learner.optimizers()]
        self.steps, self.done = 0, 0
        self.save_at = (
            checkpoint_updates(member.config.num_updates, member.checkpoints)
            if member.on_checkpoint else set()
        )  # fmt: skip
        self.batch: Batch | None = None
        self.params_before: torch.Tensor | None = None
        self.row: dict[str, float] = {}
        self.policy_s = 0.0

    @classmethod
    def start(cls, index: int, member: Member, compiled: bool) -> "_Running":
        learner = make_learner(member.config, compiled)
        running = cls(index, member, learner)
        if member.start_state is not None:
            learner.warm_start(member.start_state)
        if member.resume_state is not None:
            learner.resume(member.resume_state)
            running.steps = member.resume_state["step"]
            running.done = member.resume_state["update"]
        return running

    def anneal(self, update: int) -> None:
        if self.member.config.lr_anneal:
            set_step_sizes(self.learner, self.base_lrs, update, self.member.config.num_updates)

    @property
    def stops_on_request(self) -> bool:
        """Whether a stop request ends this run now: it can checkpoint and has updates left."""
        return self.member.on_checkpoint is not None and self.done < self.member.config.num_updates

    def begin_update(self, batch: Batch) -> None:
        self.batch = batch
        self.params_before = flat_params(self.learner.actor)
        self.row = dict.fromkeys(METRICS, math.nan)

    def end_update(self, step: dict[str, float], step_s: float) -> None:
        """The policy step's metrics and how far it moved the policy."""
        t = time.perf_counter()
        self.row.update(step)
        self.row.update(update_diagnostics(self.learner.actor, self.batch, self.params_before))
        self.policy_s = step_s + time.perf_counter() - t

    def finish_update(self, update: int, fit: dict, rollout_s: float, fit_s: float) -> None:
        """The update's metrics row to `on_update`. Timings are this run's share of the
        population's shared work."""
        config, batch, row = self.member.config, self.batch, self.row
        row.update(fit)
        check_finite(self.learner.actor, self.learner.critic, row, update)
        self.steps += batch.steps
        update_s = self.policy_s + fit_s
        row.update(
            step=self.steps,
            update=update,
            episodes=len(batch.episode_returns),
            rollout_s=rollout_s,
            update_s=update_s,
            sps=batch.steps / (rollout_s + update_s),
        )
        if len(batch.episode_returns):
            row.update(
                return_mean=float(batch.episode_returns.mean()),
                return_std=float(batch.episode_returns.std()),
                episode_length=float(batch.episode_lengths.mean()),
            )
        if config.eval_every and update % config.eval_every == 0:
            row["eval_return"] = evaluate(
                self.learner.actor, self.learner.collector.obs_normalizer, config.env_id,
                config.eval_episodes, seed=config.seed + 10_000, **config.env_kwargs,
            )  # fmt: skip
        self.batch = None
        self.member.on_update(row)
        self.done = update

    def checkpoint(self, update: int, stopping: bool) -> None:
        """A checkpoint when one is due or a stop was asked for."""
        if update in self.save_at or (stopping and self.member.on_checkpoint is not None):
            self.member.on_checkpoint(update, self.learner.state_dict(update, self.steps))


def check_finite(actor: GaussianActor, critic: ValueNet, row: dict, update: int) -> None:
    for name in ("policy_loss", "value_loss", "kl_mean"):
        if not np.isfinite(row[name]):
            raise DivergenceError(f"{name} became {row[name]} at update {update}")
    for net_name, net in (("policy", actor), ("value", critic)):
        if not torch.isfinite(flat_params(net)).all():
            raise DivergenceError(f"{net_name} parameters became non-finite at update {update}")
