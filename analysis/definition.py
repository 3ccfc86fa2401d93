"""The collapse rules in words, with their parameters and each env's min_gain and where it
came from: the definition the per-run tables state beside their counts."""

from algos.allowed import named_function
from analysis.collapse import (
    RUN_LEVEL_ARGUMENTS,
    UPDATE_LEVEL_ARGUMENTS,
    detect_collapse,
    update_outcomes,
)
from analysis.section import Context


def definition(ctx: Context) -> str:
    """The collapse rules in words, with their parameters and each env's min_gain."""
    c, u = ctx.cfg.collapse, ctx.cfg.update_collapse
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
        f"An update is at risk when the mean return over the last {u.updates_ahead} updates up to it "
        f"has gained at least min_gain and its own batch has not already fallen by more than "
        f"{u.drop_frac:g} of that gain; it collapses when the mean return over the next "
        f"{u.updates_ahead} updates falls by more than {u.drop_frac:g} of the gain."
        if named_function(u.rule, UPDATE_LEVEL_ARGUMENTS) is update_outcomes
        else f"The rule `{u.rule}` (update_collapse.rule), given min_gain, drop_frac = "
        f"{u.drop_frac:g} and updates_ahead = {u.updates_ahead}."
    )
    return (
        f"**Collapse (run level).** {run_level} A run that diverged (non-finite loss, KL or "
        f"parameters) counts as collapsed; runs that crashed otherwise or did not finish are "
        f"`excluded`. **Collapse (update level).** {update_level} A warm-started run's starting "
        f"returns count as the updates before its first. **min_gain per env.** An env the "
        f"table (collapse.min_gain_per_env) does not list takes min_gain_share = "
        f"{c.min_gain_share:g} of the median gain over the initial return of its runs that "
        f"gained (a warm-started run's gain: its starting policy's; else: its best smoothed "
        f"return's). " + " ".join(threshold_sentences(ctx))
    )


def threshold_sentences(ctx: Context) -> list[str]:
    """One sentence per env: the min_gain its rules used and where it came from."""
    table, share = ctx.cfg.collapse.min_gain_per_env, ctx.cfg.collapse.min_gain_share
    sentences = []
    for env, rule in ctx.rules.items():
        runs = int(ctx.gain_scales["runs"].get(env, 0))
        if env in table:
            sentences.append(f"{env}: min_gain = {rule.min_gain:g}, from the table.")
        elif runs:
            scale = ctx.gain_scales.at[env, "scale"]
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
