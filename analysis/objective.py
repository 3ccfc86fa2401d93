"""What a run returns to a sweeper that optimises (hydra-optuna-sweeper): a number computed
from its record by the report's own definitions, so that a search and the report agree.
A run's `trial.metric` names one of these (or a function of your own of the same form,
f(record_dir) -> float):

  analysis.objective:final_return   mean return_mean of the run's last `final_window`
                                    updates (the report's)
  analysis.objective:best_return    its highest return_mean smoothed over the collapse
                                    rule's window
  analysis.objective:neg_collapsed  −1 when the report's run-level collapse rule fires (a
                                    diverged run included), else 0: maximised, it searches
                                    for settings that do not collapse

A run that failed has no final or best return: it returns NaN, which Optuna records as a
failed trial rather than a bad one.
"""

import math
from pathlib import Path

import pandas as pd
from omegaconf import OmegaConf

from analysis.collapse import gain_scales
from analysis.run_frame import run_frame
from analysis.section import collapse_rules
from records.load import read_record, tidy
from records.paths import CONF_DIR


def final_return(record_dir: Path) -> float:
    _, frame = judged(record_dir)
    return math.nan if frame is None else float(frame["final_return"])


def best_return(record_dir: Path) -> float:
    _, frame = judged(record_dir)
    return math.nan if frame is None else float(frame["best_return"])


def neg_collapsed(record_dir: Path) -> float:
    row, frame = judged(record_dir)
    if row["diverged"]:
        return -1.0
    return math.nan if frame is None else -float(bool(frame["collapsed"]))


def judged(record_dir: Path) -> tuple[dict, pd.Series | None]:
    """The run's record row, and its row of the report's per-run frame under the report's
    settings (None when the run did not finish)."""
    row, metrics = read_record(Path(record_dir))
    if row["status"] != "done":
        return row, None
    report = OmegaConf.load(CONF_DIR / "analysis" / "report.yaml")
    records = tidy([(row, metrics)], skipped=[])
    starts = records.runs.set_index("run_id")[["baseline_return", "history_returns"]]
    scales = gain_scales(records.updates, starts, report.collapse.smooth_window)["scale"]
    rules = collapse_rules(report, [row["env"]], scales.dropna().to_dict())
    return row, run_frame(records.runs, records.updates, rules, report.final_window,
                          report.collapse.smooth_window).iloc[0]  # fmt: skip
