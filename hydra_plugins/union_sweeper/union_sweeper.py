"""A Hydra sweeper for studies whose grid is a union of per-algo grids: the adapter between
Hydra and experiments.sweep, which expands a preset's union (each algo's grid × envs ×
seeds, crossed with any sweep the command line adds: a comma-list, choice() or range(),
enumerated as Hydra's basic sweeper enumerates them) and packs runs into populations.
This sweeper checks every job's config before any starts, leaves out runs whose record is
already `done`, and hands the rest to whichever Hydra launcher is configured (joblib,
submitit, ray). Failed runs do not stop the sweep; they are listed at the end. A run
another process trains (a second sweep on the same out_dir) is waited for, and trained
here if that process leaves it unfinished.
"""

import contextlib
import signal
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hydra.core.config_store import ConfigStore
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.utils import JobReturn, JobStatus
from hydra.errors import HydraException
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from algos.allowed import ConfigError, stop_on_bad_input
from experiments.sweep import (
    GridError,
    command_line_axes,
    launcher_workers,
    pack,
    population_job,
    sweep_jobs,
)


@dataclass
class UnionSweeperConf:
    _target_: str = "hydra_plugins.union_sweeper.union_sweeper.UnionSweeper"
    progress_interval_s: float = 5.0  # how often the runs-done bar re-reads the records


ConfigStore.instance().store(group="hydra/sweeper", name="union", node=UnionSweeperConf)


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
        from experiments.preset import held_out_settings
        from records.held_out import write_held_out
        from records.store import RunRecord

        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        overrides = parser.parse_overrides(arguments)
        preset = self.config.sweep
        with stop_on_bad_input():
            try:
                fixed, crossed = command_line_axes(overrides)
                jobs = sweep_jobs(preset, fixed, crossed)
            except GridError as error:
                raise ConfigError(f"sweep '{preset.name}': {error}") from None
            specs = [(job, self.job_spec(job)) for job in jobs]
        if preset.get("held_out"):
            run_ids = {tuple(job): spec.run_id for job, spec in specs}
            write_held_out(self.config.out_dir, preset.name,
                           held_out_settings(preset, fixed, crossed, lambda j: run_ids[tuple(j)]))  # fmt: skip

        runs: dict[str, tuple[list[str], Path]] = {}
        keys: dict[str, tuple] = {}
        for job, spec in specs:
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

    def job_spec(self, job: list[str]):
        """A job's RunSpec, checked as a lone run's is; ConfigError naming the job."""
        from experiments.spec import RunSpec
        from experiments.validate import describe_hydra_error

        try:
            return RunSpec.from_cfg(
                self.hydra_context.config_loader.load_sweep_config(self.config, job)
            )
        except HydraException as error:
            problem = describe_hydra_error(str(error), job)
        except ConfigError as error:
            problem = str(error)
        raise ConfigError(f"sweep '{self.config.sweep.name}', job {' '.join(job)}: {problem}")

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
