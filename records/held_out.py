"""Which runs of a sweep its preset held out of the fit (a preset's `held_out` grids): the
list the sweep writes beside its records when it expands its jobs, and the report reads,
so that the report finds them as the sweep made them without expanding the preset itself.
"""

import json
from pathlib import Path

import yaml

from records.paths import CONF_DIR
from records.store import atomic_write_bytes

FILE = "held_out.json"


def held_out_path(out_dir: str | Path, sweep: str) -> Path:
    return Path(out_dir) / sweep / FILE


def write_held_out(out_dir: str | Path, sweep: str, settings: dict[str, str]) -> Path:
    """Run id -> its held-out setting in words (`ppo_lr lr=0.003`)."""
    path = held_out_path(out_dir, sweep)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, (json.dumps(settings, indent=1, sort_keys=True) + "\n").encode())
    return path


def read_held_out(out_dir: str | Path, sweep: str) -> dict[str, str]:
    """The sweep's held-out runs; {} for a sweep whose preset holds none out. A preset that
    holds runs out but whose sweep wrote no list (it ran before the list existed) is a
    ValueError saying how to write it: without it, those runs would be read as step-size
    runs and enter the fit they are meant to test."""
    path = held_out_path(out_dir, sweep)
    if path.exists():
        return json.loads(path.read_text())
    if preset_holds_out(sweep):
        raise ValueError(
            f"sweep {sweep}'s preset holds runs out of the fit, but {path} lists none: write "
            f"it with `python -m experiments.preset {sweep} out_dir={out_dir}`"
        )
    return {}


def preset_holds_out(sweep: str) -> bool:
    """Whether conf/sweep/<sweep>.yaml has held-out grids (False for a sweep that is no preset)."""
    preset = CONF_DIR / "sweep" / f"{sweep}.yaml"
    if not preset.exists():
        return False
    return bool(((yaml.safe_load(preset.read_text()) or {}).get("sweep") or {}).get("held_out"))
