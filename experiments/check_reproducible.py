"""Check this machine against the committed reference run of reproducible mode:
`python experiments/check_reproducible.py` (`make check-reproducible`).

It trains the reference run again here, with `reproducible=true`, and compares its metrics
with the committed record (results/reproducible/), update by update and bit for bit (the
timing columns aside). Exit status 0: identical; 1: they differ, and where first is printed.
`--record` trains the reference anew into results/reproducible/ (its metrics, config and
status; no checkpoints).
"""

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from algos.metrics import TIMING
from records.paths import REPO_ROOT
from records.record import Record, records_under

REFERENCE_DIR = Path("results/reproducible")  # in the repository
RUN = ["algo=ppo", "env=Hopper-v5", "seed=0", "total_steps=20480", "wandb.mode=disabled",
       "progress=false"]  # fmt: skip


def reference_record() -> Record:
    (record,) = records_under(REPO_ROOT / REFERENCE_DIR / "single")
    return record


def train(out_dir: Path) -> Record:
    """The reference run trained here into out_dir; its record."""
    subprocess.run(
        [sys.executable, "experiments/run.py", *RUN, "reproducible=true", f"out_dir={out_dir}"],
        cwd=REPO_ROOT, check=True,
    )  # fmt: skip
    (record,) = records_under(REPO_ROOT / out_dir / "single")
    return record


def first_difference(here: pd.DataFrame, reference: pd.DataFrame) -> str | None:
    """Where two metrics frames first differ bit for bit (NaN equal to NaN), or None."""
    if len(here) != len(reference):
        return f"{len(here)} updates here, {len(reference)} in the reference"
    for index in range(len(reference)):
        for column in reference.columns:
            a, b = here[column].iloc[index], reference[column].iloc[index]
            if not (a == b or (np.isnan(a) and np.isnan(b))):
                return f"update {index + 1}, {column}: {a!r} here, {b!r} in the reference"
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--record", action="store_true", help="train the reference anew")
    args = parser.parse_args()
    if args.record:
        shutil.rmtree(REPO_ROOT / REFERENCE_DIR, ignore_errors=True)
        record = train(REFERENCE_DIR)
        shutil.rmtree(record.checkpoint_dir)
        print(f"reference: {record.dir}")
        return
    reference = reference_record()
    with tempfile.TemporaryDirectory() as out_dir:
        record = train(Path(out_dir))
        here = record.written_metrics().drop(columns=TIMING)
        numerics = record.read_status()["numerics"]
    expected = reference.written_metrics().drop(columns=TIMING)
    made = reference.read_status()["numerics"]
    difference = first_difference(here, expected)
    print(f"reference: {reference.dir.name}, made on {made['cpu']}; here: {numerics['cpu']} "
          f"(torch {numerics['torch_cpu_capability']}, numpy {numerics['numpy_widest_features']})")  # fmt: skip
    if difference:
        print(f"differs from the reference at {difference}")
        sys.exit(1)
    print(f"identical to the reference: {len(expected)} updates, every metric bit for bit")


if __name__ == "__main__":
    main()
