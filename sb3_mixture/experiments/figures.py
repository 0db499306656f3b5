"""The reports' figures: learning curves with IQM bands, interval estimates and performance profiles, each algorithm
in one colour across every figure."""

from __future__ import annotations

import textwrap
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from sb3_mixture.experiments.results import curve_scores
from sb3_mixture.experiments.statistics import BOOTSTRAP_SEED, curve_intervals, interquartile_mean, seeded_global_numpy


def algorithm_colours(algos: Iterable[str]) -> dict[str, Any]:
    """A colour per algorithm of a figure: SB3's keys, the registry's and sb3-contrib's keep one colour in every figure
    of every report (matplotlib's 20-colour palette, strong hues first); other names (arms, ``key[name=value]``) take,
    in sorted order, the first colours no algorithm of the figure has, so that two arms of one key never share one."""
    from matplotlib import colormaps

    from sb3_mixture.zoo import zoo_entries

    keys = ["sac", "td3", "ppo", *zoo_entries(), "tqc", "crossq"]  # new keys at the end: the older keep their colours
    colours = colormaps["tab20"].colors  # type: ignore[attr-defined]  # a ListedColormap
    palette = colours[0::2] + colours[1::2]  # the ten strong hues first, their light twins after
    names = sorted(set(algos))
    assigned = {algo: palette[keys.index(algo) % len(palette)] for algo in names if algo in keys}
    free = iter([colour for colour in palette if colour not in assigned.values()] * len(names))
    return {algo: assigned[algo] if algo in assigned else next(free) for algo in names}


def legend_outside(figure: Any, axis: Any) -> None:
    """The legend to the right of the axes, where it hides no data; long names (arms) wrapped so the axes keep their
    width."""
    handles, labels = axis.get_legend_handles_labels()
    labels = [textwrap.fill(label, 32, break_on_hyphens=False) for label in labels]
    axis.legend(handles, labels, fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
    figure.tight_layout()


def plot_curves(
    steps_by_algo: dict[str, np.ndarray],
    point: dict,
    interval: dict,
    title: str,
    path: Path,
    measure: str = "evaluation return",
) -> None:
    from sb3_mixture.plots import new_figure

    figure, axis = new_figure(width=8.0)
    colours = algorithm_colours(steps_by_algo)
    for algo, steps in steps_by_algo.items():
        colour = colours[algo]
        axis.plot(steps, point[algo], label=algo, color=colour)
        axis.fill_between(steps, interval[algo][0], interval[algo][1], alpha=0.2, color=colour)
    axis.set(xlabel="environment steps", ylabel=f"{measure} (IQM, 95% CI)")
    axis.set_title(textwrap.fill(title, 60), fontsize="medium")  # long variant names would run off the figure
    legend_outside(figure, axis)
    figure.savefig(path, dpi=110)


def plot_interval_estimates(tasks: dict[str, dict[str, np.ndarray]], reps: int, path: Path) -> None:
    """rliable's interval-estimate plot: final IQM and mean with 95% CIs, one row of panels per task."""
    from rliable import library as rly
    from rliable import metrics

    from sb3_mixture.plots import new_figure

    figure = new_figure()[0]
    figure.clear()
    figure.set_size_inches(9.0, 1.0 + 0.45 * sum(len(scores) for scores in tasks.values()))
    grid = figure.subplots(len(tasks), 2, squeeze=False)
    colours = algorithm_colours(algo for scores in tasks.values() for algo in scores)
    for row, (task, scores) in enumerate(tasks.items()):
        with seeded_global_numpy(BOOTSTRAP_SEED) as random_state:
            point, interval = rly.get_interval_estimates(
                scores,
                lambda x: np.array([interquartile_mean(x), metrics.aggregate_mean(x)]),
                reps=reps,
                random_state=random_state,
            )
        algos = list(scores)
        for column, name in enumerate(("IQM", "mean")):
            axis = grid[row][column]
            for y, algo in enumerate(algos):
                low, high = interval[algo][0][column], interval[algo][1][column]
                axis.barh(y, high - low, left=low, height=0.6, color=colours[algo], alpha=0.75)
                axis.vlines(point[algo][column], y - 0.3, y + 0.3, color="black", linewidth=1.5)
            axis.set_yticks(range(len(algos)), algos if column == 0 else [""] * len(algos))
            axis.set_title(f"{task}: final {name}", fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def profile_matrices(tasks: dict[str, dict[str, np.ndarray]]) -> tuple[dict[str, np.ndarray], int] | None:
    """A performance profile's input: per algorithm, ``[runs, tasks]`` final returns min-max normalised over every
    run of the task, over the tasks every algorithm ran and the smallest number of runs any of them has there; with
    that number of tasks. None when no task has every algorithm (a profile over different tasks would not compare)."""
    algos = sorted({algo for scores in tasks.values() for algo in scores})
    shared = [scores for scores in tasks.values() if all(algo in scores for algo in algos)]
    if not shared:
        return None
    n_runs = min(len(scores[algo]) for scores in shared for algo in algos)
    normalised: dict[str, list[np.ndarray]] = {algo: [] for algo in algos}
    for scores in shared:
        values = np.concatenate([value.ravel() for value in scores.values()])
        low, span = values.min(), max(values.max() - values.min(), 1e-12)
        for algo in algos:
            normalised[algo].append((scores[algo][:n_runs, 0] - low) / span)
    return {algo: np.stack(per_task, axis=1) for algo, per_task in normalised.items()}, len(shared)


def plot_performance_profile(tasks: dict[str, dict[str, np.ndarray]], reps: int, path: Path) -> str | None:
    """rliable's performance profile (the fraction of runs whose normalised final return exceeds tau, with 95% CI
    bands) on :func:`profile_matrices`; returns the figure's title, or None (and no figure) without a shared task."""
    from rliable import library as rly

    from sb3_mixture.plots import new_figure

    profile_input = profile_matrices(tasks)
    if profile_input is None:
        return None
    matrices, n_tasks = profile_input
    algos = list(matrices)
    thresholds = np.linspace(0.0, 1.0, 51)
    with seeded_global_numpy(BOOTSTRAP_SEED):
        profiles, bands = rly.create_performance_profile(matrices, thresholds, reps=reps)
    figure, axis = new_figure(width=8.0)
    colours = algorithm_colours(algos)
    for algo in algos:
        colour = colours[algo]
        axis.plot(thresholds, profiles[algo], label=algo, color=colour)
        axis.fill_between(thresholds, bands[algo][0], bands[algo][1], alpha=0.2, color=colour)
    axis.set(xlabel="normalised final return tau (min-max over the task's runs)", ylabel="fraction of runs > tau")
    n_runs = next(iter(matrices.values())).shape[0]
    title = f"Performance profile over the {n_tasks} task(s) every algorithm ran, {n_runs} runs each"
    axis.set_title(title, fontsize="medium")
    legend_outside(figure, axis)
    figure.savefig(path, dpi=110)
    return title


def plot_task_curves(algos: dict[str, list[dict[str, Any]]], reps: int, heading: str, image: Path, curve: str) -> None:
    steps, curves = {}, {}
    for algo, runs in algos.items():
        steps[algo], curves[algo] = curve_scores(runs, curve)
    point, interval = curve_intervals(curves, reps)
    plot_curves(steps, point, interval, heading, image)
