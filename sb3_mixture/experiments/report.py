"""
Aggregate benchmark result files with rliable (Agarwal et al. 2021) into a Markdown report with PNG plots.

Per env and variant (entropy coefficient, replaced hyperparameters): the interquartile mean (IQM) of the final
evaluation return over runs with a 95% stratified-bootstrap confidence interval, the final success rate and how many
runs ever succeeded in an evaluation, the probability of improvement over the reference algorithm (``sac``), and
learning curves (IQM per evaluation point with its 95% CI band). Everything is computed from the result files alone,
with a fixed bootstrap seed, so the report reproduces.
"""

from __future__ import annotations

import textwrap
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from shlex import quote
from typing import Any

import numpy as np

from sb3_mixture.experiments.auc import auc_section, online_curve_section, weight_entropy_section
from sb3_mixture.experiments.checkpoint import read_result
from sb3_mixture.experiments.runner import parse_arm, shell_command

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


@contextmanager
def _without_arch_deprecation() -> Iterator[None]:
    """rliable hands arch a RandomState, which arch deprecates; the seeded stream is what makes a report reproduce."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="random_state is deprecated", category=FutureWarning)
        yield


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


def _paired_intervals(
    scores: dict[str, np.ndarray], reference: str, statistic: Callable[..., Any], reps: int, seed: int
) -> dict[str, Interval]:
    """``statistic(algo's scores, reference's scores)`` with its 95% CI (rliable; each side's runs resampled
    independently), for every algorithm but the reference."""
    from rliable import library as rly

    pairs = {algo: [scores[algo], scores[reference]] for algo in scores if algo != reference}
    if not pairs:
        return {}
    with _seeded_global_numpy(seed) as random_state:
        point, interval = rly.get_interval_estimates(pairs, statistic, reps=reps, random_state=random_state)
    return {algo: _interval(point[algo], interval[algo]) for algo in pairs}


def improvement_intervals(
    scores: dict[str, np.ndarray], reference: str, reps: int, seed: int = BOOTSTRAP_SEED
) -> dict[str, Interval]:
    """P(algo > reference) with its 95% CI (rliable), for every algorithm but the reference."""
    from rliable import metrics

    return _paired_intervals(scores, reference, metrics.probability_of_improvement, reps, seed)


def relative_mean_intervals(
    scores: dict[str, np.ndarray], reference: str, reps: int, seed: int = BOOTSTRAP_SEED
) -> dict[str, Interval]:
    """100 x mean(algo) / mean(reference) with its 95% CI, for every algorithm but the reference: the PMOE paper's
    "AUC as % of SAC / PPO" (its Tables 1-2). Empty unless every reference score is positive (a ratio of returns says
    nothing when the reference's can be <= 0)."""
    if reference not in scores or not (scores[reference] > 0).all():
        return {}
    return _paired_intervals(scores, reference, lambda x, y: 100 * np.mean(x) / np.mean(y), reps, seed)


def curve_intervals(curves: dict[str, np.ndarray], reps: int, seed: int = BOOTSTRAP_SEED) -> tuple[dict, dict]:
    """IQM at each evaluation point with its 95% CI band: ``(point [T], interval [2, T])`` per algorithm."""
    from rliable import library as rly
    from rliable import metrics

    def iqm_over_time(scores: np.ndarray) -> np.ndarray:
        return np.array([metrics.aggregate_iqm(scores[..., t]) for t in range(scores.shape[-1])])

    with _seeded_global_numpy(seed) as random_state:
        return rly.get_interval_estimates(curves, iqm_over_time, reps=reps, random_state=random_state)


def task_statistics(
    algos: dict[str, list[dict[str, Any]]], reference: str, reps: int
) -> tuple[dict[str, np.ndarray], dict[str, Interval], dict[str, Interval]]:
    """One task's final scores, IQM with its CI per algorithm, and P(> reference) with its CI (empty without it)."""
    scores = {algo: final_scores(runs) for algo, runs in algos.items()}
    improvement = improvement_intervals(scores, reference, reps) if reference in scores else {}
    return scores, iqm_intervals(scores, reps), improvement


def short_label(name: str) -> str:
    """An arm as a table row names it: its key and what differs, e.g. ``crossq (256-wide)`` for
    ``crossq[policy_kwargs=dict(net_arch=dict(pi=[256, 256], qf=[256, 256]))]``; the report keeps the full spec."""
    import ast

    key, arm = parse_arm(name)
    changes: list[str] = []
    for parameter, value in arm:
        if parameter == "compile":
            changes.append("compiled" if value == "True" else "eager")
            continue
        if parameter == "policy_kwargs":
            try:
                policy_kwargs = _dict_literal(ast.parse(value, mode="eval").body)
            except (SyntaxError, ValueError):
                changes.append(f"{parameter}={value}")
                continue
            for policy_parameter, policy_value in policy_kwargs.items():
                if policy_parameter == "n_components":
                    changes.append(f"K={policy_value}")
                elif policy_parameter == "net_arch" and len({str(layers) for layers in _layer_lists(policy_value)}) == 1:
                    widths = {width for layers in _layer_lists(policy_value) for width in layers}
                    changes.append(f"{widths.pop()}-wide" if len(widths) == 1 else f"net {policy_value}")
                else:
                    changes.append(f"{policy_parameter}={policy_value}")
            continue
        changes.append(f"{parameter}={value}")
    return f"{key} ({', '.join(changes)})" if changes else key


def _dict_literal(node: Any) -> Any:
    """A literal in RL Zoo's ``dict(name=value, ...)`` notation (``ast.literal_eval`` does not take calls)."""
    import ast

    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict" and not node.args:
        return {item.arg: _dict_literal(item.value) for item in node.keywords}
    return ast.literal_eval(node)


def _layer_lists(net_arch: Any) -> list[list[int]]:
    """The layer lists of a ``net_arch``: one list, or one per network (``dict(pi=..., qf=...)``)."""
    return list(net_arch.values()) if isinstance(net_arch, dict) else [net_arch]


def summary_table(sources: list[tuple[Path, str]], reps: int = 2000) -> str:
    """One Markdown table over several grids (each a run folder and the algorithm it is compared with): per task and
    algorithm (by :func:`short_label`), the final return's IQM with its 95% CI, P(> reference) with its CI, and
    env-steps/s. The README's results table is this output, so its numbers come from the committed run files."""
    lines = [
        "| task | steps | algorithm | runs | final return IQM [95% CI] | P(> baseline) [95% CI] | env-steps/s |",
        "|---|---|---|---|---|---|---|",
    ]
    for root, reference in sources:
        with _without_arch_deprecation():
            for (env_id, variant, budget), algos in group_by_task(load_results(root)).items():
                _, iqm, improvement = task_statistics(algos, reference, reps)
                task = env_id if variant == "default" else f"{env_id} ({variant})"
                for algo, runs in algos.items():
                    final = f"{iqm[algo].value:.0f} [{iqm[algo].low:.0f}, {iqm[algo].high:.0f}]"
                    poi = improvement.get(algo)
                    poi_text = f"{poi.value:.2f} [{poi.low:.2f}, {poi.high:.2f}] vs {short_label(reference)}" if poi else "-"
                    speed = np.mean([run["env_steps_per_second"] for run in runs])
                    row = f"| {task} | {budget} | {short_label(algo)} | {len(runs)} | {final} | {poi_text} | {speed:.0f} |"
                    lines.append(row)
    return "\n".join(lines) + "\n"


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


def _plot_interval_estimates(tasks: dict[str, dict[str, np.ndarray]], reps: int, path: Path) -> None:
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
        with _seeded_global_numpy(BOOTSTRAP_SEED) as random_state:
            point, interval = rly.get_interval_estimates(
                scores,
                lambda x: np.array([metrics.aggregate_iqm(x), metrics.aggregate_mean(x)]),
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


def _plot_performance_profile(tasks: dict[str, dict[str, np.ndarray]], reps: int, path: Path) -> str | None:
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
    with _seeded_global_numpy(BOOTSTRAP_SEED):
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


def _plot_task_curves(algos: dict[str, list[dict[str, Any]]], reps: int, heading: str, image: Path, curve: str) -> None:
    steps, curves = {}, {}
    for algo, runs in algos.items():
        steps[algo], curves[algo] = curve_scores(runs, curve)
    point, interval = curve_intervals(curves, reps)
    plot_curves(steps, point, interval, heading, image)


def _sampled_section(
    sampled: dict[str, list[dict[str, Any]]], reference: str, reps: int, heading: str, image: Path
) -> list[str]:
    """The task's evaluations with sampled actions (the policy the loss trains), for the algorithms that have them."""
    scores = {algo: final_scores(runs, "stochastic_returns") for algo, runs in sampled.items()}
    iqm = iqm_intervals(scores, reps)
    improvement = improvement_intervals(scores, reference, reps) if reference in scores else {}
    lines = [
        "Evaluated with sampled actions (`predict(deterministic=False)`), for the algorithms whose runs recorded it:",
        "",
        f"| algorithm | runs | final sampled-action return IQM [95% CI] | P(> {reference}) [95% CI] |",
        "|---|---|---|---|",
    ]
    for algo, runs in sampled.items():
        poi = str(improvement[algo]) if algo in improvement else "-"
        lines.append(f"| {algo} | {len(runs)} | {iqm[algo]} | {poi} |")
    _plot_task_curves(sampled, reps, f"{heading}, sampled actions", image, "stochastic_returns")
    return [*lines, "", f"![learning curves, sampled actions]({image.name})", ""]


def _mean_success(runs: list[dict[str, Any]]) -> str:
    rates = [run["final_success_rate"] for run in runs if run["final_success_rate"] is not None]
    return f"{np.mean(rates):.2f}" if rates else "-"


def _runs_that_succeeded(runs: list[dict[str, Any]]) -> str:
    """How many runs succeeded in at least one evaluation episode (MRP counts the runs that never find the goal)."""
    if all(rate is None for run in runs for rate in run["success_rate"]):
        return "-"
    succeeded = sum(any(rate for rate in run["success_rate"] if rate is not None) for run in runs)
    return f"{succeeded}/{len(runs)}"


def write_report(
    root: Path, output: Path, reps: int = 2000, references: tuple[str, ...] = (REFERENCE,), title: str = "Benchmark"
) -> str:
    """Aggregate every result under ``root`` into ``output`` (Markdown) and PNGs beside it; return the Markdown. Each
    task compares with the first of ``references`` it has (a tuned baseline's arm is named by its setting, which can
    differ from task to task)."""
    with _without_arch_deprecation():
        return _write_report(root, output, reps, references, title)


def _write_report(root: Path, output: Path, reps: int, references: tuple[str, ...], title: str) -> str:
    results = load_results(root)
    output.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        f"# {title}",
        "",
        f"{len(results)} runs from `{root}`; rliable, {reps} bootstrap samples, seed {BOOTSTRAP_SEED}.",
        "",
    ]
    commands = sorted({shell_command(result["command"]) for result in results})
    report = f"python -m sb3_mixture.experiments report --runs {quote(str(root))} --out {quote(str(output))} --reps {reps}"
    report += f" --title {quote(title)}"
    if references != (REFERENCE,):
        report += " --reference " + " ".join(quote(reference) for reference in references)
    lines += ["Produced by:", "", *[f"    {command}" for command in commands], f"    {report}", ""]
    final_by_task: dict[str, dict[str, np.ndarray]] = {}
    for (env_id, variant, budget), algos in group_by_task(results).items():
        reference = next((name for name in references if name in algos), references[0])
        scores, iqm, improvement = task_statistics(algos, reference, reps)
        final_by_task[f"{env_id}, {variant}, {budget}"] = scores
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
        image = output.parent / f"{output.stem}_{env_id.replace('/', '__')}_{variant}_{budget}.png"
        _plot_task_curves(algos, reps, heading, image, "returns")
        lines += ["", f"![learning curves]({image.name})", ""]
        sampled = sampled_runs(algos)
        if sampled:
            lines += _sampled_section(sampled, reference, reps, heading, image.with_name(f"{image.stem}_sampled.png"))
        lines += auc_section(algos, reference, reps)
        lines += online_curve_section(algos, reps, heading, image.with_name(f"{image.stem}_online.png"))
        lines += weight_entropy_section(algos, heading, image.with_name(f"{image.stem}_weight_entropy.png"))
    if final_by_task:
        intervals_image = output.parent / f"{output.stem}_interval_estimates.png"
        _plot_interval_estimates(final_by_task, reps, intervals_image)
        profile_image = output.parent / f"{output.stem}_performance_profile.png"
        profile = _plot_performance_profile(final_by_task, reps, profile_image)
        lines += [
            "## Across tasks",
            "",
            "Final IQM and mean with 95% CIs per task:",
            "",
            f"![interval estimates]({intervals_image.name})",
            "",
        ]
        if profile is not None:
            lines += [
                f"{profile} (final returns min-max normalised over every run of a task):",
                "",
                f"![performance profile]({profile_image.name})",
                "",
            ]
    markdown = "\n".join(lines)
    output.write_text(markdown)
    return markdown
