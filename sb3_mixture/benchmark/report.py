"""
Aggregate benchmark result files with rliable (Agarwal et al. 2021) into a Markdown report with PNG plots.

Per env and variant (entropy coefficient, replaced hyperparameters): the interquartile mean (IQM) of the final
evaluation return over runs with a 95% stratified-bootstrap confidence interval, the final success rate and how many
runs ever succeeded in an evaluation, the probability of improvement over the reference algorithm (``sac``), and
learning curves (IQM per evaluation point with its 95% CI band). Everything is computed from the result files alone,
with a fixed bootstrap seed, so the report reproduces.
"""

from __future__ import annotations

import json
import textwrap
import warnings
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from shlex import quote
from typing import Any

import numpy as np

REFERENCE = "sac"
BOOTSTRAP_SEED = 0


@dataclass
class Interval:
    value: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.value:.3f} [{self.low:.3f}, {self.high:.3f}]"


def load_results(root: Path) -> list[dict[str, Any]]:
    """Every complete result file under ``root`` (temporary files of unfinished runs are ignored)."""
    return [json.loads(path.read_text()) for path in sorted(Path(root).rglob("*.json"))]


def group_by_task(results: list[dict[str, Any]]) -> dict[tuple[str, str, int], dict[str, list[dict[str, Any]]]]:
    """(env id, variant, budget) -> algo -> runs, sorted by seed."""
    groups: dict[tuple[str, str, int], dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for result in results:
        groups[(result["env_id"], result["variant"], result["budget"])][result["algo"]].append(result)
    for algos in groups.values():
        for runs in algos.values():
            runs.sort(key=lambda run: run["seed"])
    return {key: dict(value) for key, value in sorted(groups.items())}


def final_scores(runs: list[dict[str, Any]]) -> np.ndarray:
    """``[n_runs, 1]``: rliable's layout (runs x tasks) for one task."""
    return np.array([[run["final_return"]] for run in runs], dtype=np.float64)


def curve_scores(runs: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    """Evaluation steps ``[T]`` and returns ``[n_runs, 1, T]`` over the evaluation points every run has."""
    length = min(len(run["returns"]) for run in runs)
    steps = np.array(runs[0]["timesteps"][:length])
    return steps, np.array([[run["returns"][:length]] for run in runs], dtype=np.float64)


@contextmanager
def _seeded_global_numpy(seed: int) -> Iterator[np.random.RandomState]:
    """rliable 1.2 draws its bootstrap indices from NumPy's GLOBAL generator (``update_indices`` ignores its
    ``random_state``): seed that generator for the call, then restore it, so a report reproduces."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield np.random.RandomState(seed)
    finally:
        np.random.set_state(state)


def _interval(point: np.ndarray, interval: np.ndarray) -> Interval:
    """rliable's (point, [low, high]) for one scalar statistic."""
    low, high = np.ravel(interval)
    return Interval(float(np.ravel(point)[0]), float(low), float(high))


def iqm_intervals(scores: dict[str, np.ndarray], reps: int, seed: int = BOOTSTRAP_SEED) -> dict[str, Interval]:
    """IQM per algorithm with its 95% stratified-bootstrap CI (rliable)."""
    from rliable import library as rly
    from rliable import metrics

    with _seeded_global_numpy(seed) as random_state:
        point, interval = rly.get_interval_estimates(
            scores, lambda x: np.array([metrics.aggregate_iqm(x)]), reps=reps, random_state=random_state
        )
    return {algo: _interval(point[algo], interval[algo]) for algo in scores}


def improvement_intervals(
    scores: dict[str, np.ndarray], reference: str, reps: int, seed: int = BOOTSTRAP_SEED
) -> dict[str, Interval]:
    """P(algo > reference) with its 95% CI (rliable), for every algorithm but the reference."""
    from rliable import library as rly
    from rliable import metrics

    pairs = {algo: [scores[algo], scores[reference]] for algo in scores if algo != reference}
    if not pairs:
        return {}
    with _seeded_global_numpy(seed) as random_state:
        point, interval = rly.get_interval_estimates(
            pairs, metrics.probability_of_improvement, reps=reps, random_state=random_state
        )
    return {algo: _interval(point[algo], interval[algo]) for algo in pairs}


def curve_intervals(curves: dict[str, np.ndarray], reps: int, seed: int = BOOTSTRAP_SEED) -> tuple[dict, dict]:
    """IQM at each evaluation point with its 95% CI band: ``(point [T], interval [2, T])`` per algorithm."""
    from rliable import library as rly
    from rliable import metrics

    def iqm_over_time(scores: np.ndarray) -> np.ndarray:
        return np.array([metrics.aggregate_iqm(scores[..., t]) for t in range(scores.shape[-1])])

    with _seeded_global_numpy(seed) as random_state:
        return rly.get_interval_estimates(curves, iqm_over_time, reps=reps, random_state=random_state)


def _plot_curves(steps_by_algo: dict[str, np.ndarray], point: dict, interval: dict, title: str, path: Path) -> None:
    from sb3_mixture.plots import new_figure

    figure, axis = new_figure()
    for algo, steps in steps_by_algo.items():
        axis.plot(steps, point[algo], label=algo)
        axis.fill_between(steps, interval[algo][0], interval[algo][1], alpha=0.2)
    axis.set(xlabel="environment steps", ylabel="evaluation return (IQM, 95% CI)")
    axis.set_title(textwrap.fill(title, 60), fontsize="medium")  # long variant names would run off the figure
    axis.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def _mean_success(runs: list[dict[str, Any]]) -> str:
    rates = [run["final_success_rate"] for run in runs if run["final_success_rate"] is not None]
    return f"{np.mean(rates):.2f}" if rates else "-"


def _runs_that_succeeded(runs: list[dict[str, Any]]) -> str:
    """How many runs succeeded in at least one evaluation episode (MRP counts the runs that never find the goal)."""
    if all(rate is None for run in runs for rate in run["success_rate"]):
        return "-"
    succeeded = sum(any(rate for rate in run["success_rate"] if rate is not None) for run in runs)
    return f"{succeeded}/{len(runs)}"


def write_report(root: Path, output: Path, reps: int = 2000, reference: str = REFERENCE, title: str = "Benchmark") -> str:
    """Aggregate every result under ``root`` into ``output`` (Markdown) and PNGs beside it; return the Markdown."""
    with warnings.catch_warnings():
        # rliable hands arch a RandomState, which arch deprecates; the seeded stream is what makes the report reproduce.
        warnings.filterwarnings("ignore", message="random_state is deprecated", category=FutureWarning)
        return _write_report(root, output, reps, reference, title)


def _write_report(root: Path, output: Path, reps: int, reference: str, title: str) -> str:
    results = load_results(root)
    output.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        f"# {title}",
        "",
        f"{len(results)} runs from `{root}`; rliable, {reps} bootstrap samples, seed {BOOTSTRAP_SEED}.",
        "",
    ]
    commands = sorted({result["command"] for result in results})
    report = f"python -m sb3_mixture.benchmark report --runs {quote(str(root))} --out {quote(str(output))} --reps {reps}"
    report += f" --title {quote(title)}"
    if reference != REFERENCE:
        report += f" --reference {reference}"
    lines += ["Produced by:", "", *[f"    {command}" for command in commands], f"    {report}", ""]
    for (env_id, variant, budget), algos in group_by_task(results).items():
        scores = {algo: final_scores(runs) for algo, runs in algos.items()}
        iqm = iqm_intervals(scores, reps)
        improvement = improvement_intervals(scores, reference, reps) if reference in scores else {}
        heading = f"{env_id}, {variant}, {budget} steps"
        lines += [
            f"## {heading}",
            "",
            f"| algorithm | runs | final return IQM [95% CI] | final success | reached the goal | P(> {reference}) [95% CI] "
            "| env-steps/s |",
        ]
        lines += ["|---|---|---|---|---|---|---|"]
        for algo, runs in algos.items():
            speed = np.mean([run["env_steps_per_second"] for run in runs])
            poi = str(improvement[algo]) if algo in improvement else "-"
            success = f"{_mean_success(runs)} | {_runs_that_succeeded(runs)}"
            lines.append(f"| {algo} | {len(runs)} | {iqm[algo]} | {success} | {poi} | {speed:.0f} |")
        steps, curves = {}, {}
        for algo, runs in algos.items():
            steps[algo], curves[algo] = curve_scores(runs)
        point, interval = curve_intervals(curves, reps)
        image = output.parent / f"{output.stem}_{env_id.replace('/', '__')}_{variant}_{budget}.png"
        _plot_curves(steps, point, interval, heading, image)
        lines += ["", f"![learning curves]({image.name})", ""]
    markdown = "\n".join(lines)
    output.write_text(markdown)
    return markdown
