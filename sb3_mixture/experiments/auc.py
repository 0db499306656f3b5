"""
Areas under learning curves, the runs that never reached the goal, and the summary of a hyperparameter sweep.

The MRP paper scores its classic-control runs by the area under the online learning curve and keeps, per algorithm and
task, the setting with the largest one (He et al. 2026, Sec. 5.3 and App. E.1); PMOE's tables are areas too. Here an
area is normalised by the steps it covers, so it reads as a return: the online area of a run is the mean over its
training steps of the return of the episode each step belongs to (``sum_e length_e return_e / sum_e length_e`` over
its finished episodes), the evaluation area the mean of its evaluation returns.
"""

from __future__ import annotations

import textwrap
from collections import defaultdict
from pathlib import Path
from shlex import quote
from typing import Any

import numpy as np

from sb3_mixture.experiments.figures import algorithm_colours, legend_outside, plot_curves
from sb3_mixture.experiments.results import curve_scores, load_results, run_name
from sb3_mixture.experiments.statistics import curve_intervals, improvement_intervals, iqm_intervals, relative_mean_intervals


def online_auc(run: dict[str, Any]) -> float | None:
    """The run's area under its online learning curve per step, or None for a run file without training episodes."""
    online = run.get("online")
    if not online or not online["lengths"]:
        return None
    lengths, returns = np.asarray(online["lengths"], dtype=np.float64), np.asarray(online["returns"], dtype=np.float64)
    return float((lengths * returns).sum() / lengths.sum())


def online_curve(run: dict[str, Any], steps: np.ndarray) -> np.ndarray:
    """The return of the training episode each of ``steps`` belongs to (the online learning curve the MRP paper plots);
    steps after the run's last finished episode take that episode's return."""
    online = run["online"]
    ends, returns = np.asarray(online["timesteps"]), np.asarray(online["returns"], dtype=np.float64)
    return returns[np.minimum(np.searchsorted(ends, steps), len(ends) - 1)]


def online_curve_section(algos: dict[str, list[dict[str, Any]]], reps: int, heading: str, image: Path) -> list[str]:
    """The online learning curves (IQM over runs with its 95% CI band, every 1/50 of the budget), where every run
    recorded its training episodes; nothing otherwise."""

    if any(online_auc(run) is None for runs in algos.values() for run in runs):
        return []
    budget = max(run["budget"] for runs in algos.values() for run in runs)
    steps = np.linspace(budget / 50, budget, 50).round().astype(int)
    curves = {algo: np.array([online_curve(run, steps) for run in runs])[:, None, :] for algo, runs in algos.items()}
    point, interval = curve_intervals(curves, reps)
    plot_curves(dict.fromkeys(algos, steps), point, interval, f"{heading}: online", image, "training-episode return")
    return [f"![online learning curves]({image.name})", ""]


def evaluation_auc(run: dict[str, Any], curve: str = "returns") -> float:
    """The mean of the run's evaluation returns (``curve``: ``"returns"``, deterministic, or ``"stochastic_returns"``)."""
    return float(np.mean(run[curve]))


# Run files made before the runner flagged DeepMind Control's rewarded steps (recording.EpisodeGoals) hold no flags
# there. On cartpole-swingup_sparse, whose episodes all start outside the goal region (the pole hanging down) and whose
# reward is 1 inside it and 0 outside, a positive return is the same test.
GOAL_FROM_RETURN_TASKS = frozenset({"dm_control/cartpole-swingup_sparse-v0"})


def training_reached_goal(run: dict[str, Any]) -> bool | None:
    """Whether a training episode of the run reached the goal; None where nothing tells."""
    online = run.get("online") or {}
    flags = [flag for flag in online.get("reached_goal") or [] if flag is not None]
    if flags:
        return any(flags)
    if online and run["env_id"] in GOAL_FROM_RETURN_TASKS:
        return any(value > 0 for value in online["returns"])
    return None


def evaluation_reached_goal(run: dict[str, Any]) -> bool | None:
    """Whether an episode of the run's (deterministic) evaluations reached the goal; None where nothing tells."""
    rates = [rate for rate in run["success_rate"] if rate is not None]
    if rates:
        return any(rate > 0 for rate in rates)
    if run["env_id"] in GOAL_FROM_RETURN_TASKS:  # a positive mean return: one of the evaluation's episodes scored
        return any(value > 0 for value in run["returns"])
    return None


def reached_goal(run: dict[str, Any]) -> bool | None:
    """Whether the run ever reached the goal, in a training episode or an evaluation; None if it records neither."""
    flags = [flag for flag in (training_reached_goal(run), evaluation_reached_goal(run)) if flag is not None]
    return any(flags) if flags else None


def scores(runs: list[dict[str, Any]], measure: str) -> np.ndarray | None:
    """``[n_runs, 1]`` areas (``measure``: ``"online"`` or ``"evaluation"``), or None if a run lacks the online record."""
    values = [online_auc(run) if measure == "online" else evaluation_auc(run) for run in runs]
    if any(value is None for value in values):
        return None
    return np.array(values, dtype=np.float64)[:, None]


def never_reached(runs: list[dict[str, Any]]) -> str:
    """``"n/N"``: how many runs never reached the goal (the MRP paper's failed runs); "-" where nothing records it."""
    flags = [reached_goal(run) for run in runs]
    if all(flag is None for flag in flags):
        return "-"
    return f"{sum(flag is False for flag in flags)}/{len(runs)}"


def auc_section(algos: dict[str, list[dict[str, Any]]], reference: str, reps: int) -> list[str]:
    """A task's areas: IQM with its 95% CI of the evaluation area, its mean as a percentage of the reference's (the PMOE
    paper's tables; where the reference's areas are positive), the online area's IQM (where every run recorded it),
    P(> reference) on the online area (else the evaluation area), and the runs that never reached the goal."""

    evaluation = {algo: scores(runs, "evaluation") for algo, runs in algos.items()}
    online = {algo: scores(runs, "online") for algo, runs in algos.items()}
    has_online = all(value is not None for value in online.values())
    ranked: dict[str, np.ndarray] = online if has_online else evaluation  # type: ignore[assignment]
    evaluation_iqm = iqm_intervals(evaluation, reps)  # type: ignore[arg-type]
    online_iqm = iqm_intervals(online, reps) if has_online else {}  # type: ignore[arg-type]
    improvement = improvement_intervals(ranked, reference, reps) if reference in ranked else {}
    relative = relative_mean_intervals(evaluation, reference, reps)  # type: ignore[arg-type]
    basis = "online" if has_online else "evaluation"
    lines = [
        f"Areas under the learning curves (per step; P(> {reference}) on the {basis} area):",
        "",
        f"| algorithm | evaluation AUC IQM [95% CI] | evaluation AUC mean, % of {reference}'s [95% CI] "
        f"| online AUC IQM [95% CI] | P(> {reference}) [95% CI] | never reached the goal |",
        "|---|---|---|---|---|---|",
    ]
    for algo, runs in algos.items():
        online_text = str(online_iqm[algo]) if algo in online_iqm else "-"
        poi = str(improvement[algo]) if algo in improvement else "-"
        percent = str(relative[algo]) if algo in relative else "-"
        lines.append(f"| {algo} | {evaluation_iqm[algo]} | {percent} | {online_text} | {poi} | {never_reached(runs)} |")
    return [*lines, ""]


def weight_entropy_section(algos: dict[str, list[dict[str, Any]]], heading: str, image: Path) -> list[str]:
    """The mixture weights' entropy over training (median over runs, band from the lowest to the highest run), for
    the algorithms whose policies are mixtures; nothing if none is."""
    from sb3_mixture.plots import new_figure

    mixtures = {
        algo: runs
        for algo, runs in algos.items()
        if all(run.get("mixture_statistics") and all(run["mixture_statistics"]) for run in runs)
    }
    if not mixtures:
        return []
    figure, axis = new_figure(width=8.0)
    colours = algorithm_colours(algos)  # the task's colours, as in its other figures
    for algo, runs in mixtures.items():
        steps, _ = curve_scores(runs)
        entropy = np.array([[stats["weight_entropy"] for stats in run["mixture_statistics"][: len(steps)]] for run in runs])
        colour = colours[algo]
        axis.plot(steps, np.median(entropy, axis=0), label=algo, color=colour)
        axis.fill_between(steps, entropy.min(axis=0), entropy.max(axis=0), alpha=0.2, color=colour)
    axis.set(xlabel="environment steps", ylabel="weight entropy (median; band: all runs)")
    axis.set_title(textwrap.fill(f"{heading}: mixture weight entropy", 60), fontsize="medium")
    legend_outside(figure, axis)
    figure.savefig(image, dpi=110)
    return [f"![weight entropy]({image.name})", ""]


def sweep_settings(results: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, list[dict[str, Any]]]]:
    """(env id, algorithm) -> setting (the variant: entropy coefficient and replaced hyperparameters) -> runs."""

    settings: dict[tuple[str, str], dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for result in results:
        settings[(result["env_id"], run_name(result))][result["variant"]].append(result)
    return {key: dict(value) for key, value in sorted(settings.items())}


def best_settings(results: list[dict[str, Any]]) -> dict[tuple[str, str], tuple[str, float]]:
    """Per (env id, algorithm): the setting with the largest mean online area over its runs (the evaluation area for
    runs without the online record), and that mean."""
    best = {}
    for key, settings in sweep_settings(results).items():
        means = {variant: float(np.mean([_area(run) for run in runs])) for variant, runs in settings.items()}
        variant = max(means, key=lambda name: means[name])
        best[key] = (variant, means[variant])
    return best


def _area(run: dict[str, Any]) -> float:
    area = online_auc(run)
    return evaluation_auc(run) if area is None else area


def write_sweep_report(root: Path, output: Path, title: str) -> str:
    """The sweep's table (mean and range of the area per setting, the best per algorithm and task marked) and one
    figure per task of the area against the entropy coefficient, each point the best over the other hyperparameters
    (the shape of the MRP paper's Fig. 6)."""
    from sb3_mixture.experiments.provenance import shell_command
    from sb3_mixture.plots import new_figure

    results = load_results(root)
    best = best_settings(results)
    sweep = f"python -m sb3_mixture.experiments sweep --runs {quote(str(root))} --out {quote(str(output))}"
    sweep += f" --title {quote(title)}"
    lines = [
        f"# {title}",
        "",
        f"{len(results)} runs from `{root}`. Area: the online learning curve's, per step (`sb3_mixture.experiments.auc`).",
        "",
        "Produced by:",
        "",
        *[f"    {command}" for command in sorted({shell_command(result["command"]) for result in results})],
        f"    {sweep}",
        "",
        "| task | algorithm | setting | runs | mean area | lowest, highest run | best |",
        "|---|---|---|---|---|---|---|",
    ]
    by_env: dict[str, dict[str, dict[float, float]]] = defaultdict(lambda: defaultdict(dict))
    for (env_id, algo), settings in sweep_settings(results).items():
        for variant, runs in sorted(settings.items()):
            areas = [_area(run) for run in runs]
            marker = "**best**" if best[(env_id, algo)][0] == variant else ""
            lines.append(
                f"| {env_id} | {algo} | {variant} | {len(runs)} | {np.mean(areas):.1f} | "
                f"{min(areas):.1f}, {max(areas):.1f} | {marker} |"
            )
            ent_coef = runs[0]["ent_coef"]
            if ent_coef is not None:
                previous = by_env[env_id][algo].get(ent_coef, -np.inf)
                by_env[env_id][algo][ent_coef] = max(previous, float(np.mean(areas)))
    lines.append("")
    output.parent.mkdir(parents=True, exist_ok=True)
    for env_id, algos in by_env.items():
        figure, axis = new_figure(width=8.0)
        colours = algorithm_colours(algos)
        for algo, areas_by_alpha in algos.items():
            alphas = sorted(areas_by_alpha)
            areas = [areas_by_alpha[alpha] for alpha in alphas]
            axis.plot(alphas, areas, marker="o", label=algo, color=colours[algo])
        axis.set(xscale="log", xlabel="entropy coefficient alpha", ylabel="mean online area (best other settings)")
        axis.set_title(textwrap.fill(f"{env_id}: area against alpha", 60), fontsize="medium")
        legend_outside(figure, axis)
        image = output.parent / f"{output.stem}_{env_id.replace('/', '__')}_alpha.png"
        figure.savefig(image, dpi=110)
        lines += [f"![area against alpha]({image.name})", ""]
    markdown = "\n".join(lines)
    output.write_text(markdown)
    return markdown
