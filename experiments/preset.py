"""A study preset's runs as the sweeper expands them (its jobs, their run ids, its held-out
runs), so that the benchmarks find a preset's runs and the report its held-out ones
(records/held_out.py) the way its sweep made them."""

import sys
from collections.abc import Callable

from omegaconf import DictConfig, OmegaConf

from algos.allowed import stop_on_bad_input
from experiments.spec import RunSpec
from experiments.sweep import expand_jobs, preset_grids
from experiments.validate import compose_run_config
from records.held_out import write_held_out

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


def held_out_settings(
    sweep: DictConfig,
    fixed: list[str],
    crossed: list[list[str]],
    run_id_of: Callable[[list[str]], str],
) -> dict[str, str]:
    """Run id -> its held-out setting in words: the grid's name and the values its varying
    axes take (`ppo_lr lr=0.003`), for a preset's held-out grids crossed with the command
    line's overrides as its sweep expands them (`sweep` is the composed `sweep` node)."""
    held_out = sweep.get("held_out")
    settings = {}
    for name, grid in (OmegaConf.to_container(held_out, resolve=True) if held_out else {}).items():
        varying = [
            k for k, v in grid.items() if k != "algo" and (isinstance(v, dict) or len(v) > 1)
        ]
        for job in expand_jobs({name: grid}, list(sweep.envs), list(sweep.seeds), fixed, crossed):
            overrides = dict(item.split("=", 1) for item in job)
            settings[run_id_of(job)] = " ".join(
                [name, *(f"{k.removeprefix('algo.')}={overrides[k]}" for k in varying)]
            )
    return settings


def main() -> None:
    """`python -m experiments.preset <preset> out_dir=<dir>`: write the list of a preset's
    held-out runs beside its records, as its sweep writes it (for an out_dir whose sweep
    ran before the sweep wrote the list)."""
    if len(sys.argv) < 2:
        raise SystemExit("usage: python -m experiments.preset <preset> [out_dir=<dir>] [overrides]")
    preset, overrides = sys.argv[1], sys.argv[2:]
    with stop_on_bad_input():
        cfg = compose_run_config([f"sweep={preset}", *overrides])
    settings = held_out_settings(
        cfg.sweep, [], [],
        lambda job: RunSpec.from_cfg(compose_run_config([f"sweep={preset}", *overrides, *job])).run_id,
    )  # fmt: skip
    print(f"{len(settings)} held-out runs: {write_held_out(cfg.out_dir, cfg.sweep.name, settings)}")


if __name__ == "__main__":
    main()
