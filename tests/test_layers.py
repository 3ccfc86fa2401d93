"""The import contract: each layer imports only the layers below it, even inside a
function, so the house can be read from the bottom up.

    algos ← records ← monitor ← experiments ← hydra_plugins, benchmarks
                    ↖ analysis ←––––––––––––––––––––––––––––––↩

algos holds the maths, records the run record (and what both the runs and the report
use of it: its replay and film, a sweep's held-out list), monitor the record writer for
code the suite did not write, experiments the runs and sweeps, analysis the report;
experiments and analysis are peers and do not import each other. Where an entry point
needs a function of a higher layer, its config names it (`trial.metric`,
`collapse.rule`: module:function), so no code imports up.
"""

import ast

from tests.conftest import ROOT

BELOW = {
    "algos": set(),
    "records": {"algos"},
    "monitor": {"algos", "records"},
    "experiments": {"algos", "records", "monitor"},
    "analysis": {"algos", "records"},
    "hydra_plugins": {"algos", "records", "monitor", "experiments", "analysis"},
    "benchmarks": {"algos", "records", "monitor", "experiments", "analysis", "hydra_plugins"},
}


def imported_layers(path) -> set[str]:
    """The top-level packages of the repository a module imports, anywhere in it."""
    layers = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            layers |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            layers.add(node.module.split(".")[0])
    return layers & (set(BELOW) | {"tests"})


def crossings() -> set[tuple[str, str]]:
    found = set()
    for layer, allowed in BELOW.items():
        for path in sorted((ROOT / layer).rglob("*.py")):
            for other in imported_layers(path) - allowed - {layer}:
                found.add((path.relative_to(ROOT).as_posix(), other))
    return found


def test_each_layer_imports_only_the_layers_below_it():
    assert crossings() == set(), "imports that cross the layers"
