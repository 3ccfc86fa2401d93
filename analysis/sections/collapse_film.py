"""What a collapse looks like: for one collapsed run per update rule, its policy just before
and just after the update that broke it, each filmed over one episode, beside the run's
return curve and that update's KL.

The run is the rule's collapsed run that fell furthest (its `drop`). Its fall runs from the
peak's update, less the smoothing window (the smoothed return lags the batch returns by up
to that many updates), to the detection. Every policy of the fall is rebuilt from the run's record
(records.replay: the newest checkpoint before it, trained on to it as the run trained)
and plays the same `episodes` episode starts with its mean actions; the update that broke
it is the one after which that mean return fell most (a batch's return is too noisy a
measure of one update: its actions are sampled). Both strips film the first of those
starts, so what differs between them is what the one update changed.
"""

from pathlib import Path

import numpy as np
import pandas as pd
from joblib import Parallel, delayed

from algos.rollout import episode_returns
from analysis.plot_style import plt
from analysis.section import Context, Figure, Finding, Part, skipped
from analysis.vocabulary import CONTROLS, LABEL, PALETTE, ordered
from records.film import film
from records.record import Record
from records.replay import policy_at

TITLE = "What a collapse looks like"
SCALARS = ("update", "return_before", "return_after", "length_before", "length_after",
           "evaluated_before", "evaluated_after", "differs")  # fmt: skip


def build(ctx: Context) -> Part | None:
    film = ctx.cfg.film
    if not film.show:
        return skipped(TITLE, "film.show=false")
    if ctx.cfg.source != "records":
        return skipped(TITLE, "it replays run records' checkpoints, and the source is W&B")
    chosen = falls(ctx.runs_with_frame, ctx.updates, ctx.cfg.collapse.smooth_window)
    if chosen.empty:
        return skipped(TITLE, "no run collapsed")
    dirs = [Path(ctx.cfg.out_dir) / r.sweep / r.run_id for r in chosen.itertuples()]
    on_disk = [  # records of the suite's own runs, with checkpoints to replay
        Record(d).exists() and Record(d).checkpoint_dir.is_dir() for d in dirs
    ]
    chosen, dirs = chosen[on_disk], [d for d, kept in zip(dirs, on_disk, strict=True) if kept]
    if chosen.empty:
        return skipped(TITLE, "the collapsed runs' records hold no checkpoints to replay "
                              "(records of code the suite did not write have none)")  # fmt: skip
    try:
        strips = Parallel()(
            delayed(filmstrip)(str(d), r.first, r.last, ctx.cfg.seed, film.episodes, film.size,
                               film.frames)
            for d, r in zip(dirs, chosen.itertuples(), strict=True)
        )  # fmt: skip
    except RuntimeError as why:  # nothing here can render: the report says so and goes on
        return Part(TITLE, findings=[Finding(f"No filmstrip: {why}.", "")])
    table = chosen.assign(**{key: [s[key] for s in strips] for key in SCALARS})
    sizes = ctx.updates.set_index(["run_id", "update"])[["step", "kl_mean", "kl_max"]]
    table = table.join(sizes, on=["run_id", "update"])
    findings = [Finding(
        f"{LABEL.get(r.variant, r.variant)}: update {r.update} of {r.run_id} (kl_mean "
        f"{r.kl_mean:.3g} nats, kl_max {r.kl_max:.3g}) took the mean return of "
        f"{film.episodes} fixed episode starts from {r.evaluated_before:.0f} to "
        f"{r.evaluated_after:.0f}, the largest drop of any update from its peak to the "
        f"detection; the filmed episode went from {r.return_before:.0f} over {r.length_before} "
        f"steps to {r.return_after:.0f} over {r.length_after}"
        + (f"; the replay differs from the record ({r.differs})" if r.differs else ""),
        "collapse_filmstrip") for r in table.itertuples()]  # fmt: skip
    return Part(
        TITLE,
        data={"collapse_filmstrip": table},
        figures=[Figure("collapse_filmstrip", draw(table, strips, ctx.updates),
                        "Per update rule, one collapsed run: left, its return curve with the update "
                        "that broke it marked; right, frames of one episode (same start, mean "
                        "actions) played by the policy just before (top) and just after (bottom) "
                        "that update, first frame to last, with each episode's return.")],
        findings=findings,
    )  # fmt: skip


def draw(table: pd.DataFrame, strips: list[dict], updates: pd.DataFrame) -> plt.Figure:
    """One row per update rule: the run's return_mean against env steps with the breaking
    update marked, then the frames of the policy before (top) and after (bottom) it."""
    frames = max(len(s["frames_before"]) for s in strips)
    fig = plt.figure(figsize=(4.6 + 1.25 * frames, 2.7 * len(strips)))
    rows = fig.subfigures(len(strips), 1, squeeze=False)[:, 0]
    for row, r, strip in zip(rows, table.itertuples(), strips, strict=True):
        grid = row.add_gridspec(2, frames + 2, width_ratios=[2.6, 1.2, *[1] * frames],
                                top=0.84, bottom=0.17)  # fmt: skip
        curve = row.add_subplot(grid[:, 0])
        run = updates[updates["run_id"] == r.run_id].sort_values("update")
        curve.plot(run["step"], run["return_mean"], color=PALETTE.get(r.variant, "k"), lw=1.4)
        curve.axvline(r.step, color="crimson", ls="--", lw=1.2)
        curve.set_title(f"{LABEL.get(r.variant, r.variant)}\nupdate {r.update}, "
                        f"kl_mean {r.kl_mean:.2g} nats", fontsize=9)  # fmt: skip
        curve.set_xlabel("env steps", fontsize=8)
        curve.set_ylabel("return_mean", fontsize=8)
        curve.tick_params(labelsize=7)
        for k, name in enumerate(("before", "after")):
            shots, steps = strip[f"frames_{name}"], strip[f"at_{name}"]
            label = row.add_subplot(grid[k, 1])
            label.set_axis_off()
            label.text(0.95, 0.5, f"{name} update {r.update}\nreturn {strip[f'return_{name}']:.0f}\n"
                       f"{strip[f'length_{name}']} steps", ha="right", va="center", fontsize=8,
                       color="crimson" if name == "after" else "k")  # fmt: skip
            for j in range(frames):
                ax = row.add_subplot(grid[k, j + 2])
                ax.set_axis_off()
                if j < len(shots):
                    ax.imshow(shots[j])
                    ax.set_title(f"t={steps[j]}", fontsize=7, pad=2)
    return fig


def falls(runs: pd.DataFrame, updates: pd.DataFrame, smooth_window: int) -> pd.DataFrame:
    """Per update rule (zero-dose controls aside), its collapsed done run that fell furthest,
    and the first and last update of its fall (the peak's update less smooth_window − 1, to
    the detection)."""
    collapsed = runs[runs["collapsed"].astype(bool) & runs["status"].eq("done")
                     & ~runs["variant"].isin(CONTROLS)]  # fmt: skip
    rows = []
    for variant in ordered(collapsed["variant"].unique()):
        run = collapsed[collapsed["variant"] == variant].sort_values(
            ["drop", "run_id"], ascending=[False, True]).iloc[0]  # fmt: skip
        mine = updates[updates["run_id"] == run.run_id]
        fall = mine.loc[(mine["step"] >= run.peak_step) & (mine["step"] <= run.collapse_step),
                        "update"]  # fmt: skip
        if fall.empty:
            continue
        first = max(1, int(fall.min()) - (smooth_window - 1))
        rows.append({"variant": variant, "run_id": run.run_id, "sweep": run.sweep,
                     "env": run.env, "first": first, "last": int(fall.max())})  # fmt: skip
    return pd.DataFrame(rows)


def filmstrip(run_dir: str, first: int, last: int, seed: int, episodes: int, size: int,
              frames: int) -> dict:  # fmt: skip
    """In a worker: every policy from update first − 1 to last, each over the same episode
    starts; the update after which their mean return fell most; its two policies filmed
    over the first start (played once to learn its length, then again rendering only the
    frames shown)."""

    def evaluated(policy) -> tuple[np.ndarray, np.ndarray]:
        learner = policy.learner
        learner.collector.close()
        returns, lengths = episode_returns(learner.actor, learner.collector.obs_normalizer,
                                           policy.config.env_id, episodes, seed, False,
                                           **policy.config.env_kwargs)  # fmt: skip
        return returns, lengths

    previous = policy_at(Path(run_dir), first - 1)
    previous_returns, previous_lengths = evaluated(previous)
    worst, differs = None, previous.differs
    for update in range(first, last + 1):
        current = policy_at(Path(run_dir), update, after=previous)
        differs = differs or current.differs
        returns, lengths = evaluated(current)
        fall = returns.mean() - previous_returns.mean()
        if worst is None or fall < worst[0]:
            worst = (fall, previous, current, previous_returns, returns, previous_lengths, lengths)
        previous, previous_returns, previous_lengths = current, returns, lengths
    _, before, after, before_returns, after_returns, before_lengths, after_lengths = worst
    strip = {"update": after.update, "differs": differs or "",
             "evaluated_before": float(before_returns.mean()),
             "evaluated_after": float(after_returns.mean())}  # fmt: skip
    for name, policy, length in (("before", before, before_lengths[0]),
                                 ("after", after, after_lengths[0])):  # fmt: skip
        at = np.unique(np.linspace(0, length, frames).round().astype(int))
        learner = policy.learner
        shots, ret, filmed_length = film(learner.actor, learner.collector.obs_normalizer,
                                         policy.config.env_id, seed, False,
                                         set(at.tolist()).__contains__, size, size,
                                         **policy.config.env_kwargs)  # fmt: skip
        strip |= {f"frames_{name}": shots, f"at_{name}": at, f"return_{name}": ret,
                  f"length_{name}": filmed_length}  # fmt: skip
    return strip
