"""A Hydra sweeper for studies whose grid is a union of per-algo grids.

A preset (conf/sweep/<name>.yaml) lists, per algo, the step sizes to try:
  sweep.grids: {pg: {lr: [...]}, trpo: {delta: [...]}, ppo: {epsilon: [...]}}
and the envs and seeds every algo runs on. A grid's name is its algo unless the grid
says `algo: <name>`, so one algo can have several grids (e.g. PPO's objective variants).
An axis may instead map each env to its own values, for a study whose step sizes break
each task at a different size: `trpo: {delta: {Hopper-v5: [...], HalfCheetah-v5: [...]}}`.
`sweep.held_out` has more grids of the same form, run alongside: the runs whose update
size a knob other than the step size changes (the analysis fits on `grids` and predicts
these). Hydra's basic sweeper only takes Cartesian products, so this one expands the
union (each algo's grid × envs × seeds, crossed with any sweep the command line adds: a
comma-list, choice() or range(), enumerated as the basic sweeper enumerates them), checks
every job's config before any starts,
leaves out runs whose record is already `done`, and hands the rest to whichever Hydra
launcher is configured (joblib, submitit, ray). Failed runs do not stop the sweep; they
are listed at the end. A run another process trains (a second sweep on the same out_dir)
is waited for, and trained here if that process leaves it unfinished.
"""

import contextlib
import itertools
import signal
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from hydra.core.config_store import ConfigStore
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.core.utils import JobReturn, JobStatus
from hydra.errors import HydraException
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm


@dataclass
class UnionSweeperConf:
    _target_: str = "hydra_plugins.union_sweeper.union_sweeper.UnionSweeper"
    progress_interval_s: float = 5.0  # how often the runs-done bar re-reads the records


ConfigStore.instance().store(group="hydra/sweeper", name="union", node=UnionSweeperConf)


class GridError(ValueError):
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


class UnionSweeper(Sweeper):
    def __init__(self, progress_interval_s: float = 5.0):
        self.progress_interval_s = progress_interval_s
        self.config: DictConfig | None = None
        self.hydra_context: HydraContext | None = None
        self.launcher = None

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        from hydra.core.plugins import Plugins

        self.hydra_context = hydra_context
        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def sweep(self, arguments: list[str]) -> list[Sequence[JobReturn]]:
        from experiments.attempt import population_key
        from experiments.spec import RunSpec
        from experiments.validate import ConfigError
        from records.store import RunRecord

        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        overrides = parser.parse_overrides(arguments)
        preset = self.config.sweep
        try:
            fixed, crossed = command_line_axes(overrides)
            jobs = sweep_jobs(preset, fixed, crossed)
        except GridError as error:
            print(f"error: sweep '{preset.name}': {error}", file=sys.stderr)
            sys.exit(2)

        runs: dict[str, tuple[list[str], Path]] = {}
        keys: dict[str, tuple] = {}
        for job in jobs:
            try:
                cfg = self.hydra_context.config_loader.load_sweep_config(self.config, job)
                spec = RunSpec.from_cfg(cfg)
            except (ConfigError, HydraException) as error:
                message = " ".join(str(error).split())
                print(
                    f"error: sweep '{preset.name}', job {' '.join(job)}: {message}", file=sys.stderr
                )
                sys.exit(2)
            runs.setdefault(spec.run_id, (job, spec.record_dir))
            keys.setdefault(spec.run_id, population_key(spec))
        todo_ids = [rid for rid, (_, path) in runs.items() if not RunRecord(path).is_done()]
        todo = [runs[rid] for rid in todo_ids]
        sweep_root = Path(self.config.out_dir) / preset.name
        sweep_root.mkdir(parents=True, exist_ok=True)
        launcher_name = OmegaConf.select(self.config, "hydra.launcher._target_", default="?").split(
            "."
        )[-1]
        print(
            f"sweep '{preset.name}': {len(runs)} runs, {len(runs) - len(todo)} already done, "
            f"{len(todo)} to run with {launcher_name} -> {sweep_root}"
        )
        size = OmegaConf.select(self.config, "sweep.population", default=1)
        results: list[Sequence[JobReturn]] = []
        if todo:
            with SweepProgress([path for _, path in runs.values()], self.progress_interval_s), \
                    terminate_as_interrupt():  # fmt: skip
                launched = 0
                while todo:
                    populations = [
                        [todo[i] for i in members]
                        for members in pack(
                            [keys[rid] for rid in todo_ids], size, launcher_workers(self.config)
                        )
                    ]
                    if size != 1:
                        print(
                            f"{len(todo)} runs in {len(populations)} populations of "
                            f"{', '.join(str(len(p)) for p in populations)}"
                        )
                    launch = [population[0][0] if len(population) == 1 else
                              population_job(fixed, [job for job, _ in population])
                              for population in populations]  # fmt: skip
                    results.append(self.launcher.launch(launch, launched))
                    launched += len(launch)
                    todo = trained_elsewhere(populations, results[-1])
                    todo_ids = [rid for rid, pair in runs.items() if pair in todo]
                    if todo:
                        self.wait_for_others(todo)
        report_failures(runs, results)
        return results

    def wait_for_others(self, todo: list[tuple[list[str], Path]]) -> None:
        """Wait while another process (a second sweep on the same out_dir) trains these
        runs; those it leaves unfinished (it was killed) are then trained here."""
        from records.store import RunRecord

        print(f"{len(todo)} runs are being trained by another process: waiting for them")
        while any(RunRecord(path).lock.held_elsewhere() for _, path in todo):
            time.sleep(self.progress_interval_s)


@contextlib.contextmanager
def terminate_as_interrupt():
    """SIGTERM to the sweep's own process acts as Ctrl-C: the launcher aborts and takes its
    workers down with it. Otherwise `kill <sweep pid>` ends the sweep while its local
    workers (joblib's) go on training, orphaned, into the records a re-run would resume."""

    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def read_status(path: Path) -> dict:
    """The record's status.json ({} while it has none)."""
    from records.store import RunRecord  # here, not at import: Hydra imports every plugin

    return RunRecord(path).status() or {}


def record_status(path: Path) -> str | None:
    return read_status(path).get("status")


class SweepProgress:
    """A bar of runs done / total (and failures so far), read from the records themselves,
    so it works the same whichever launcher runs the jobs and wherever they run. Where
    output is not a terminal (a log file), one line per change instead of a bar."""

    def __init__(self, paths: list[Path], interval_s: float):
        self.paths = paths
        self.interval_s = interval_s
        self.stop = threading.Event()
        self.interactive = sys.stderr.isatty()
        self.bar = tqdm(
            total=len(paths), unit="run", desc="runs done", disable=not self.interactive
        )
        self.thread = threading.Thread(target=self.poll, daemon=True)
        self.last_line = ""

    def refresh(self) -> None:
        statuses = [record_status(p) for p in self.paths]
        finished, failed = sum(s in ("done", "failed") for s in statuses), statuses.count("failed")
        running = statuses.count("running")
        if self.interactive:
            self.bar.n = finished
            self.bar.set_postfix(failed=failed, running=running)
            self.bar.refresh()
            return
        line = f"runs done {finished}/{len(self.paths)} (failed {failed}, running {running})"
        if line != self.last_line:
            print(line, flush=True)
            self.last_line = line

    def poll(self) -> None:
        while not self.stop.wait(self.interval_s):
            self.refresh()

    def __enter__(self) -> "SweepProgress":
        self.refresh()
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join()
        self.refresh()
        self.bar.close()


def trained_elsewhere(
    populations: list[list[tuple[list[str], Path]]], results: Sequence[JobReturn]
) -> list[tuple[list[str], Path]]:
    """The runs that found their record held (or taken) by another process, unless it is
    done. A population job returns its members' statuses, a job of one run its status."""
    held = []
    for population, result in zip(populations, results, strict=True):
        if result.status != JobStatus.COMPLETED:
            continue
        value = result._return_value
        statuses = value if isinstance(value, list | tuple) else [value]
        held += [pair for pair, status in zip(population, statuses, strict=True)
                 if status in ("locked", "lost")]  # fmt: skip
    return [(job, path) for job, path in held if record_status(path) not in ("done", "failed")]


def report_failures(
    runs: dict[str, tuple[list[str], Path]], results: list[Sequence[JobReturn]]
) -> None:
    """Print the failed runs with their reasons; a job that raised outside the run counts too."""
    failed = []
    for rid, (_, path) in runs.items():
        status = read_status(path)
        if status.get("status") == "failed":
            failed.append(f"  {rid}: {status.get('reason')}")
    for batch in results:
        for result in batch:
            if result.status == JobStatus.FAILED:
                failed.append(f"  job {' '.join(result.overrides)}: {result._return_value!r}")
    done = sum(record_status(p) == "done" for _, p in runs.values())
    print(f"sweep finished: {done}/{len(runs)} done, {len(failed)} failed")
    if failed:
        print("failed runs:\n" + "\n".join(failed))
