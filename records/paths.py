"""Where the project's own files are: the repository (for a record's git sha) and conf/ (the
Hydra configs every entry point composes, and the defaults a record is read against); and
where in an out_dir the starting policies' records are."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CONF_DIR = REPO_ROOT / "conf"
PRETRAIN_SWEEP = "pretrain"  # <out_dir>/pretrain/: the records of warm starts' starting policies
