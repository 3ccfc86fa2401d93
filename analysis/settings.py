"""What each key of the analysis settings allows (conf/analysis/report.yaml and
reproduction.yaml hold the defaults): checked before a report starts, one line per
mistake. A key added to those files without an entry here fails the test suite."""

import re

from hydra import compose, initialize_config_dir
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf

from algos.allowed import (
    FLAG,
    FRACTIONS,
    NAMES,
    TEXT,
    Allowed,
    ConfigError,
    Function,
    Int,
    OneOf,
    Real,
    check_settings,
    stop_on_bad_input,
    unknown_key,
)
from analysis.collapse import RUN_LEVEL_ARGUMENTS, UPDATE_LEVEL_ARGUMENTS
from records.paths import CONF_DIR

SOURCES = ("records", "wandb")
FRACTION = Real(0.0, 1.0)  # (0, 1]
SHARED = {  # the keys both settings files have
    "source": OneOf(*SOURCES),
    "out_dir": TEXT,
    "seed": Int(),
    "wandb.project": TEXT,
    "wandb.entity": Allowed(str, optional=True),
}

REPORT_KEYS: dict[str, Allowed | None] = SHARED | {
    "sweep": TEXT,
    "report_dir": TEXT,
    "collapse.rule": Function(str, arguments=RUN_LEVEL_ARGUMENTS, gives="Collapse"),
    "collapse.smooth_window": Int(low=1),
    "collapse.min_gain_share": FRACTION,
    "collapse.min_gain_per_env": None,  # env id -> min_gain: each checked as MIN_GAIN below
    "collapse.drop_frac": FRACTION,
    "collapse.recover_frac": FRACTION,
    "update_collapse.rule": Function(
        str, arguments=UPDATE_LEVEL_ARGUMENTS, gives="(at_risk, collapse)"
    ),
    "update_collapse.drop_frac": FRACTION,
    "update_collapse.updates_ahead": Int(low=1),
    "dose_response.bins_per_decade": Int(low=1),
    "dose_response.min_updates": Int(low=1),
    "dose_response.level": Real(0.0, 1.0),
    "dose_response.progress": Real(0.0, 1.0, low_open=False),
    "dose_response.bootstrap": Int(),
    "dose_response.run_quantiles": Int(low=1),
    "answer.bands": Allowed(list, low=0.0, low_open=True, item=float),
    "answer.min_updates": Int(low=1),
    "answer.min_runs": Int(low=1),
    "answer.alpha": Real(0.0, 1.0),
    "answer.replicates": Int(low=1),
    "damage.quantiles": FRACTIONS,
    "damage.bootstrap": Int(),
    "multiverse.drop_fracs": FRACTIONS,
    "multiverse.updates_ahead": Allowed(list, low=1),
    "warning.updates_ahead": Int(low=1),
    "warning.flag_share": FRACTION,
    "warning.min_positives": Int(low=1),
    "warning.min_runs": Int(low=1),
    "warning.bootstrap": Int(),
    "film.show": FLAG,
    "reference.out_dir": Allowed(str, optional=True),
    "reference.sweep": TEXT,
    "film.episodes": Int(low=1),
    "film.frames": Int(low=2),
    "film.size": Int(low=16),
    "kl_vs_return.updates_ahead": Int(low=1),
    "final_window": Int(low=1),
    "jobs": Int(low=-1),  # joblib's n_jobs
    "wandb.mode": OneOf("disabled", "offline", "online"),
}

REPRODUCTION_KEYS: dict[str, Allowed | None] = SHARED | {
    "table1_sweep": TEXT,
    "table1_impl_sweeps": NAMES,
    "returns_sweep": TEXT,
    "reference_dir": TEXT,
    "results_dir": TEXT,
    "episodes": Int(low=1),
    "smooth_window": Int(low=1),
    "curve_smooth_window": Int(low=1),
    "bootstrap": Int(low=1),
}


MIN_GAIN = Real(0.0, low_open=False)  # return units


def per_env_min_gain(tree: dict) -> dict[str, Allowed]:
    """collapse.min_gain_per_env.<env>: each a min_gain."""
    envs = (tree.get("collapse") or {}).get("min_gain_per_env") or {}
    return {f"collapse.min_gain_per_env.{env}": MIN_GAIN for env in envs}


def check_or_exit(cfg: DictConfig, keys: dict[str, Allowed | None]) -> None:
    """Before anything is read or written: a wrong key is one line on stderr and exit 2."""
    tree = OmegaConf.to_container(cfg, resolve=True)
    with stop_on_bad_input():
        check_settings(tree, keys | per_env_min_gain(tree))


def check_command_line(argv: list[str], config_name: str, keys: dict[str, Allowed | None]) -> None:
    """Before Hydra starts: a key the settings do not have, given on the command line (a
    typo, an old name such as update_collapse.horizon), is one line on stderr and exit 2,
    as check_or_exit says it of a key given with a leading +, not Hydra's error."""
    overrides = [arg for arg in argv if not arg.startswith("-")]
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR / "analysis"), version_base="1.3"):
            compose(config_name=config_name, overrides=overrides)
    except HydraException as error:
        missing = re.match(r"Could not override '([^']+)'", str(error))
        if missing is None:  # any other mistake: Hydra says it when it starts
            return
        with stop_on_bad_input():
            raise ConfigError(unknown_key(missing[1], keys)) from None
