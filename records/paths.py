"""Where the project's own files are: the repository (for a record's git sha) and conf/ (the
Hydra configs every entry point composes, and the defaults a record is read against)."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CONF_DIR = REPO_ROOT / "conf"
