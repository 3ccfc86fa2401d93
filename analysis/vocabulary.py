"""How tables, figures and Findings name, order and colour update rules, their variants and
the probe's directions: derived from the registry (algos.registry), written nowhere else.
Rules of code the suite did not write (monitor.record) are admitted by the name their
records give, after the registry's, with colours the registry leaves free."""

import seaborn as sns

from algos.registry import ALGOS, KNOBS

ALL = "all"  # the scope of an analysis pooled over every update rule

ORDER = [name for algo in ALGOS.values() for name in (algo.name, *algo.variant_labels)]
LABEL = {algo.name: algo.label for algo in ALGOS.values()} | {
    name: label for algo in ALGOS.values() for name, label in algo.variant_labels.items()
}
SCOPE_LABEL = {ALL: "all algos pooled"} | {a.name: a.scope_label for a in ALGOS.values()}

_COLORS = sns.color_palette("colorblind", 10)
PALETTE = {a.name: _COLORS[a.color] for a in ALGOS.values()} | {
    name: _COLORS[algo.color] for algo in ALGOS.values() for name in algo.variant_labels
}
PALETTE[ALL] = (0.2, 0.2, 0.2)

# The probe's directions: what each is called in a sentence and in a legend ({epsilon}: the
# probe's ppo_epsilon), and the rule whose direction it is (its colour).
DIRECTIONS = {
    "vanilla": ("vanilla gradient", "vanilla gradient (PG's direction)", "pg"),
    "natural": ("natural gradient", "natural gradient (TRPO's direction)", "trpo"),
    "ppo": ("PPO's update", "PPO's own update (ε {epsilon})", "ppo"),
}
DIRECTION_COLOR = {name: PALETTE[rule] for name, (_, _, rule) in DIRECTIONS.items()}
KNOB_COLOR = {name: PALETTE[rule] for name, (rule, _) in KNOBS.items()}


def direction_name(arm: str) -> str:
    return DIRECTIONS[arm][0] if arm in DIRECTIONS else arm


def knob_name(arm: str) -> str:
    return KNOBS[arm][1].label if arm in KNOBS else arm


def ordered(present) -> list[str]:
    """Update rules (or variants) in the suite's usual order, unknown ones after, sorted."""
    present = set(present)
    return [a for a in ORDER if a in present] + sorted(present - set(ORDER))


CONTROLS = [a.name for a in ALGOS.values() if a.control]  # the zero-dose rules

FREE_COLORS = [c for i, c in enumerate(_COLORS) if i not in {a.color for a in ALGOS.values()}]


def admit(names) -> None:
    """Give each name the registry does not know (a rule or variant of another library's
    runs) its own label (the name), scope label, place after the registry's and colour:
    the registry's unused colours first, then a husl wheel; the same names, the same colours."""
    unknown = sorted(set(names) - set(LABEL))
    extra = FREE_COLORS + sns.color_palette("husl", max(len(unknown) - len(FREE_COLORS), 0))
    for name, color in zip(unknown, extra, strict=False):
        ORDER.append(name)
        LABEL[name] = SCOPE_LABEL[name] = name
        PALETTE[name] = color


def step_size_label(variant: str, key: str, value: float) -> str:
    """`lr 0.01`; PPO without clipping has no step-size knob of its own (ε is unused), and
    the zero-dose control has none at all."""
    if variant in CONTROLS:
        return "none (zero dose)"
    if variant.startswith("ppo_none") and key == "epsilon":
        return "none (no clipping)"
    return f"{key} {value:g}"


def kl_bounded_rules() -> list[str]:
    """The rules whose step size is a bound on the mean KL (TRPO's δ): figures mark it."""
    return [a.name for a in ALGOS.values() if a.bound == "kl"]
