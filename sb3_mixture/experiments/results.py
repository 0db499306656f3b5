"""Reading a grid's run files: the runs of each task, grouped by algorithm, and the scores the statistics take."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from sb3_mixture.experiments.checkpoint import read_result


def load_results(root: Path) -> list[dict[str, Any]]:
    """Every complete result file under ``root`` (temporary files of unfinished runs are ignored)."""
    return [read_result(path) for path in sorted(Path(root).rglob("*.json")) if ".checkpoint" not in path.parent.name]


def run_name(result: dict[str, Any]) -> str:
    """The algorithm a run belongs to: its key, or its arm ``key[name=value,...]`` (format-1 files have no arms)."""
    return result.get("name", result["algo"])


def group_by_task(results: list[dict[str, Any]]) -> dict[tuple[str, str, int], dict[str, list[dict[str, Any]]]]:
    """(env id, variant, budget) -> algo -> runs, sorted by seed."""
    groups: dict[tuple[str, str, int], dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for result in results:
        groups[(result["env_id"], result["variant"], result["budget"])][run_name(result)].append(result)
    for algos in groups.values():
        for runs in algos.values():
            runs.sort(key=lambda run: run["seed"])
    return {key: dict(value) for key, value in sorted(groups.items())}


def final_scores(runs: list[dict[str, Any]], curve: str = "returns") -> np.ndarray:
    """``[n_runs, 1]``: rliable's layout (runs x tasks) for one task; the last point of ``curve`` (``"returns"``, the
    deterministic evaluations, or ``"stochastic_returns"``, the sampled-action ones)."""
    finals = [run["final_return"] if curve == "returns" else run[curve][-1] for run in runs]
    return np.array(finals, dtype=np.float64)[:, None]


def curve_scores(runs: list[dict[str, Any]], curve: str = "returns") -> tuple[np.ndarray, np.ndarray]:
    """Evaluation steps ``[T]`` and returns ``[n_runs, 1, T]`` over the evaluation points every run has."""
    length = min(len(run[curve]) for run in runs)
    steps = np.array(runs[0]["timesteps"][:length])
    return steps, np.array([[run[curve][:length]] for run in runs], dtype=np.float64)


def sampled_runs(algos: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """The algorithms whose every run has sampled-action evaluations (format-2 files)."""
    return {algo: runs for algo, runs in algos.items() if all(run.get("stochastic_returns") for run in runs)}
