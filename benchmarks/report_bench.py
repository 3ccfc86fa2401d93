"""Time the report over a large synthetic study (default 1,000 runs × 500 updates).

Synthetic records have the real layout (records.record.Record: a config, a status, metrics
with every metric column); a third of the curves rise and crash so collapse detection, the
tables and the KL-warning analysis all have work to do.
"""

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from omegaconf import OmegaConf

from algos.metrics import METRICS
from analysis.report import build_report
from records.paths import CONF_DIR
from records.record import Record

GRIDS = {"pg": ("lr", [1e-3, 1e-2]), "trpo": ("delta", [0.01, 0.1]), "ppo": ("epsilon", [0.1, 0.3])}


def write_synthetic_records(root: Path, runs: int, updates: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    algos = list(GRIDS)
    for i in range(runs):
        algo = algos[i % 3]
        key, sizes = GRIDS[algo]
        step_size = sizes[(i // 3) % 2]
        run_id = f"{algo}-Hopper-v5-{key}{step_size:g}-s{i}"
        record = Record(root / "synthetic" / run_id)
        record.dir.mkdir(parents=True)
        t = np.arange(1, updates + 1)
        curve = 20 + 1500 * (1 - np.exp(-t / 80))
        kl = rng.lognormal(np.log(step_size * 0.5), 0.6, updates)
        if rng.random() < 1 / 3:
            crash = int(rng.integers(updates // 4, updates - 20))
            curve[crash:] = 30 + rng.normal(0, 10, updates - crash)
            kl[crash - 3 : crash] *= 10
        frame = pd.DataFrame({m: np.full(updates, np.nan) for m in METRICS})
        frame["step"], frame["update"] = t * 2048, t
        frame["return_mean"] = curve + rng.normal(0, 40, updates)
        frame["kl_mean"], frame["kl_max"] = kl, kl * 8
        frame.to_parquet(record.metrics_path, index=False)
        config = {"run_id": run_id, "sweep": {"name": "synthetic"}, "algo": {"name": algo}, "env": "Hopper-v5",
                  "seed": i, "step_size_key": key, "step_size": step_size, "total_steps": updates * 2048}  # fmt: skip
        record.config_path.write_text(yaml.safe_dump(config))
        record.status_path.write_text(json.dumps({"status": "done", "reason": None, "wall_s": 1.0}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--updates", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_synthetic_records(root / "runs", args.runs, args.updates)
        cfg = OmegaConf.load(CONF_DIR / "analysis" / "report.yaml")
        cfg.out_dir, cfg.sweep, cfg.report_dir = (
            str(root / "runs"),
            "synthetic",
            str(root / "reports"),
        )
        started = time.perf_counter()
        build_report(cfg)
        print(
            f"report over {args.runs} runs × {args.updates} updates: {time.perf_counter() - started:.1f} s"
        )


if __name__ == "__main__":
    main()
