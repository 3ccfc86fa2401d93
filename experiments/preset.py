"""A study preset's runs as the sweeper expands them (its jobs, their run ids), so that the
analysis and the benchmarks find a preset's runs the way its sweep made them."""

from experiments.spec import RunSpec
from experiments.validate import ConfigError, compose_run_config
from hydra_plugins.union_sweeper.union_sweeper import expand_jobs, preset_grids

PARTS = ("all", "grids", "held_out")  # every grid | the step-size grids | the held-out knobs


def preset_jobs(preset: str, part: str = "all") -> list[list[str]]:
    """Each job's command line (`sweep=<preset>` and its overrides) in the sweep's order."""
    sweep = compose_run_config([f"sweep={preset}"]).sweep
    grids = preset_grids(sweep)
    held_out = set(sweep.get("held_out") or {})
    chosen = {name: grid for name, grid in grids.items()
              if part == "all" or (name in held_out) == (part == "held_out")}  # fmt: skip
    return [[f"sweep={preset}", *job] for job in
            expand_jobs(chosen, list(sweep.envs), list(sweep.seeds), [], [])]  # fmt: skip


def preset_run_ids(preset: str, part: str = "all") -> list[str]:
    """The run ids of a preset's jobs (a run two jobs share counted once)."""
    ids = (RunSpec.from_cfg(compose_run_config(job)).run_id for job in preset_jobs(preset, part))
    return list(dict.fromkeys(ids))


def held_out_settings(preset: str) -> dict[str, str]:
    """Run id -> its held-out setting in words (`ppo epochs=30`), for the preset's held-out
    grids; {} for a preset without them, or a sweep that is no preset."""
    try:
        jobs = preset_jobs(preset, "held_out")
    except ConfigError:
        return {}
    settings = {}
    for job in jobs:
        overrides = dict(item.split("=", 1) for item in job)
        knobs = [f"{k.removeprefix('algo.')}={v}" for k, v in overrides.items()
                 if k not in ("sweep", "env", "seed", "algo")]  # fmt: skip
        run = RunSpec.from_cfg(compose_run_config(job)).run_id
        settings[run] = " ".join([overrides["algo"], *knobs])
    return settings
