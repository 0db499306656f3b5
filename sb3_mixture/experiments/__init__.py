"""
Multi-seed experiments: the runner, its rliable report and the sweep summary
(``python -m sb3_mixture.experiments run|report|sweep|summary ...``).
"""

from sb3_mixture.experiments.report import summary_table, write_report
from sb3_mixture.experiments.runner import run_grid
from sb3_mixture.experiments.specs import RunSpec, grid

__all__ = ["RunSpec", "grid", "run_grid", "summary_table", "write_report"]
