"""
Aggregate benchmark result files with rliable (Agarwal et al. 2021) into a Markdown report with PNG plots.

Per env and variant (entropy coefficient, replaced hyperparameters): the interquartile mean (IQM) of the final
evaluation return over runs with a 95% stratified-bootstrap confidence interval, the final success rate and how many
runs ever succeeded in an evaluation, the probability of improvement over the reference algorithm (``sac``), and
learning curves (IQM per evaluation point with its 95% CI band). Everything is computed from the result files alone,
with a fixed bootstrap seed, so the report reproduces.
"""

from __future__ import annotations

from pathlib import Path
from shlex import quote
from typing import Any

import numpy as np

from sb3_mixture.experiments.auc import (
    auc_section,
    evaluation_reached_goal,
    online_curve_section,
    weight_entropy_section,
)
from sb3_mixture.experiments.figures import plot_interval_estimates, plot_performance_profile, plot_task_curves
from sb3_mixture.experiments.maze import maze_mixture_section
from sb3_mixture.experiments.provenance import shell_command
from sb3_mixture.experiments.results import final_scores, group_by_task, load_results, sampled_runs
from sb3_mixture.experiments.specs import parse_arm
from sb3_mixture.experiments.statistics import (
    BOOTSTRAP_SEED,
    improvement_intervals,
    iqm_intervals,
    task_statistics,
    without_arch_deprecation,
)

REFERENCE = "sac"


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
    algorithm (by :func:`short_label`), the final return's IQM with its 95% CI, the mean final success rate (where
    every run records one), P(> reference) with its CI, and env-steps/s. The README's results table is this output,
    so its numbers come from the committed run files."""
    lines = [
        "| task | steps | algorithm | runs | final return IQM [95% CI] | final success | P(> baseline) [95% CI] "
        "| env-steps/s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for root, reference in sources:
        with without_arch_deprecation():
            for (env_id, variant, budget), algos in group_by_task(load_results(root)).items():
                _, iqm, improvement = task_statistics(algos, reference, reps)
                task = env_id if variant == "default" else f"{env_id} ({variant})"
                for algo, runs in algos.items():
                    final = f"{_brief(iqm[algo].value)} [{_brief(iqm[algo].low)}, {_brief(iqm[algo].high)}]"
                    poi = improvement.get(algo)
                    poi_text = f"{poi.value:.2f} [{poi.low:.2f}, {poi.high:.2f}] vs {short_label(reference)}" if poi else "-"
                    speed = np.mean([run["env_steps_per_second"] for run in runs])
                    # Only where every run records it: DMC runs recorded before the runner flagged reward-1 steps have none.
                    recorded = all(run.get("final_success_rate") is not None for run in runs)
                    success = _mean_success(runs) if recorded else "-"
                    cells = [task, budget, short_label(algo), len(runs), final, success, poi_text, f"{speed:.0f}"]
                    row = "| " + " | ".join(map(str, cells)) + " |"
                    lines.append(row)
    return "\n".join(lines) + "\n"


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
    plot_task_curves(sampled, reps, f"{heading}, sampled actions", image, "stochastic_returns")
    return [*lines, "", f"![learning curves, sampled actions]({image.name})", ""]


def _brief(value: float) -> str:
    """A return as a summary shows it: whole numbers from 100 up, three significant digits below (FetchReach's -1.63)."""
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"


def _mean_success(runs: list[dict[str, Any]]) -> str:
    rates = [run["final_success_rate"] for run in runs if run.get("final_success_rate") is not None]
    return f"{np.mean(rates):.2f}" if rates else "-"


def _runs_that_succeeded(runs: list[dict[str, Any]]) -> str:
    """How many runs succeeded in at least one evaluation episode (MRP counts the runs that never find the goal)."""
    flags = [evaluation_reached_goal(run) for run in runs]
    if all(flag is None for flag in flags):
        return "-"
    return f"{sum(flag is True for flag in flags)}/{len(runs)}"


def write_report(
    root: Path,
    output: Path,
    reps: int = 2000,
    references: tuple[str, ...] = (REFERENCE,),
    title: str = "Benchmark",
    note: str = "",
) -> str:
    """Aggregate every result under ``root`` into ``output`` (Markdown) and PNGs beside it; return the Markdown. Each
    task compares with the first of ``references`` it has (a tuned baseline's arm is named by its setting, which can
    differ from task to task). ``note``: a paragraph under the title, e.g. what the grid left out and why."""
    with without_arch_deprecation():
        return _write_report(root, output, reps, references, title, note)


def _write_report(root: Path, output: Path, reps: int, references: tuple[str, ...], title: str, note: str) -> str:
    results = load_results(root)
    output.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        f"# {title}",
        "",
        f"{len(results)} runs from `{root}`; rliable, {reps} bootstrap samples, seed {BOOTSTRAP_SEED}.",
        "",
        *([note, ""] if note else []),
    ]
    commands = sorted({shell_command(result["command"]) for result in results})
    report = f"python -m sb3_mixture.experiments report --runs {quote(str(root))} --out {quote(str(output))} --reps {reps}"
    report += f" --title {quote(title)}"
    if references != (REFERENCE,):
        report += " --reference " + " ".join(quote(reference) for reference in references)
    if note:
        report += f" --note {quote(note)}"
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
        plot_task_curves(algos, reps, heading, image, "returns")
        lines += ["", f"![learning curves]({image.name})", ""]
        sampled = sampled_runs(algos)
        if sampled:
            lines += _sampled_section(sampled, reference, reps, heading, image.with_name(f"{image.stem}_sampled.png"))
        lines += auc_section(algos, reference, reps)
        lines += online_curve_section(algos, reps, heading, image.with_name(f"{image.stem}_online.png"))
        lines += weight_entropy_section(algos, heading, image.with_name(f"{image.stem}_weight_entropy.png"))
        lines += maze_mixture_section(algos, heading, image.with_name(f"{image.stem}_maze.png"))
    if final_by_task:
        intervals_image = output.parent / f"{output.stem}_interval_estimates.png"
        plot_interval_estimates(final_by_task, reps, intervals_image)
        profile_image = output.parent / f"{output.stem}_performance_profile.png"
        profile = plot_performance_profile(final_by_task, reps, profile_image)
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
