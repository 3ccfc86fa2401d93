"""A study of code this suite did not write: Stable-Baselines3's PPO, each run measured by
the exact-KL monitor (monitor.sb3) into an ordinary run record, so `python -m
analysis.report sweep=sb3_ppo` reads it like the suite's own (conf/sb3/study.yaml).

Each env × seed trains one starting policy, saved beside its record, and branches it once
per arm, as the suite's warm starts do: every arm starts from the same policy, optimiser
state and observation statistics, and a run can only lose what that policy had. A unit
(env × seed) is trained in one process; a re-run skips every run whose record is done.
"""

import time
from pathlib import Path

import hydra
import torch
from joblib import Parallel, delayed
from omegaconf import DictConfig, OmegaConf

from algos.allowed import FLAG, NAMES, TEXT, Allowed, Int, Real, check_settings, stop_on_bad_input
from records.paths import CONF_DIR

PRETRAIN = "pretrain"
STUDY_KEYS: dict[str, Allowed | None] = {  # conf/sb3/study.yaml's keys
    "out_dir": TEXT,
    "sweep": TEXT,
    "envs": NAMES,
    "seeds": Allowed(list),  # integers
    "jobs": Int(low=-1),  # joblib's n_jobs
    "normalize": FLAG,
    "pretrain_steps": Int(low=1),
    "branch_steps": Int(low=1),
    "base.n_steps": Int(low=1),
    "base.batch_size": Int(low=1),
    "base.n_epochs": Int(low=1),
    "base.learning_rate": Real(0.0),
    "base.clip_range": Real(0.0),
    "base.target_kl": Real(0.0, optional=True),
    "arms": None,  # variant -> its knob (a PPO argument) and values: SB3 takes them on load
}


def make_env(env: str, seed: int, normalize: bool, stats: Path | None = None):
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize

    venv = make_vec_env(env, n_envs=1, seed=seed)
    if not normalize:
        return venv
    return VecNormalize.load(str(stats), venv) if stats else VecNormalize(venv)


def pretrain(cfg: dict, env: str, seed: int):
    """The unit's starting policy: trained unless its record is done; returns its run."""
    from stable_baselines3 import PPO

    from monitor import ForeignRun
    from monitor.sb3 import LIBRARY, ExactKLCallback, hyperparameters

    venv = make_env(env, seed, cfg["normalize"])
    model = PPO("MlpPolicy", venv, seed=seed, device="cpu", **cfg["base"])
    run = ForeignRun(cfg["out_dir"], PRETRAIN, env, seed, "sb3_ppo", hyperparameters(model),
                     "learning_rate", library=LIBRARY, total_steps=cfg["pretrain_steps"])  # fmt: skip
    if run.is_done() and (run.dir / "model.zip").exists():
        return run
    with run:
        model.learn(cfg["pretrain_steps"], callback=ExactKLCallback(run))
        model.save(run.dir / "model.zip")
        if cfg["normalize"]:
            venv.save(str(run.dir / "vecnormalize.pkl"))
    return run


def branch(cfg: dict, start, env: str, seed: int, variant: str, knob: str, value) -> str:
    """One arm's run from the starting policy, `knob` set to `value`; returns its status."""
    from stable_baselines3 import PPO

    from monitor import ForeignRun
    from monitor.sb3 import LIBRARY, ExactKLCallback, hyperparameters

    value = int(value) if knob == "n_epochs" else value
    venv = make_env(env, seed, cfg["normalize"],
                    start.dir / "vecnormalize.pkl" if cfg["normalize"] else None)  # fmt: skip
    model = PPO.load(start.dir / "model.zip", env=venv, device="cpu", seed=seed,
                     custom_objects={knob: value})  # fmt: skip
    algo = "hold" if variant == "hold" else "sb3_ppo"
    run = ForeignRun(cfg["out_dir"], cfg["sweep"], env, seed, algo, hyperparameters(model), knob,
                     variant=variant, library=LIBRARY, total_steps=cfg["branch_steps"],
                     warm_start=start.starting_point())  # fmt: skip
    if run.is_done():
        return "done (recorded before)"
    try:
        with run:
            model.learn(cfg["branch_steps"], callback=ExactKLCallback(run))
    except Exception as error:  # recorded failed with its reason; the study goes on
        return f"failed: {type(error).__name__}: {error}"
    return "done"


def unit(cfg: dict, env: str, seed: int) -> list[str]:
    torch.set_num_threads(1)
    started = time.perf_counter()
    lines = []
    start = pretrain(cfg, env, seed)
    for variant, arm in cfg["arms"].items():
        for value in arm["values"]:
            status = branch(cfg, start, env, seed, variant, arm["knob"], value)
            lines.append(f"{env} seed {seed} {variant} {arm['knob']}={value:g}: {status}")
    print(f"{env} seed {seed}: {len(lines)} runs in {time.perf_counter() - started:.0f} s",
          flush=True)  # fmt: skip
    return lines


@hydra.main(config_path=str(CONF_DIR / "sb3"), config_name="study", version_base="1.3")
def main(cfg: DictConfig) -> None:
    plain = OmegaConf.to_container(cfg, resolve=True)
    with stop_on_bad_input():
        check_settings(plain, STUDY_KEYS)
    units = [(env, seed) for seed in plain["seeds"] for env in plain["envs"]]
    print(
        f"sb3 study: {len(units)} units (env × seed) of "
        f"{sum(len(a['values']) for a in plain['arms'].values())} runs each, "
        f"{plain['jobs']} at a time, into {Path(plain['out_dir']) / plain['sweep']}",
        flush=True,
    )
    results = Parallel(n_jobs=plain["jobs"])(delayed(unit)(plain, env, seed) for env, seed in units)
    failed = [line for lines in results for line in lines if "failed" in line]
    print("\n".join(failed) if failed else "every run done")
    print(f"report: python -m analysis.report out_dir={plain['out_dir']} sweep={plain['sweep']}")


if __name__ == "__main__":
    main()
