"""The report's sections, in the order of the report and of its Findings. A section is a
module with TITLE and `build(ctx) -> Part | None` (analysis.section); adding one is its
module and its entry here (docs/adding-a-report-section.md)."""

from analysis.sections import (
    headline,
    implementation,
    mechanisms,
    per_update,
    probe,
    returns,
    robustness,
    step_sizes,
    update_sizes,
    warning,
)

SECTIONS = [headline, step_sizes, per_update, probe, mechanisms, robustness, implementation,
            warning, update_sizes, returns]  # fmt: skip
