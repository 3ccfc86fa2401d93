"""`make bench`: env-steps/s of our PG, TRPO and PPO against Stable-Baselines3 peers on the
same env, same step count, matched hyperparameters, one torch thread, measured back to
back in one invocation (each in its own subprocess, which also gives its peak RSS).

Floors printed beside them: the raw env step rate (no policy) and the rate with a
64x64 tanh torch MLP called once per step. Population rows (`ppo_pop8`: 8 PPO runs of
different seeds trained side by side in one process, algos.train.train_together) are rated
by their members' steps together: that process's throughput on its one core, which
`ratio_vs_peer` sets against one peer run's. Writes results/bench/<env>-<steps>.csv.
"""

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from algos.minibatch_step import COMPILE_MODES

ROOT = Path(__file__).resolve().parent.parent
PAIRS = [("ppo", "sb3_ppo"), ("trpo", "sb3_trpo"), ("pg", "sb3_a2c")]
TARGETS = {"ppo": 3.0, "trpo": 3.0, "pg": 3.0}
POPULATIONS = (1, 2, 4, 8, 16, 32)  # population sizes measured
POPULATION_ROWS = [f"{algo}_pop{n}" for algo, _ in PAIRS for n in POPULATIONS]
CONTENDERS = (["raw_env", "policy_in_loop"] + [n for pair in PAIRS for n in pair] + ["ppo_x2"]
              + POPULATION_ROWS)  # fmt: skip


def raw_env(env_id: str, steps: int) -> None:
    import gymnasium as gym

    env = gym.make(env_id)
    env.reset(seed=0)
    actions = np.random.default_rng(0).uniform(-1, 1, (steps, *env.action_space.shape))
    for a in actions:
        _, _, terminated, truncated, _ = env.step(a)
        if terminated or truncated:
            env.reset()


def policy_in_loop(env_id: str, steps: int) -> None:
    import gymnasium as gym
    import torch

    from algos.policy import GaussianActor

    env = gym.make(env_id)
    obs, _ = env.reset(seed=0)
    actor = GaussianActor(env.observation_space.shape[0], env.action_space.shape[0], (64, 64), 0.0)
    for _ in range(steps):
        with torch.no_grad():
            mean, _ = actor(torch.as_tensor(obs, dtype=torch.float32)[None])
        obs, _, terminated, truncated, _ = env.step(mean[0].numpy())
        if terminated or truncated:
            obs, _ = env.reset()


def ours(algo: str, env_id: str, steps: int, compile_mode: str) -> None:
    from algos.train import TrainConfig, train

    config = TrainConfig(env_id=env_id, total_steps=steps, algo=algo)
    train(config, lambda row: None, compile_mode=compile_mode)


def population(name: str, env_id: str, steps: int) -> int:
    """`<algo>_pop<N>`: N runs of seeds 0..N-1 trained side by side; returns their steps."""
    from algos.train import Member, TrainConfig, train_together

    algo, size = name.split("_pop")
    members = [Member(TrainConfig(env_id=env_id, seed=seed, total_steps=steps, algo=algo),
                      lambda row: None) for seed in range(int(size))]  # fmt: skip
    train_together(members)
    return steps * len(members)


def peer(name: str, env_id: str, steps: int) -> None:
    import gymnasium as gym
    import torch
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize

    env = VecNormalize(make_vec_env(lambda: gym.make(env_id), n_envs=1, seed=0))
    net = {"net_arch": {"pi": [64, 64], "vf": [64, 64]}, "activation_fn": torch.nn.Tanh}
    common = {"n_steps": 2048, "gamma": 0.99, "gae_lambda": 0.95, "device": "cpu", "seed": 0}
    if name == "sb3_ppo":
        from stable_baselines3 import PPO

        model = PPO("MlpPolicy", env, batch_size=64, n_epochs=10, learning_rate=3e-4,
                    clip_range=0.2, policy_kwargs=net, **common)  # fmt: skip
    elif name == "sb3_trpo":
        from sb3_contrib import TRPO

        model = TRPO("MlpPolicy", env, batch_size=64, n_critic_updates=10, cg_max_steps=10,
                     target_kl=0.01, learning_rate=3e-4, policy_kwargs=net, **common)  # fmt: skip
    else:
        from stable_baselines3 import A2C

        model = A2C("MlpPolicy", env, learning_rate=3e-3, normalize_advantage=True,
                    policy_kwargs={**net, "optimizer_class": torch.optim.Adam}, **common)  # fmt: skip
    model.learn(total_timesteps=steps)


def warm_imports(name: str) -> None:
    """Import what a contender needs before its clock starts, the same for every contender:
    library imports and torch.optim's lazy import of torch._dynamo (~1 s each) are a fixed
    per-process cost, not a rate."""
    import gymnasium  # noqa: F401
    import torch

    torch.optim.Adam([torch.zeros(1, requires_grad=True)])
    if name.split("_pop")[0] in ("ppo", "trpo", "pg"):
        import algos.train  # noqa: F401
    elif name.startswith("sb3"):
        import sb3_contrib  # noqa: F401
        import stable_baselines3  # noqa: F401


def measure_one(name: str, env_id: str, steps: int, compile_mode: str) -> dict:
    """Run one contender in this process and report its rate and peak memory."""
    import torch

    torch.set_num_threads(1)
    warm_imports(name)
    started = time.perf_counter()
    if name == "raw_env":
        raw_env(env_id, steps)
    elif name == "policy_in_loop":
        policy_in_loop(env_id, steps)
    elif name in ("ppo", "trpo", "pg"):
        ours(name, env_id, steps, compile_mode)
    elif "_pop" in name:
        steps = population(name, env_id, steps)
    else:
        peer(name, env_id, steps)
    wall = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "name": name,
        "env": env_id,
        "steps": steps,
        "wall_s": wall,
        "sps": steps / wall,
        "peak_rss_mb": peak_mb,
    }


def launch(names: list[str], env_id: str, steps: int, compile_mode: str) -> list[dict]:
    """Run contenders in subprocesses started together (one each), and collect their results,
    each with `process_s`: its whole process, start, imports and exit included."""
    started = time.perf_counter()
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--one",
                n,
                "--env",
                env_id,
                "--steps",
                str(steps),
                "--compile",
                compile_mode,
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for n in names
    ]
    outputs, process_s = [], []
    for p in procs:
        outputs.append(p.communicate()[0])
        process_s.append(time.perf_counter() - started)
    if any(p.returncode for p in procs):
        raise SystemExit(f"benchmark of {names} failed")
    return [json.loads(out.strip().splitlines()[-1]) | {"process_s": seconds}
            for out, seconds in zip(outputs, process_s, strict=True)]  # fmt: skip


def report(name: str, r: dict) -> None:
    print(
        f"{name:>15}: {r['sps']:8.0f} env-steps/s  ({r['wall_s']:.1f} s; whole process "
        f"{r['process_s']:.1f} s; peak RSS {r['peak_rss_mb']:.0f} MB)",
        flush=True,
    )


def run_contender(name: str, env_id: str, steps: int, compile_mode: str) -> dict:
    """One contender's result; ppo_x2 is two PPO runs started together, rated by their sum."""
    if name != "ppo_x2":
        (result,) = launch([name], env_id, steps, compile_mode)
        return result
    side_by_side = launch(["ppo", "ppo"], env_id, steps, compile_mode)
    return {**side_by_side[0], "name": "ppo_x2", "sps": sum(r["sps"] for r in side_by_side)}


def median_round(results: list[dict]) -> dict:
    """The round with the median rate (the lower middle one for an even count)."""
    return sorted(results, key=lambda r: r["sps"])[(len(results) - 1) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="Hopper-v5")
    parser.add_argument("--steps", type=int, default=20480, help="env steps per contender")
    parser.add_argument("--only", nargs="*", help="contenders to run (default: all)")
    parser.add_argument("--repeats", type=int, default=1,
                        help="rounds over all contenders; each one's median round is reported")  # fmt: skip
    parser.add_argument(
        "--compile",
        default="auto",
        choices=COMPILE_MODES,
        help="our runs' compile mode (auto: as `run.py` decides it)",
    )
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure_one(args.one, args.env, args.steps, args.compile)))
        return
    names = args.only or CONTENDERS
    unknown = sorted(set(names) - set(CONTENDERS))
    if unknown:
        raise SystemExit(f"unknown contender(s) {unknown}; allowed: {CONTENDERS}")
    rounds: dict[str, list[dict]] = {name: [] for name in names}
    for round_ in range(args.repeats):
        print(f"round {round_ + 1}/{args.repeats}", flush=True)
        for name in names:
            rounds[name].append(run_contender(name, args.env, args.steps, args.compile))
            report(name, rounds[name][-1])
    results = {name: median_round(r) for name, r in rounds.items()}
    if args.repeats > 1:
        print("medians over rounds:")
        for name, result in results.items():
            report(name, result)
    if "ppo_x2" in results and "ppo" in results:
        aggregate = results["ppo_x2"]["sps"]
        print(
            f"two PPO runs side by side: {aggregate / results['ppo']['sps']:.2f}x one run's env-steps/s (target 1.8x)"
        )
    import pandas as pd

    table = pd.DataFrame(results.values())
    raw = results.get("raw_env", {}).get("sps", np.nan)
    table["share_of_raw_env"] = table["sps"] / raw
    rows = []
    for ours_name, peer_name in PAIRS:
        if ours_name in results and peer_name in results:
            ratio = results[ours_name]["sps"] / results[peer_name]["sps"]
            whole = results[peer_name]["process_s"] / results[ours_name]["process_s"]
            rows.append(f"{ours_name} / {peer_name}: {ratio:.2f}x (target {TARGETS[ours_name]}x; "
                        f"whole process {whole:.2f}x), "
                        f"{ours_name} at {results[ours_name]['sps'] / raw:.0%} of raw env rate")  # fmt: skip
            table.loc[table["name"] == ours_name, "ratio_vs_peer"] = ratio
        for size in POPULATIONS:
            name = f"{ours_name}_pop{size}"
            if name in results and peer_name in results:
                table.loc[table["name"] == name, "ratio_vs_peer"] = (
                    results[name]["sps"] / results[peer_name]["sps"]
                )
    print("\n".join(rows))
    out_dir = ROOT / "results" / "bench"
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"{args.env}-{args.steps}.csv"
    table.to_csv(out, index=False)
    every_round = out.with_name(f"{out.stem}-rounds.csv")
    pd.DataFrame(
        [{**r, "round": i + 1} for runs in rounds.values() for i, r in enumerate(runs)]
    ).to_csv(every_round, index=False)
    print(f"table: {out} (every round: {every_round})")
    if any(name in results for name in POPULATION_ROWS):
        print(f"figure: {population_figure(table, out.with_name(f'{out.stem}-populations.png'))}")


def population_figure(table, path: Path) -> Path:
    """Throughput of one process against its population size, per update rule, beside the
    raw env rate and each rule's peer run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    rates = table.set_index("name")["sps"]
    for (ours_name, peer_name), colour in zip(PAIRS, ("C0", "C1", "C2"), strict=True):
        sizes = [n for n in POPULATIONS if f"{ours_name}_pop{n}" in rates]
        if not sizes:
            continue
        ax.plot(sizes, [rates[f"{ours_name}_pop{n}"] for n in sizes], "o-", color=colour,
                label=f"ours {ours_name.upper()}, N runs in one process")  # fmt: skip
        if peer_name in rates:
            ax.axhline(rates[peer_name], color=colour, ls=":", label=f"{peer_name}, one run")
    if "raw_env" in rates:
        ax.axhline(rates["raw_env"], color="k", ls="--", label="raw env (random actions)")
    ax.set_xscale("log", base=2)
    ax.set_xticks(POPULATIONS, [str(n) for n in POPULATIONS])
    ax.set_xlabel("population size N (runs trained side by side)")
    ax.set_ylabel("env-steps/s of one process (one core)")
    ax.set_ylim(bottom=0)
    ax.set_title(f"{table['env'].iloc[0]}: throughput per core")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


if __name__ == "__main__":
    main()
