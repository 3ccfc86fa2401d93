"""The report's sections, in the order of the report and of its Findings. A section is a
module with TITLE and `build(ctx) -> Part | None` (analysis.section); adding one is its
module and its entry here (docs/adding-a-report-section.md)."""

from analysis.sections import (
    implementation,
    per_update,
    probe,
    returns,
    step_sizes,
    update_sizes,
    warning,
)

SECTIONS = [step_sizes, implementation, per_update, probe, warning, update_sizes, returns]
