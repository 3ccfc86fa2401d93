"""The update rules the suite compares: one entry each, carrying everything the rest of the
code knows about a rule (its config, its class, its step-size knob and what that knob
means, how tables and plots name and colour it, the probe's knobs for it). Adding an
update rule is its module, its entry here and its conf/algo/<name>.yaml; see
docs/develop/adding-an-update-rule.md.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from algos.hold import HoldConfig, HoldUpdate
from algos.npg import NPGConfig, NPGUpdate
from algos.pg import PGConfig, PGUpdate
from algos.ppo import PPOConfig, PPOUpdate
from algos.trpo import TRPOConfig, TRPOUpdate


@dataclass(frozen=True)
class Knob:
    """One of the rule's own settings the probe can take a whole update at."""

    label: str  # in the probe's findings and legend
    params: Callable[[object], dict]  # a value of the knob -> the rule's config fields
    none_means: str | None = None  # what the value `none` stands for; None: numbers only
    marker: str = "o"  # the probe figure's marker (the colour is the rule's)


@dataclass(frozen=True)
class Algo:
    name: str
    config_cls: type
    update_cls: type
    step_size_key: str  # the hyperparameter a sweep varies to change how far an update moves
    top_level_keys: dict[str, str]  # of delta/epsilon/lr, the ones this algo accepts -> meaning
    symbol: str  # the step size as the papers write it: lr, δ, ε
    title: str  # the rule's name in a sentence: TRPO
    label: str  # in legends: the rule and its step-size key
    scope_label: str  # the rule with its variants pooled (per-update analyses)
    color: int  # index into seaborn's colorblind palette; its variants share it
    # What its step size bounds, for the report's check of the bound: "kl" (the mean KL of
    # an update, TRPO's δ), "ratio" (the probability ratio's incentive, PPO's ε) or None.
    bound: str | None
    # Ways of running it that a researcher names apart: config -> name (None: the rule
    # itself), and each such name's legend label.
    variant: Callable[[dict], str | None] = lambda params: None
    variant_labels: dict[str, str] = field(default_factory=dict)
    knobs: dict[str, Knob] = field(default_factory=dict)  # the probe's native knobs
    # its update takes minibatch Adam steps (algos.minibatch_step): built with `compiled=`
    minibatch_steps: bool = False
    # a config -> the setting that sizes its updates, where a way of running the rule is
    # sized by another of its fields than `step_size_key` (PPO's KL early stop: target_kl)
    sized_by: Callable[[dict], str | None] = lambda params: None
    # the zero-dose control: its collapses are the collapse rule's false alarms, the
    # baseline of every other frequency
    control: bool = False

    def step_size_key_of(self, params: dict) -> str:
        """The key whose value sizes the updates of a run with these algo params."""
        return self.sized_by(params) or self.step_size_key


def pg_variant(params: dict) -> str | None:
    """PG's plain gradient step (optimizer sgd) is named apart from its Adam step."""
    optimizer = params.get("optimizer", "adam")
    return None if optimizer == "adam" else f"pg_{optimizer}"


def ppo_variant(params: dict) -> str | None:
    """PPO's objectives other than the clip, with the coefficient that sets their step
    (the PPO paper's Table 1 rows); with the KL early stop, `_kl_stop` after either."""
    objective = params.get("objective", "clip")
    stop = "_kl_stop" if params.get("target_kl") is not None else ""
    if objective == "clip":
        return f"ppo{stop}" if stop else None
    coefficient = {"kl_fixed": "kl_coef", "kl_adaptive": "kl_target"}.get(objective)
    return (
        f"ppo_{objective}"
        + (f"({coefficient}={params[coefficient]:g})" if coefficient else "")
        + stop
    )


def ppo_sized_by(params: dict) -> str | None:
    """With the KL early stop on, its target sizes PPO's updates."""
    return "target_kl" if params.get("target_kl") is not None else None


NO_CLIP = {"objective": "none", "max_grad_norm": None}  # PPO with nothing bounding its step

ALGOS: dict[str, Algo] = {
    "pg": Algo(
        "pg", PGConfig, PGUpdate, "lr", {"lr": "its policy step size"}, symbol="lr", title="PG",
        label="PG, Adam step (lr)", scope_label="PG (Adam and plain step)", color=0, bound=None,
        variant=pg_variant, variant_labels={"pg_sgd": "PG, plain step θ + lr·∇J (lr)"},
        knobs={"pg_lr": Knob("PG Adam lr", lambda v: {"lr": v}, marker="o"),
               "pg_sgd_lr": Knob("PG plain-step lr", lambda v: {"lr": v, "optimizer": "sgd"},
                                 marker="s")},
    ),
    "trpo": Algo(
        "trpo", TRPOConfig, TRPOUpdate, "delta", {"delta": "its KL bound δ"}, symbol="δ", title="TRPO",
        label="TRPO (δ)", scope_label="TRPO", color=1, bound="kl",
        knobs={"trpo_delta": Knob("TRPO δ", lambda v: {"delta": v}, marker="D")},
    ),
    "ppo": Algo(
        "ppo", PPOConfig, PPOUpdate, "epsilon",
        {"epsilon": "its clip range ε", "lr": "its policy step size"}, symbol="ε", title="PPO",
        label="PPO (ε)", scope_label="PPO (clipped and not)", color=2, bound="ratio",
        variant=ppo_variant,
        variant_labels={"ppo_none": "PPO, no clipping (ε unused)",
                        "ppo_kl_stop": "PPO, clip + KL early stop (target_kl)",
                        "ppo_none_kl_stop": "PPO, no clipping + KL early stop (target_kl)"},
        knobs={"ppo_epsilon": Knob("PPO ε", lambda v: NO_CLIP if v == "none" else {"epsilon": v},
                                   none_means="no clipping", marker="^"),
               "ppo_target_kl": Knob("PPO target_kl (no clipping)",
                                     lambda v: NO_CLIP | {"target_kl": v}, marker="v")},
        minibatch_steps=True, sized_by=ppo_sized_by,
    ),
    "npg": Algo(
        "npg", NPGConfig, NPGUpdate, "delta", {"delta": "its quadratic-model KL δ"}, symbol="δ",
        title="NPG", label="NPG, no line search (δ)", scope_label="NPG", color=4, bound=None,
        knobs={"npg_delta": Knob("NPG δ", lambda v: {"delta": v}, marker="P")},
    ),
    "hold": Algo(
        "hold", HoldConfig, HoldUpdate, "lr", {"lr": "its step size (always 0)"}, symbol="lr",
        title="no update", label="no update (zero dose)", scope_label="no update", color=7,
        bound=None, control=True,
    ),
}  # fmt: skip

STEP_SIZE_KEYS = tuple(sorted({k for algo in ALGOS.values() for k in algo.top_level_keys}))
KNOBS: dict[str, tuple[str, Knob]] = {  # every probe knob -> (its rule, the knob)
    name: (algo.name, knob) for algo in ALGOS.values() for name, knob in algo.knobs.items()
}


def variant(params: dict) -> str:
    """The update rule as a researcher names it, from an algo config (with its `name`); a
    record of code the suite did not write names its own (monitor.record)."""
    if "variant" in params:
        return params["variant"]
    return ALGOS[params["name"]].variant(params) or params["name"]
