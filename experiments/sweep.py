"""A study's jobs: the union of a preset's per-algo grids (conf/sweep/<name>.yaml) crossed
with the command line's sweeps, and their packing into populations trained side by side.
Pure functions of the preset and the overrides, so that the sweeper (the Hydra plugin, a
thin adapter), the analysis' presets and the benchmarks expand a study the same way.

A preset lists, per algo, the step sizes to try:
  sweep.grids: {pg: {lr: [...]}, trpo: {delta: [...]}, ppo: {epsilon: [...]}}
and the envs and seeds every algo runs on. A grid's name is its algo unless the grid
says `algo: <name>`, so one algo can have several grids (e.g. PPO's objective variants).
An axis may instead map each env to its own values, for a study whose step sizes break
each task at a different size: `trpo: {delta: {Hopper-v5: [...], HalfCheetah-v5: [...]}}`.
`sweep.held_out` has more grids of the same form, run alongside: the runs whose update
size a knob other than the step size changes (the analysis fits on `grids` and predicts
these).
"""

import itertools
from collections.abc import Mapping, Sequence

from hydra.core.override_parser.types import Override
from omegaconf import DictConfig, OmegaConf

from algos.allowed import ConfigError


class GridError(ConfigError):
    """A preset's grid that cannot be expanded; its message is one line."""


def command_line_axes(overrides: Sequence[Override]) -> tuple[list[str], list[list[str]]]:
    """The command line's fixed overrides, and each of its sweeps as an axis of `key=value`
    with the values Hydra's basic sweeper gives it (range(1,4): 1, 2, 3). A sweep that
    cannot be enumerated (interval()) or has no values (range(4,1)) raises GridError: an
    empty axis would leave its key, or every job, out of the sweep without a word."""
    fixed, crossed = [], []
    for o in overrides:
        if not o.is_sweep_override():
            fixed.append(o.input_line)
            continue
        if not o.is_discrete_sweep():
            raise GridError(
                f"'{o.input_line}' cannot be enumerated; sweep a comma-list, choice() or range()"
            )
        axis = [f"{o.get_key_element()}={v}" for v in o.sweep_string_iterator()]
        if not axis:
            raise GridError(f"'{o.input_line}' sweeps no values")
        crossed.append(axis)
    return fixed, crossed


def sweep_jobs(preset: DictConfig, fixed: list[str], crossed: list[list[str]]) -> list[list[str]]:
    """Every job's overrides: the preset's union (`expand_jobs`) crossed with the command
    line's sweeps (`command_line_axes`), or, for a preset without grids, those alone."""
    grids = preset_grids(preset)
    if grids:
        return expand_jobs(grids, list(preset.envs), list(preset.seeds), fixed, crossed)
    return [[*fixed, *point] for point in itertools.product(*crossed)]


def expand_jobs(
    grids: dict,
    envs: Sequence[str],
    seeds: Sequence[int],
    fixed: list[str],
    crossed: list[list[str]],
) -> list[list[str]]:
    """Override lists of every job: ∪_algo (algo grid × envs × seeds) × command-line sweeps.

    `fixed` overrides go to every job; each list in `crossed` is one command-line sweep
    axis (e.g. ["seed=0", "seed=1"]); an axis over env or seed replaces the preset's list.
    Seeds vary fastest, then envs: the first jobs a launcher starts side by side are
    different seeds, so warm-start runs train their distinct starting policies in parallel.
    An axis given per env (a mapping env -> values) must give values for every env run.
    """
    env_axis = next((a for a in crossed if a[0].startswith("env=")), [f"env={e}" for e in envs])
    seed_axis = next((a for a in crossed if a[0].startswith("seed=")), [f"seed={s}" for s in seeds])
    other_axes = [a for a in crossed if a[0].split("=", 1)[0] not in ("env", "seed")]
    jobs = []
    for name, axes in grids.items():
        grid = dict(axes)
        algo = grid.pop("algo", name)
        points = grid_points(name, grid, [e.split("=", 1)[1] for e in env_axis])
        for point in dict.fromkeys(p for per_env in points.values() for p in per_env):
            for *rest, env, seed in itertools.product(
                *other_axes, env_axis or [None], seed_axis or [None]
            ):
                if env is not None and point not in points[env.split("=", 1)[1]]:
                    continue
                job = [*fixed, f"algo={algo}", *point, *rest]
                job += [x for x in (env, seed) if x is not None]
                jobs.append(job)
    return jobs


def grid_points(name: str, grid: dict, envs: list[str]) -> dict[str | None, list[tuple]]:
    """Each env's points of one grid (tuples of overrides), in the grid's order; with no
    env axis, the one key None."""
    per_env = {k for k, values in grid.items() if isinstance(values, Mapping)}
    if per_env and not envs:
        raise GridError(
            f"grid '{name}' gives {', '.join(sorted(per_env))} per env, but the sweep has no envs"
        )
    points = {}
    for env in envs or [None]:
        values = {}
        for key, axis in grid.items():
            if key in per_env and env not in axis:
                raise GridError(
                    f"grid '{name}' gives {key} for {', '.join(map(str, axis))} but not for {env}: "
                    f"an axis given per env needs values for every env the sweep runs"
                )
            values[key] = axis[env] if key in per_env else axis
        keys = list(values)
        points[env] = [tuple(f"{k}={v}" for k, v in zip(keys, combo, strict=True))
                       for combo in itertools.product(*(values[k] for k in keys))]  # fmt: skip
    return points


MAX_POPULATION = 32  # `auto`'s largest population (README, Benchmarks: populations)


def pack(keys: Sequence, size: int | str, workers: int) -> list[list[int]]:
    """Indices of runs in populations: runs of one key (algos.train.population_key) together,
    dealt round-robin into groups of at most `size`, of near-equal sizes, each group in sweep
    order and the groups in the order of their first run. `auto`: as large as keeps
    `workers` populations going side by side, and at most MAX_POPULATION."""
    groups: dict = {}
    for index, key in enumerate(keys):
        groups.setdefault(key, []).append(index)
    if size == "auto":
        total = len(keys)
        count = max(min(workers, total), -(-total // MAX_POPULATION))
        size = max(1, -(-total // max(count, 1)))
    populations = []
    for members in groups.values():
        count = -(-len(members) // size)
        populations += [members[k::count] for k in range(count)]
    return sorted(populations, key=lambda members: members[0])


def launcher_workers(config: DictConfig) -> int:
    """How many jobs the configured launcher runs at once (joblib's n_jobs, submitit's
    array_parallelism; this machine's cores otherwise)."""
    import os

    launcher = OmegaConf.select(config, "hydra.launcher", default={}) or {}
    for key in ("n_jobs", "array_parallelism"):
        value = launcher.get(key)
        if isinstance(value, int) and value > 0:
            return value
    return os.cpu_count() or 1


def population_job(fixed: list[str], jobs: list[list[str]]) -> list[str]:
    """The overrides of a job that trains `jobs` side by side: the shared ones, and each
    member's own as one line of `members` (experiments/run.py composes them)."""
    lines = [" ".join(o for o in job if o not in fixed) for job in jobs]
    return [*fixed, "members=[" + ",".join(f"'{line}'" for line in lines) + "]"]


def preset_grids(preset: DictConfig) -> dict:
    """A preset's grids and its held-out grids, as one union (plain data)."""
    grids = OmegaConf.to_container(preset.grids, resolve=True) if preset.grids else {}
    held_out = preset.get("held_out")
    held_out = OmegaConf.to_container(held_out, resolve=True) if held_out else {}
    if both := sorted(set(grids) & set(held_out)):
        raise GridError(
            f"grid names {', '.join(both)} are both in grids and in held_out: give each its own"
        )
    return grids | held_out
