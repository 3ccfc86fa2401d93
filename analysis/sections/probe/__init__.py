"""One update of a controlled size (experiments/probe.py): from each probed checkpoint, does
one update along each direction, scaled to a KL, or one whole update at each of the study's
settings, destroy the policy? And where do the surrogate's prediction and the truth part?
Present when the sweep's runs, or the policies they were warm-started from, were probed.
Its computation is in effects.py, its figures in figures.py."""

from pathlib import Path

import pandas as pd

from analysis.cells import frequency, interval
from analysis.section import Context, Figure, Finding, Part, Table, collapse_rules, skipped
from analysis.sections.probe.effects import (
    control_band,
    direction_differences,
    first_majority,
    knob_table,
    ladder_table,
    load_probe,
    ppo_epsilons,
    with_gain,
)
from analysis.sections.probe.figures import (
    probe_direction_at_equal_kl,
    probe_return_vs_kl,
    probe_surrogate_vs_actual,
)
from analysis.vocabulary import DIRECTIONS, direction_name, knob_name
from records.record import records_under

TITLE = "One update of a controlled size (the probe)"


def probe_files(ctx: Context) -> list[Path]:
    """The probe CSVs of the sweep's runs and of the policies they were warm-started from."""
    probed = set(ctx.runs["run_id"]) | set(ctx.runs["warm_start_run"].dropna())
    return [r.probe_table for r in records_under(ctx.cfg.out_dir, depth=2)
            if r.dir.name in probed and r.probe_table.exists()]  # fmt: skip


def direction_labels(epsilons: list[float]) -> dict[str, str]:
    """The directions as the figures' legends name them, PPO's with the ε it was probed at."""
    eps = ", ".join(f"{e:g}" for e in epsilons) or "?"
    return {arm: legend.format(epsilon=eps) for arm, (_, legend, _) in DIRECTIONS.items()}


def build(ctx: Context) -> Part | None:
    files = probe_files(ctx)
    probe = load_probe(files)
    if probe.empty:
        return skipped(TITLE, "no probe of this sweep's starting policies (make probe; it "
                              "replays the suite's own warm-start checkpoints)")  # fmt: skip
    drop_frac = ctx.cfg.collapse.drop_frac
    scales = ctx.gain_scales["scale"].dropna().to_dict()
    rules = collapse_rules(ctx.cfg, sorted(probe["env_id"].unique()), scales)
    frame = with_gain(probe, {env: rule.min_gain for env, rule in rules.items()}, drop_frac)
    ladder, knobs, differences = (
        ladder_table(frame),
        knob_table(frame),
        direction_differences(frame),
    )
    if ladder.empty:
        return skipped(TITLE, "no probed checkpoint had gained the collapse rule's min_gain")
    control = {env: control_band(rows) for env, rows in frame.groupby("env_id")}
    labels = direction_labels(ppo_epsilons(files))
    gain = "a checkpoint counts when its policy had gained at least the collapse rule's min_gain"
    found = [probe_damage_finding(ladder, drop_frac), probe_surrogate_finding(ladder)]
    if not differences.empty:
        found.append(probe_direction_finding(differences))
    if not knobs.empty:
        found.append(probe_knob_finding(knobs))
    return Part(
        TITLE,
        data={"probe_return_vs_kl": ladder, "probe_knobs": knobs,
              "probe_direction_at_equal_kl": differences},
        tables=[
            Table("probe_return_vs_kl",
                  f"One update along each direction, scaled to each target KL, from each probed "
                  f"checkpoint ({gain}): the return change as a fraction of the gain, mean over "
                  f"checkpoints [95% t CI]; destroyed = lost more than {drop_frac:g} of the gain; damage "
                  "significant = the checkpoint's paired 95% CI below 0; prediction outside = the "
                  "surrogate's predicted change outside that CI (the prediction is made on the batch "
                  "the direction was computed from, as the update rules do, so it is optimistic even "
                  "where the approximation holds).",
                  shown_effects(ladder, "target_kl")),
            Table("probe_knobs",
                  "One whole update at each of the study's own settings (PG's lr, TRPO's δ, PPO's ε), "
                  "unscaled: the KL it took and what it did, as above.",
                  shown_effects(knobs, "knob_value")),
            Table("probe_direction_at_equal_kl",
                  "At equal KL, each direction's change minus the vanilla gradient's, paired by "
                  "checkpoint.",
                  shown_directions(differences)),
        ],
        figures=[
            Figure("probe_return_vs_kl",
                   probe_return_vs_kl(ladder, knobs, control, first_majority(ladder, "damaged"),
                                      drop_frac, labels),
                   "Does one update destroy the policy? Left: from each probed checkpoint, one update "
                   "along each direction scaled to a target KL, and the true return change (fraction "
                   "of the gain, mean over checkpoints, 95% t CI); grey band: the control (the "
                   "unchanged policy on other episodes); dashed: the first KL at which the damage is "
                   "significant in most checkpoints. Right: one whole update at each study setting "
                   "(labels: its lr, δ or ε)."),
            Figure("probe_surrogate_vs_actual",
                   probe_surrogate_vs_actual(ladder, first_majority(ladder, "parted"), labels),
                   "The trust region's premise, tested: the surrogate's predicted change (dashed) "
                   "against the true change (solid, 95% t CI), as fractions of the gain, per "
                   "direction. Look for the KL where they part (black dashed): beyond it the local "
                   "approximation no longer holds."),
            Figure("probe_direction_at_equal_kl",
                   probe_direction_at_equal_kl(ladder, differences, labels),
                   "At equal KL, does the direction matter? Left: the three directions side by "
                   "side; right: natural and PPO's minus the vanilla gradient, paired by checkpoint "
                   "(0 = no difference)."),
        ],
        findings=found,
    )  # fmt: skip


def shown_effects(table: pd.DataFrame, setting: str) -> pd.DataFrame:
    """The probe per arm setting (`setting`: target_kl for the ladder, knob_value for the
    study's settings) across checkpoints."""
    rows = list(table.itertuples())
    label = [f"{r.target_kl:g}" if setting == "target_kl" else r.knob_value for r in rows]
    return pd.DataFrame(
        {
            "env": table["env_id"],
            "arm": table["arm"],
            "target KL (nats)" if setting == "target_kl" else "setting": label,
            "kl_mean (median)": table["kl_mean"].map(lambda v: f"{v:.2g}"),
            "return change / gain [95% t CI]": [
                interval(r.change_frac, r.change_frac_ci_low, r.change_frac_ci_high, "+.2f")
                for r in rows
            ],
            "predicted / gain": table["predicted_frac"].map(lambda v: f"{v:+.2f}"),
            "destroyed [95% Wilson CI]": [
                frequency(r.destroyed, r.checkpoints, r.destroyed_ci_low, r.destroyed_ci_high)
                for r in rows
            ],
            "damage significant": [f"{r.damaged}/{r.checkpoints}" for r in rows],
            "prediction outside": [f"{r.parted}/{r.checkpoints}" for r in rows],
        }
    )


def shown_directions(differences: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "env": differences["env_id"],
            "target KL (nats)": differences["target_kl"].map(lambda v: f"{v:g}"),
            "direction − reference": differences["arm"] + " − " + differences["reference"],
            "checkpoints": differences["checkpoints"],
            "difference in change / gain [95% t CI, paired]": [
                interval(
                    r.difference_frac, r.difference_frac_ci_low, r.difference_frac_ci_high, "+.2f"
                )
                for r in differences.itertuples()
            ],  # fmt: skip
        }
    )


def env_prefix(env: str, envs: int) -> str:
    return f"{env} " if envs > 1 else ""


def destroyed_cell(row) -> str:
    return frequency(
        int(row.destroyed), int(row.checkpoints), row.destroyed_ci_low, row.destroyed_ci_high
    )


def probe_damage_finding(ladder: pd.DataFrame, drop_frac: float) -> Finding:
    """Per direction: the smallest KL at which one update destroyed the policy in most
    checkpoints (with the decade below for contrast), and where its damage became significant."""
    envs = ladder["env_id"].nunique()
    destroyed = first_majority(ladder, "destroyed")
    damaged = first_majority(ladder, "damaged")
    parts, significant = [], []
    for (env, arm), rows in ladder.groupby(["env_id", "arm"], sort=False):
        name = env_prefix(env, envs) + direction_name(arm)
        hit = destroyed[(destroyed["env_id"] == env) & (destroyed["arm"] == arm)]
        if hit.empty:
            top = rows.sort_values("target_kl").iloc[-1]
            parts.append(f"{name}: not in most at any KL up to {top.target_kl:g} nats "
                         f"({destroyed_cell(top)} there)")  # fmt: skip
        else:
            r = hit.iloc[0]
            below = rows[rows["target_kl"] <= r.target_kl / 9].sort_values("target_kl")
            contrast = (
                f"; {destroyed_cell(below.iloc[-1])} at {below.iloc[-1].target_kl:g}"
                if len(below)
                else ""
            )
            parts.append(f"{name} from {r.target_kl:g} nats ({destroyed_cell(r)}{contrast})")
        first = damaged[(damaged["env_id"] == env) & (damaged["arm"] == arm)]
        significant.append(f"{name} {first.iloc[0].target_kl:g}" if len(first) else f"{name} never")
    n, runs = int(ladder["checkpoints"].max()), int(ladder["runs"].max())
    return Finding(
        f"One update of a controlled size (the probe: {n} checkpoints of {runs} runs, each policy "
        f"with a gain to lose) destroyed more than {drop_frac:g} of the gain in most checkpoints from "
        "a KL of: " + "; ".join(parts) + " [95% Wilson CI]. Its damage was significant (paired 95% "
        "CI of the return change below 0) in most checkpoints from: "
        + ", ".join(significant)
        + " nats.",
        "probe_return_vs_kl",
    )


def probe_surrogate_finding(ladder: pd.DataFrame) -> Finding:
    """Per direction: the smallest KL at which the surrogate's prediction falls outside the
    true change's interval in most checkpoints, with both values there."""
    envs = ladder["env_id"].nunique()
    parted = first_majority(ladder, "parted")
    parts = []
    for (env, arm), _ in ladder.groupby(["env_id", "arm"], sort=False):
        name = env_prefix(env, envs) + direction_name(arm)
        hit = parted[(parted["env_id"] == env) & (parted["arm"] == arm)]
        if hit.empty:
            parts.append(f"{name}: they agree at every KL probed")
            continue
        r = hit.iloc[0]
        parts.append(f"{name} {r.target_kl:g} nats (predicted {r.predicted_frac:+.2f} of the gain, "
                     f"true {interval(r.change_frac, r.change_frac_ci_low, r.change_frac_ci_high, '+.2f')})")  # fmt: skip
    return Finding(
        "The surrogate's predicted change and the true return change part (the prediction outside "
        "the true change's paired 95% CI in most checkpoints) from: "
        + "; ".join(parts)
        + ". Below that KL the local approximation holds within the evaluation's noise.",
        "probe_surrogate_vs_actual",
    )


def probe_direction_finding(differences: pd.DataFrame) -> Finding:
    """At equal KL, at how many KLs each direction's change differs from the reference's
    (paired t interval excluding 0), and the largest such difference."""
    envs = differences["env_id"].nunique()
    parts = []
    for (env, arm), rows in differences.groupby(["env_id", "arm"], sort=False):
        apart = rows[(rows["difference_frac_ci_low"] > 0) | (rows["difference_frac_ci_high"] < 0)]
        name = f"{env_prefix(env, envs)}{direction_name(arm)} − {direction_name('vanilla')}"
        if apart.empty:
            parts.append(f"{name}: at none of {len(rows)} KLs")
            continue
        r = apart.loc[apart["difference_frac"].abs().idxmax()]
        parts.append(f"{name}: at {len(apart)} of {len(rows)} KLs (largest "
                     f"{interval(r.difference_frac, r.difference_frac_ci_low, r.difference_frac_ci_high, '+.2f')}"
                     f" of the gain at {r.target_kl:g} nats)")  # fmt: skip
    return Finding(
        "At equal KL, does the direction matter? The change differed significantly (paired by "
        "checkpoint, 95% t interval) for " + "; ".join(parts) + ".",
        "probe_direction_at_equal_kl",
    )


def probe_knob_finding(knobs: pd.DataFrame) -> Finding:
    """Per update rule, one whole update at the study's settings: the first setting that
    destroyed most checkpoints, with its KL, or none up to the largest."""
    envs = knobs["env_id"].nunique()
    parts = []
    for (env, knob), rows in knobs.groupby(["env_id", "arm"], sort=False):
        name = env_prefix(env, envs) + knob_name(knob)
        hit = rows[rows["destroyed"] > rows["checkpoints"] / 2]
        r = hit.iloc[0] if len(hit) else rows.loc[rows["kl_mean"].idxmax()]
        what = f"kl_mean {r.kl_mean:.2g} nats, destroyed {destroyed_cell(r)}"
        parts.append(f"{name} from {r.knob_value} ({what})" if len(hit) else
                     f"{name} at no setting (its largest update, at {r.knob_value}: {what})")  # fmt: skip
    return Finding(
        "One whole update at the study's own settings destroyed most checkpoints: "
        + "; ".join(parts)
        + ".",
        "probe_return_vs_kl",
    )
