"""What the report's figures share: the backend (Agg: figures are files), the order and
labels of update rules, the KL bounds drawn as dotted lines, and the grid of one panel
per env × update rule. Each figure is drawn by the module of its question and saved by
the renderer (analysis.render)."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from algos.registry import ALGOS  # noqa: E402
from analysis.vocabulary import kl_bounded_rules, ordered  # noqa: E402

MAX_COLUMNS = 4  # panels per row of a grid: a figure no wider than about 1,600 px

__all__ = ["MAX_COLUMNS", "algos_in", "bound_label", "env_variant_grid", "kl_bounds", "plt"]


def algos_in(frame: pd.DataFrame, column: str = "algo") -> list[str]:
    """The algos (or variants) in `frame[column]`, in the suite's usual order."""
    return ordered(frame[column])


def kl_bounds(runs: pd.DataFrame) -> dict[str, list[float]]:
    """The step sizes of each rule whose step size bounds the KL (TRPO's δ values), for
    dotted lines."""
    return {rule: sorted(runs.loc[runs["variant"] == rule, "step_size"].unique())
            for rule in kl_bounded_rules()}  # fmt: skip


def bound_label(marks: dict[str, list[float]]) -> str:
    """What the dotted lines of KL bounds are: `TRPO's δ`."""
    return ", ".join(f"{ALGOS[rule].title}'s {ALGOS[rule].symbol}" for rule in marks)


def env_variant_grid(
    envs: list, algos: list, width: float, height: float
) -> tuple[plt.Figure, np.ndarray]:
    """One panel per env × variant, each env's panels wrapped into rows of at most
    MAX_COLUMNS (a figure no wider than about 1,600 px); returns the figure and the panels
    as an envs × variants array. Panels left over in an env's last row are hidden."""
    columns = max(1, min(len(algos), MAX_COLUMNS))
    rows_per_env = -(-len(algos) // columns)
    fig, grid = plt.subplots(len(envs) * rows_per_env, columns, squeeze=False,
                             figsize=(width * columns, height * len(envs) * rows_per_env))  # fmt: skip
    axes = np.array([[grid.flat[i * rows_per_env * columns + j] for j in range(len(algos))]
                     for i in range(len(envs))]).reshape(len(envs), len(algos))  # fmt: skip
    for ax in set(grid.flat) - set(axes.flat):
        ax.set_visible(False)
    return fig, axes
