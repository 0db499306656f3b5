"""The former name of :mod:`sb3_mixture.experiments`, kept so that the commands recorded in earlier run files and
reports (``python -m sb3_mixture.benchmark ...``) and imports of ``sb3_mixture.benchmark.*`` keep working: the same
modules under the old names."""

import sys

from sb3_mixture.experiments import RunSpec, auc, checkpoint, grid, report, run_grid, runner, summary_table, write_report

for _module in (auc, checkpoint, report, runner):
    sys.modules[f"{__name__}.{_module.__name__.rsplit('.', 1)[1]}"] = _module

__all__ = ["RunSpec", "auc", "checkpoint", "grid", "report", "run_grid", "runner", "summary_table", "write_report"]
