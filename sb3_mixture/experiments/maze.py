"""
The mixture in a maze: at every free cell of a Gymnasium-Robotics point maze, at rest and with one fixed goal, each
component's mean action and weight. A run records this at its start and its end; the report draws it, one arrow per
component with its weight as the arrow's width, so a reader sees whether the mixture keeps two routes to the goal,
and counts, for every seed, the cells where it does.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.vec_env import VecEnv, unwrap_vec_normalize

from sb3_mixture.common.distributions import SquashedGaussianMixture

# Two directions kept at a cell: two components of at least this weight, each moving the ball (mean action of at least
# this norm), pointing at least this far apart (a turn at a junction is 90 degrees).
TWO_DIRECTIONS_MIN_WEIGHT = 0.1
TWO_DIRECTIONS_MIN_ACTION = 0.1
TWO_DIRECTIONS_MIN_ANGLE = 60.0


def maze_layout(env: VecEnv) -> dict[str, Any] | None:
    """The maze of ``env``'s first env if it is a point maze (a Gymnasium-Robotics maze whose observation is the
    ball's position and velocity): its free cells' and walls' centres, the cell size and the goal (the first free cell
    in reading order), as lists; None for any other env."""
    try:
        maze = env.get_attr("maze", [0])[0]
    except AttributeError:
        return None
    space = getattr(env.observation_space, "spaces", {}).get("observation")
    if space is None or space.shape != (4,):
        return None  # AntMaze: the observation holds the ant's joints, which a cell centre does not give
    cells = [(row, column) for row, line in enumerate(maze.maze_map) for column, cell in enumerate(line)]
    centre = {cell: [float(value) for value in maze.cell_rowcol_to_xy(np.array(cell))] for cell in cells}
    free = [cell for cell in cells if maze.maze_map[cell[0]][cell[1]] != 1]
    return {
        "goal": centre[free[0]],
        "positions": [centre[cell] for cell in free[1:]],
        "walls": [centre[cell] for cell in cells if maze.maze_map[cell[0]][cell[1]] == 1],
        "cell_size": float(maze.maze_size_scaling),
    }


def mixture_snapshot(model: Any, env: VecEnv, layout: dict[str, Any]) -> dict[str, Any] | None:
    """The policy at the layout's positions (the ball at rest, the layout's goal): per position and component the mean
    action (tanh-squashed where the policy squashes) and the weight; None if the policy is not a mixture."""
    from sb3_mixture.plots import mixture_distribution

    positions = np.array(layout["positions"], dtype=np.float32)
    goals = np.repeat(np.array([layout["goal"]], dtype=np.float32), len(positions), axis=0)
    observations = {
        "observation": np.concatenate([positions, np.zeros_like(positions)], axis=1),
        "achieved_goal": positions,
        "desired_goal": goals,
    }
    normaliser = unwrap_vec_normalize(env)
    if normaliser is not None:
        observations = normaliser.normalize_obs(observations)  # type: ignore[assignment]
    distribution = mixture_distribution(model, observations)
    if distribution is None:
        return None
    means = distribution.mean.tanh() if isinstance(distribution, SquashedGaussianMixture) else distribution.mean
    return {
        "timesteps": int(model.num_timesteps),
        "means": np.round(means.numpy(), 4).tolist(),
        "weights": np.round(distribution.weights.numpy(), 4).tolist(),
    }


def cells_keeping_two_directions(snapshot: dict[str, Any]) -> int:
    """How many of the snapshot's cells have two components that each weigh at least ``TWO_DIRECTIONS_MIN_WEIGHT``,
    move the ball (mean action norm at least ``TWO_DIRECTIONS_MIN_ACTION``) and point at least
    ``TWO_DIRECTIONS_MIN_ANGLE`` degrees apart: the cells where the mixture keeps two ways to go."""
    most_similar = np.cos(np.radians(TWO_DIRECTIONS_MIN_ANGLE))
    count = 0
    for means, weights in zip(snapshot["means"], snapshot["weights"], strict=True):
        moves = [
            np.asarray(mean, dtype=float)
            for mean, weight in zip(means, weights, strict=True)
            if weight >= TWO_DIRECTIONS_MIN_WEIGHT
        ]
        directions = [move / np.linalg.norm(move) for move in moves if np.linalg.norm(move) >= TWO_DIRECTIONS_MIN_ACTION]
        count += any(
            float(np.dot(first, second)) <= most_similar
            for index, first in enumerate(directions)
            for second in directions[index + 1 :]
        )
    return count


def two_directions_table(recorded_runs: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Per algorithm with more than one component, each seed's count of cells keeping two directions
    (:func:`cells_keeping_two_directions`) at its first and its last snapshot, from runs sorted by seed that all
    recorded snapshots."""
    rows = []
    for algo, recorded in recorded_runs.items():
        if len(recorded[0]["maze_mixture"]["snapshots"][0]["weights"][0]) < 2:
            continue
        counts = [
            [cells_keeping_two_directions(run["maze_mixture"]["snapshots"][index]) for run in recorded] for index in (0, -1)
        ]
        cells = len(recorded[0]["maze_mixture"]["positions"])
        seeds = ", ".join(str(run["seed"]) for run in recorded)
        rows.append(f"| {algo} | {seeds} | {', '.join(map(str, counts[0]))} | {', '.join(map(str, counts[1]))} | {cells} |")
    if not rows:
        return []
    caption = (
        f"Cells where the mixture keeps two directions: two components of weight at least {TWO_DIRECTIONS_MIN_WEIGHT}, "
        f"each moving the ball (mean action norm at least {TWO_DIRECTIONS_MIN_ACTION}), at least "
        f"{TWO_DIRECTIONS_MIN_ANGLE:.0f} degrees apart; per seed, at the first and the last snapshot:"
    )
    header = ["| algorithm | seeds | first snapshot | last snapshot | cells |", "|---|---|---|---|---|"]
    return [caption, "", *header, *rows, ""]


def maze_mixture_section(algos: dict[str, list[dict[str, Any]]], heading: str, image: Path) -> list[str]:
    """One figure: per mixture algorithm (its lowest seed), the mixture at the maze's cells at the first and the last
    snapshot; then :func:`two_directions_table` over every seed; nothing if no run recorded one."""
    from sb3_mixture.plots import new_figure

    recorded_runs = {
        algo: sorted(with_maze, key=lambda run: run["seed"])
        for algo, runs in algos.items()
        if (with_maze := [run for run in runs if (run.get("maze_mixture") or {}).get("snapshots")])
    }
    if not recorded_runs:
        return []
    recorded = {algo: runs[0] for algo, runs in recorded_runs.items()}  # the figure draws each lowest seed
    figure = new_figure()[0]
    figure.clear()
    figure.set_size_inches(8.0, 4.0 * len(recorded))
    axes = figure.subplots(len(recorded), 2, squeeze=False)
    for row, (algo, run) in enumerate(recorded.items()):
        snapshots = run["maze_mixture"]["snapshots"]
        for column, snapshot in enumerate((snapshots[0], snapshots[-1])):
            axis = axes[row][column]
            _draw_mixture(axis, run["maze_mixture"], snapshot)
            title = f"{algo}, seed {run['seed']}, step {snapshot['timesteps']}"
            axis.set_title(textwrap.fill(title, 48), fontsize="small")
    figure.tight_layout()
    figure.savefig(image, dpi=110)
    caption = (
        "The mixture at each free cell (ball at rest, goal: the star): one arrow per component (a colour each) from the "
        "cell's centre (the dot) along its mean action (an action of 1 reaches 0.45 cells), its width and head the "
        "component's weight; the first and the last snapshot of each algorithm's lowest seed."
    )
    return [caption, "", f"![the mixture in the maze]({image.name})", "", *two_directions_table(recorded_runs)]


def _draw_mixture(axis: Any, layout: dict[str, Any], snapshot: dict[str, Any]) -> None:
    from matplotlib import colormaps
    from matplotlib.patches import Rectangle

    size = layout["cell_size"]
    for x, y in layout["walls"]:
        axis.add_patch(Rectangle((x - size / 2, y - size / 2), size, size, color="0.75"))
    colours = colormaps["tab10"].colors  # type: ignore[attr-defined]  # a ListedColormap
    for (x, y), means, weights in zip(layout["positions"], snapshot["means"], snapshot["weights"], strict=True):
        for component, ((dx, dy), weight) in enumerate(zip(means, weights, strict=True)):
            tip = (x + 0.45 * size * dx, y + 0.45 * size * dy)  # an action of 1 reaches 0.45 cells
            style = {
                "arrowstyle": "-|>",
                "color": colours[component % len(colours)],
                "shrinkA": 0,
                "shrinkB": 0,
                "linewidth": 0.5 + 4.0 * weight,
                "mutation_scale": 6.0 + 14.0 * weight,
            }
            axis.annotate("", xy=tip, xytext=(x, y), arrowprops=style)
    positions = np.array(layout["positions"])
    axis.plot(positions[:, 0], positions[:, 1], "o", markersize=3, color="black", zorder=3)  # where the arrows start
    axis.plot(*layout["goal"], marker="*", markersize=14, color="black")
    walls = np.array(layout["walls"])
    axis.set(xlim=(walls[:, 0].min() - size / 2, walls[:, 0].max() + size / 2), aspect="equal", xticks=[], yticks=[])
    axis.set_ylim(walls[:, 1].min() - size / 2, walls[:, 1].max() + size / 2)
