"""Multi-seed benchmark runner and rliable report: ``python -m sb3_mixture.benchmark run|report ...``."""

from sb3_mixture.benchmark.report import write_report
from sb3_mixture.benchmark.runner import RunSpec, grid, run_grid

__all__ = ["RunSpec", "grid", "run_grid", "write_report"]
