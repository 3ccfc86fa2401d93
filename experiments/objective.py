"""What a run returns to a sweeper that optimises (hydra-optuna-sweeper): a number computed
from its record by the report's own definitions, so that a search and the report agree.

  final_return   mean return_mean of the run's last `final_window` updates (the report's)
  best_return    its highest return_mean smoothed over the collapse rule's window
  neg_collapsed  −1 when the report's run-level collapse rule fires (a diverged run
                 included), else 0: maximised, it searches for settings that do not collapse

A run that failed has no final or best return: it returns NaN, which Optuna records as a
failed trial rather than a bad one.
"""

import math
from pathlib import Path

from omegaconf import OmegaConf

from records.load import read_record, tidy
from records.paths import CONF_DIR

OBJECTIVES = ("final_return", "best_return", "neg_collapsed")


def objective(record_dir: Path, metric: str) -> float:
    from analysis.collapse import gain_scales  # the analysis is imported only when asked for
    from analysis.run_frame import run_frame
    from analysis.section import collapse_rules

    row, metrics = read_record(Path(record_dir))
    if metric == "neg_collapsed" and row["diverged"]:
        return -1.0
    if row["status"] != "done":
        return math.nan
    report = OmegaConf.load(CONF_DIR / "analysis" / "report.yaml")
    records = tidy([(row, metrics)], skipped=[])
    starts = records.runs.set_index("run_id")[["baseline_return", "history_returns"]]
    scales = gain_scales(records.updates, starts, report.collapse.smooth_window)["scale"]
    rules = collapse_rules(report, [row["env"]], scales.dropna().to_dict())
    frame = run_frame(records.runs, records.updates, rules, report.final_window,
                      report.collapse.smooth_window).iloc[0]  # fmt: skip
    if metric == "neg_collapsed":
        return -float(bool(frame["collapsed"]))
    return float(frame[metric])
