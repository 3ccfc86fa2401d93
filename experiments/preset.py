"""A study preset's runs as the sweeper expands them (its jobs, their run ids), so that the
analysis and the benchmarks find a preset's runs the way its sweep made them."""

from omegaconf import OmegaConf

from experiments.spec import RunSpec
from experiments.sweep import expand_jobs, preset_grids
from experiments.validate import ConfigError, compose_run_config

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


def held_out_settings(preset: str) -> dict[str, str]:
    """Run id -> its held-out setting in words: the grid's name and the values its varying
    axes take (`ppo_lr lr=0.003`); {} for a preset without held-out grids, or a sweep that
    is no preset."""
    try:
        sweep = compose_run_config([f"sweep={preset}"]).sweep
    except ConfigError:
        return {}
    held_out = sweep.get("held_out")
    settings = {}
    for name, grid in (OmegaConf.to_container(held_out, resolve=True) if held_out else {}).items():
        varying = [
            k for k, v in grid.items() if k != "algo" and (isinstance(v, dict) or len(v) > 1)
        ]
        for job in expand_jobs({name: grid}, list(sweep.envs), list(sweep.seeds), [], []):
            overrides = dict(item.split("=", 1) for item in job)
            run = RunSpec.from_cfg(compose_run_config([f"sweep={preset}", *job])).run_id
            settings[run] = " ".join(
                [name, *(f"{k.removeprefix('algo.')}={overrides[k]}" for k in varying)]
            )
    return settings
