"""What a report section is given and what it gives back.

A section (one module of analysis/sections/) answers one question: `build(ctx)` runs its
computation on the study's data (`Context`) and returns a `Part`: the raw frames it
writes as CSV, its readable tables, its figures with their captions, and its Findings.
The renderers (analysis.render) save the figures and lay Parts out as HTML, Markdown and
W&B; the order of analysis.sections.SECTIONS is the order of the report and of its Findings.
A result several sections use is a function of the Context in the module that computes
it, computed once per study (analysis.per_study).
"""

from dataclasses import dataclass, field, replace
from functools import cached_property

import matplotlib.figure
import pandas as pd
from omegaconf import DictConfig

from algos.allowed import named_function
from analysis.collapse import (
    RUN_LEVEL_ARGUMENTS,
    UPDATE_LEVEL_ARGUMENTS,
    CollapseRule,
    gain_scales,
)
from analysis.dose_response import update_trials
from analysis.run_frame import run_frame
from records.load import Records


@dataclass(frozen=True)
class Finding:
    text: str
    figure: str  # the figure or table (its report anchor and file stem) that shows it


@dataclass(frozen=True)
class Table:
    name: str  # its Markdown file: <name>.md
    caption: str
    shown: pd.DataFrame  # readable columns
    csv: str | None = None  # the CSV its raw columns are in, when not <name>.csv


@dataclass(frozen=True)
class Figure:
    name: str  # its files: <name>.png and <name>.svg, saved by the renderer
    drawn: matplotlib.figure.Figure
    caption: str


@dataclass
class Part:
    title: str
    data: dict[str, pd.DataFrame] = field(default_factory=dict)  # written as <name>.csv
    tables: list[Table] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    wandb: dict[str, pd.DataFrame] = field(default_factory=dict)  # logged as W&B tables
    # The report's answer in plain words: the part that has one opens the report, its
    # figures and (short) findings on the first screen
    answer: str | None = None
    # Why the section is not in this report (what the study lacks), in one line; a skipped
    # Part has nothing else
    skipped: str | None = None


def skipped(title: str, why: str) -> Part:
    """A section left out of this report, and why: the report lists it in one line."""
    return Part(title, skipped=why)


class Context:
    """The study's data: its runs and updates (held-out runs kept apart), the collapse rules
    that judge them, the per-run frame and the updates at risk. No section's results."""

    def __init__(self, cfg: DictConfig, records: Records, held_out: dict | None = None):
        """`held_out`: run id -> its held-out setting (experiments.preset.held_out_settings).
        Those runs are kept apart: every section sees the step-size runs only, and the
        out-of-sample section predicts the held-out runs from them."""
        self.cfg, self.records = cfg, records
        self.held_out = held_out or {}
        runs, updates = records.runs, records.updates
        apart = runs["run_id"].isin(self.held_out)
        self.runs, self.held_runs = runs[~apart], runs[apart]
        held = (updates["run_id"].isin(self.held_out) if "run_id" in updates
                else pd.Series(False, index=updates.index))  # fmt: skip
        self.updates, self.held_updates = updates[~held], updates[held]

    @cached_property
    def rules(self) -> dict[str, CollapseRule]:
        """Each env's collapse rule, its min_gain from the settings or from `gain_scales`."""
        scales = self.gain_scales["scale"].dropna().to_dict()
        return collapse_rules(self.cfg, sorted(self.records.runs["env"].unique()), scales)

    @cached_property
    def gain_scales(self) -> pd.DataFrame:
        """Per env: its runs that gained and their median gain, the scale of the min_gain
        of an env the settings give none (analysis.collapse.gain_scales); from every run
        of the records, held-out ones included, so that both sides share one rule."""
        starts = self.records.runs.set_index("run_id")[["baseline_return", "history_returns"]]
        return gain_scales(self.records.updates, starts, self.cfg.collapse.smooth_window)

    @cached_property
    def update_rules(self) -> dict[str, CollapseRule]:
        """Each env's rule at the update-level drop fraction (update_collapse.drop_frac)."""
        drop_frac = self.cfg.update_collapse.drop_frac
        return {env: replace(rule, drop_frac=drop_frac) for env, rule in self.rules.items()}

    @cached_property
    def frame(self) -> pd.DataFrame:
        """The per-run frame (analysis.run_frame) of every run with updates."""
        c = self.cfg
        return run_frame(
            self.runs, self.updates, self.rules, c.final_window, c.collapse.smooth_window
        )

    @cached_property
    def runs_with_frame(self) -> pd.DataFrame:
        """Run rows with their per-run frame, for the runs that have one."""
        return self.runs.merge(self.frame, on="run_id", how="inner")

    @cached_property
    def done(self) -> pd.DataFrame:
        return self.runs[self.runs["status"] == "done"]

    @cached_property
    def done_updates(self) -> pd.DataFrame:
        return self.updates[self.updates["run_id"].isin(self.done["run_id"])]

    @cached_property
    def tasks(self) -> list[str]:
        """The tasks (envs) of the finished runs."""
        return sorted(self.done["env"].unique())

    @cached_property
    def trials(self) -> pd.DataFrame:
        """Every update of a finished run with its outcomes under the report's update-level
        rule and its return change (analysis.dose_response.update_trials)."""
        return update_trials(
            self.updates, self.done, self.update_rules, self.cfg.update_collapse.updates_ahead
        )

    @cached_property
    def at_risk(self) -> pd.DataFrame:
        """Every update of a finished run made while its policy had a gain to lose, with its
        outcome under the report's update-level rule."""
        return self.trials[self.trials["at_risk"].astype(bool)]

    @cached_property
    def held_out_at_risk(self) -> pd.DataFrame:
        """The held-out runs' updates at risk, as `at_risk`, each with its `setting`."""
        done = self.held_runs[self.held_runs["status"] == "done"]
        if done.empty:
            return pd.DataFrame(columns=[*self.at_risk.columns, "setting"])
        trials = update_trials(
            self.held_updates, done, self.update_rules, self.cfg.update_collapse.updates_ahead
        )
        trials = trials[trials["at_risk"].astype(bool)]
        return trials.assign(setting=trials["run_id"].map(self.held_out))

    @cached_property
    def held_out_frame(self) -> pd.DataFrame:
        """The per-run frame of the held-out runs."""
        c = self.cfg
        return run_frame(self.held_runs, self.held_updates, self.rules, c.final_window,
                         c.collapse.smooth_window)  # fmt: skip


def collapse_rules(
    cfg: DictConfig, envs: list[str], scales: dict[str, float] | None = None
) -> dict[str, CollapseRule]:
    """Each env's collapse rule from the report settings: the configured functions
    (collapse.rule, update_collapse.rule) and min_gain from collapse.min_gain_per_env, else
    collapse.min_gain_share × the env's scale in `scales` (analysis.collapse.gain_scales);
    an env with neither gets min_gain = inf, unjudged."""
    c = cfg.collapse
    detect = named_function(c.rule, RUN_LEVEL_ARGUMENTS)
    outcomes = named_function(cfg.update_collapse.rule, UPDATE_LEVEL_ARGUMENTS)
    scales = scales or {}

    def min_gain(env: str) -> float:
        if env in c.min_gain_per_env:
            return float(c.min_gain_per_env[env])
        return c.min_gain_share * scales[env] if env in scales else float("inf")

    return {env: CollapseRule(c.smooth_window, min_gain(env), c.drop_frac, c.recover_frac,
                              detect, outcomes) for env in envs}  # fmt: skip
