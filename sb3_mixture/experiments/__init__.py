"""Multi-seed benchmark runner and rliable report: ``python -m sb3_mixture.benchmark run|report|summary ...``."""

from sb3_mixture.benchmark.report import summary_table, write_report
from sb3_mixture.benchmark.runner import RunSpec, grid, run_grid

__all__ = ["RunSpec", "grid", "run_grid", "summary_table", "write_report"]
