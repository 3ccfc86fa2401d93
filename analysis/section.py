"""What a report section is given and what it gives back.

A section (one module of analysis/sections/) answers one question: `build(ctx)` runs its
computation on the study's records (`Context`) and returns a `Part`: the raw frames it
writes as CSV, its readable tables, its figures with their captions, and its Findings.
The renderers (analysis.render) lay Parts out as HTML, Markdown and W&B; the order of
analysis.sections.SECTIONS is the order of the report and of its Findings.
"""

from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path

import pandas as pd
from omegaconf import DictConfig

from analysis.bands import Evidence, band_rates, replication
from analysis.collapse import (
    RUN_LEVEL_ARGUMENTS,
    UPDATE_LEVEL_ARGUMENTS,
    CollapseRule,
    detect_collapse,
    gain_scales,
    update_outcomes,
)
from analysis.damage import damage_quantiles
from analysis.dose_response import logistic_dose_response, mechanism_odds_ratios, update_trials
from analysis.intervals import wilson_interval
from analysis.multiverse import definition_grid, multiverse
from analysis.run_frame import run_frame
from analysis.settings import named_function
from analysis.tables import collapse_table
from analysis.tasks import per_task_dose_response, task_interaction
from analysis.vocabulary import CONTROLS, kl_bounded_rules
from records.load import Records, load_records

REFERENCE_MECHANISM = "trpo"  # the mechanism the others are compared with at equal KL
ZERO_DOSE_COLUMNS = ["env", "runs_k", "runs_n", "runs_low", "runs_high", "updates_k", "updates_n",
                     "updates_low", "updates_high"]  # fmt: skip


@dataclass(frozen=True)
class Finding:
    text: str
    figure: str  # the figure or table (its report anchor and file stem) that shows it


@dataclass(frozen=True)
class Table:
    name: str  # its Markdown file: <name>.md
    caption: str
    shown: pd.DataFrame  # readable columns (analysis.display)
    csv: str | None = None  # the CSV its raw columns are in, when not <name>.csv


@dataclass(frozen=True)
class Figure:
    name: str
    paths: list[Path]  # PNG, SVG
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
    """The study's records and what several sections compute from them, computed once."""

    def __init__(self, cfg: DictConfig, records: Records, out: Path, held_out: dict | None = None):
        """`held_out`: run id -> its held-out setting (experiments.preset.held_out_settings).
        Those runs are kept apart: every section sees the step-size runs only, and the
        out-of-sample section predicts the held-out runs from them."""
        self.cfg, self.records, self.out = cfg, records, out
        self.held_out = held_out or {}
        runs, updates = records.runs, records.updates
        apart = runs["run_id"].isin(self.held_out)
        self.runs, self.held_runs = runs[~apart], runs[apart]
        held = (updates["run_id"].isin(self.held_out) if "run_id" in updates
                else pd.Series(False, index=updates.index))  # fmt: skip
        self.updates, self.held_updates = updates[~held], updates[held]

    def figure_stem(self, name: str) -> Path:
        return self.out / name

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
    def collapse_table(self) -> pd.DataFrame:
        return collapse_table(self.runs, self.frame, self.updates, self.cfg.seed)

    @cached_property
    def trials(self) -> pd.DataFrame:
        """Every update of a finished run with its outcomes under the report's update-level
        rule and its return change (analysis.dose_response.update_trials)."""
        return update_trials(
            self.updates, self.done, self.update_rules, self.cfg.update_collapse.horizon
        )

    @cached_property
    def at_risk(self) -> pd.DataFrame:
        """Every update of a finished run made while its policy had a gain to lose, with its
        outcome under the report's update-level rule."""
        return self.trials[self.trials["at_risk"].astype(bool)]

    @cached_property
    def evidence(self) -> Evidence:
        a = self.cfg.answer
        return Evidence(a.min_updates, a.min_runs, a.alpha)

    def bands(self, dose: str = "kl_mean") -> pd.DataFrame:
        """Per-update collapse rates in the answer's KL bands beside the zero dose's
        (analysis.bands), on `dose`."""
        if dose not in self._bands:
            self._bands[dose] = band_rates(self.at_risk, self.cfg.answer.bands, self.evidence, dose)
        return self._bands[dose]

    @cached_property
    def _bands(self) -> dict[str, pd.DataFrame]:
        return {}

    @cached_property
    def replication(self) -> pd.DataFrame:
        """How often each band statement is made again by a study of other seeds."""
        a = self.cfg.answer
        return replication(self.at_risk, a.bands, self.evidence, a.replicates, self.cfg.seed)

    @cached_property
    def damage(self) -> pd.DataFrame:
        """Quantiles of the return change per half-decade of kl_mean (analysis.damage)."""
        d, g = self.cfg.dose_response, self.cfg.damage
        return damage_quantiles(self.trials, tuple(g.quantiles), "kl_mean", d.bins_per_decade,
                                d.min_updates, g.bootstrap, self.cfg.seed)  # fmt: skip

    @cached_property
    def multiverse(self) -> pd.DataFrame:
        """The answer's band rates under every collapse definition of the grid."""
        m = self.cfg.multiverse
        return multiverse(self.updates, self.done, self.rules, definition_grid(m.drop_fracs, m.horizons),
                          self.cfg.answer.bands, self.evidence)  # fmt: skip

    @cached_property
    def held_out_at_risk(self) -> pd.DataFrame:
        """The held-out runs' updates at risk, as `at_risk`, each with its `setting`."""
        done = self.held_runs[self.held_runs["status"] == "done"]
        if done.empty:
            return pd.DataFrame(columns=[*self.at_risk.columns, "setting"])
        trials = update_trials(
            self.held_updates, done, self.update_rules, self.cfg.update_collapse.horizon
        )
        trials = trials[trials["at_risk"].astype(bool)]
        return trials.assign(setting=trials["run_id"].map(self.held_out))

    @cached_property
    def reference_at_risk(self) -> pd.DataFrame:
        """The updates at risk of the reference study (setting `reference`: a study of the
        suite's own runs, whose dose–response the transfer section carries over), judged by
        this report's rules, its envs' min_gain from its own records where the table has none."""
        ref = self.cfg.reference
        records = load_records(ref.out_dir, ref.sweep)
        if not records.runs["status"].eq("done").any():
            return pd.DataFrame(columns=self.at_risk.columns)
        return Context(self.cfg, records, self.out).at_risk

    @cached_property
    def held_out_frame(self) -> pd.DataFrame:
        """The per-run frame of the held-out runs."""
        c = self.cfg
        return run_frame(self.held_runs, self.held_updates, self.rules, c.final_window,
                         c.collapse.smooth_window)  # fmt: skip

    @cached_property
    def tasks(self) -> list[str]:
        """The tasks (envs) of the finished runs."""
        return sorted(self.done["env"].unique())

    @cached_property
    def per_task(self) -> pd.DataFrame:
        """The per-update dose–response pooled with the task as a stratum, then per task."""
        d = self.cfg.dose_response
        return per_task_dose_response(self.at_risk, d.level, d.progress, d.bootstrap, self.cfg.seed,
                                      pooled=self.dose)  # fmt: skip

    @cached_property
    def task_tests(self) -> dict:
        """Whether the dose–response's slope and level differ between tasks."""
        return task_interaction(self.at_risk)

    @cached_property
    def zero_dose_by_task(self) -> pd.DataFrame:
        """Per task: the zero-dose runs that collapsed and the zero-dose updates at risk
        followed by a 'collapse', with Wilson intervals (the collapse rules' false alarms)."""
        table = self.collapse_table[self.collapse_table["variant"].isin(CONTROLS)]
        updates = self.at_risk[self.at_risk["algo"].isin(CONTROLS)]
        rows = []
        for env in sorted(set(self.tasks) | set(table.loc[table["runs"] > 0, "env"])):
            runs = table[table["env"] == env]
            rk, rn = int(runs["collapsed"].sum()), int(runs["runs"].sum())
            part = updates[updates["env"] == env]
            uk, un = int(part["collapse"].sum()), len(part)
            (runs_low, runs_high), (updates_low, updates_high) = (
                wilson_interval(rk, rn),
                wilson_interval(uk, un),
            )
            rows.append({"env": env, "runs_k": rk, "runs_n": rn, "runs_low": runs_low, "runs_high": runs_high,
                         "updates_k": uk, "updates_n": un, "updates_low": updates_low,
                         "updates_high": updates_high})  # fmt: skip
        return pd.DataFrame(rows, columns=ZERO_DOSE_COLUMNS)

    @cached_property
    def dose(self) -> pd.DataFrame:
        """The per-update logistic dose–response on kl_mean (pooled, then per algo)."""
        d = self.cfg.dose_response
        return logistic_dose_response(self.at_risk, d.level, d.progress, d.bootstrap, self.cfg.seed)

    @cached_property
    def mechanism_odds(self) -> pd.DataFrame:
        """At equal measured KL, each mechanism's odds of a collapse against TRPO's."""
        return mechanism_odds_ratios(self.at_risk, REFERENCE_MECHANISM)

    @cached_property
    def done(self) -> pd.DataFrame:
        return self.runs[self.runs["status"] == "done"]

    @cached_property
    def done_updates(self) -> pd.DataFrame:
        return self.updates[self.updates["run_id"].isin(self.done["run_id"])]

    @cached_property
    def kl_bounds(self) -> dict[str, list[float]]:
        """The step sizes of each rule whose step size bounds the KL (TRPO's δ values)."""
        return {rule: sorted(self.runs.loc[self.runs["variant"] == rule, "step_size"].unique())
                for rule in kl_bounded_rules()}  # fmt: skip

    @cached_property
    def definition(self) -> str:
        """The collapse rules in words, with their parameters and each env's min_gain."""
        c, u = self.cfg.collapse, self.cfg.update_collapse
        run_level = (
            f"The return_mean, smoothed by a trailing mean over {c.smooth_window} updates, first "
            f"gains at least min_gain (per env, below) over the run's initial return (the untrained "
            f"policy's: for a warm-started run, its starting policy's before training), then falls "
            f"below its running best by more than drop_frac = {c.drop_frac:g} of the gain. "
            f"Recovered: it later regains {c.recover_frac:g} of the peak gain."
            if named_function(c.rule, RUN_LEVEL_ARGUMENTS) is detect_collapse
            else f"The rule `{c.rule}` (collapse.rule), given smooth_window = {c.smooth_window}, "
            f"min_gain (per env, below), drop_frac = {c.drop_frac:g} and recover_frac = "
            f"{c.recover_frac:g}."
        )
        update_level = (
            f"An update is at risk when the mean return over the last {u.horizon} updates up to it "
            f"has gained at least min_gain and its own batch has not already fallen by more than "
            f"{u.drop_frac:g} of that gain; it collapses when the mean return over the next "
            f"{u.horizon} updates falls by more than {u.drop_frac:g} of the gain."
            if named_function(u.rule, UPDATE_LEVEL_ARGUMENTS) is update_outcomes
            else f"The rule `{u.rule}` (update_collapse.rule), given min_gain, drop_frac = "
            f"{u.drop_frac:g} and horizon = {u.horizon}."
        )
        return (
            f"**Collapse (run level).** {run_level} A run that diverged (non-finite loss, KL or "
            f"parameters) counts as collapsed; runs that crashed otherwise or did not finish are "
            f"`excluded`. **Collapse (update level).** {update_level} A warm-started run's starting "
            f"returns count as the updates before its first. **min_gain per env.** An env the "
            f"table (collapse.min_gain_per_env) does not list takes min_gain_share = "
            f"{c.min_gain_share:g} of the median gain over the initial return of its runs that "
            f"gained (a warm-started run's gain: its starting policy's; else: its best smoothed "
            f"return's). " + " ".join(self.threshold_sentences)
        )

    @cached_property
    def threshold_sentences(self) -> list[str]:
        """One sentence per env: the min_gain its rules used and where it came from."""
        table, share = self.cfg.collapse.min_gain_per_env, self.cfg.collapse.min_gain_share
        sentences = []
        for env, rule in self.rules.items():
            runs = int(self.gain_scales["runs"].get(env, 0))
            if env in table:
                sentences.append(f"{env}: min_gain = {rule.min_gain:g}, from the table.")
            elif runs:
                scale = self.gain_scales.at[env, "scale"]
                sentences.append(f"{env}: min_gain = {returns(rule.min_gain)}, by the rule "
                                 f"({share:g} × {returns(scale)}, the median gain of its {runs} "
                                 f"runs that gained).")  # fmt: skip
            else:
                sentences.append(f"{env}: none of its runs gained over its initial return, so the "
                                 f"rule gives no min_gain and its runs are left unjudged (no "
                                 f"update at risk, no run collapsed).")  # fmt: skip
        return sentences


def returns(value: float) -> str:
    """A return in words: whole units from 100 up, else three significant digits."""
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


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
