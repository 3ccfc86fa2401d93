"""The report's sections, in the order of the report and of its Findings. A section is a
module (or package) with TITLE and `build(ctx) -> Part | None` (analysis.section) that
holds its question's computation, tables, figures and Findings; adding one is its module,
its entry here and its settings (docs/develop/adding-a-report-section.md)."""

from analysis.sections import (
    behaviour,
    collapse_film,
    damage,
    headline,
    implementation,
    kl_parts,
    mechanisms,
    multiverse,
    out_of_sample,
    per_update,
    probe,
    reported,
    returns,
    step_sizes,
    tasks,
    transfer,
    update_sizes,
    warning,
)

SECTIONS = [headline, multiverse, damage, behaviour, tasks, step_sizes, per_update, collapse_film, out_of_sample,
            transfer, reported,
            kl_parts, probe, mechanisms, implementation, warning, update_sizes, returns]  # fmt: skip
