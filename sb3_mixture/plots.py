"""
Plots a user can call from Python: the mixture density over a 1-D action with the critic's Q (MRP Fig. 7), and the
mixture statistics over training from benchmark result files. Needs matplotlib (the ``benchmark`` extra).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch as th
from gymnasium import spaces

from sb3_mixture.common.distributions import (
    GaussianMixture,
    SquashedGaussianMixture,
    gaussian_log_density,
    mixture_statistics,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from stable_baselines3.common.base_class import BaseAlgorithm


def new_figure(n_columns: int = 1, width: float = 6.4) -> tuple[Figure, Any]:
    """A figure outside pyplot: no global backend switch, nothing kept alive after the caller drops it."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, 4.0))
    return figure, figure.subplots(1, n_columns)


def mixture_distribution(model: BaseAlgorithm, observations: Any) -> GaussianMixture | None:
    """The model's mixture at ``observations`` (numpy, as ``predict`` takes them), or None for a non-mixture policy."""
    obs_tensor, _ = model.policy.obs_to_tensor(observations)
    with th.no_grad():
        actor = getattr(model, "actor", None)
        if actor is not None and hasattr(actor, "get_distribution"):
            return actor.get_distribution(obs_tensor)
        get_distribution = getattr(model.policy, "get_distribution", None)
        distribution = get_distribution(obs_tensor) if get_distribution is not None else None
    return distribution if isinstance(distribution, GaussianMixture) else None


def model_mixture_statistics(model: BaseAlgorithm, observations: np.ndarray) -> dict[str, float] | None:
    """:func:`sb3_mixture.common.distributions.mixture_statistics` of the model's policy at ``observations``; None if
    the policy is not a mixture."""
    distribution = mixture_distribution(model, observations)
    return None if distribution is None else mixture_statistics(distribution)


def plot_mixture_density(
    model: BaseAlgorithm, observation: np.ndarray, path: str | Path | None = None, n_points: int = 801
) -> Figure:
    """
    The policy's density over a 1-D action at one state: one curve per weighted component ``w_k pi_k(a|s)``, their
    sum, and the critic's ``min_c Q_c(s, a)`` on a second axis when the model has a critic (MRP paper, Fig. 7).
    Actions are in the policy's ``[-1, 1]`` scale for squashed policies.

    :param observation: One observation (unbatched)
    :param path: PNG file to write (optional)
    """
    distribution = mixture_distribution(model, np.asarray(observation)[None])
    if distribution is None or distribution.action_dim != 1:
        raise ValueError("plot_mixture_density needs a mixture policy over a 1-D action")
    squashed = isinstance(distribution, SquashedGaussianMixture)
    assert isinstance(model.action_space, spaces.Box)
    low, high = (-0.999, 0.999) if squashed else (float(model.action_space.low[0]), float(model.action_space.high[0]))
    actions = th.linspace(low, high, n_points).view(-1, 1)
    with th.no_grad():
        gaussian_actions = distribution.unsquash(actions)  # [N, 1]
        log_density = gaussian_log_density(gaussian_actions[:, None], distribution.mean[0], distribution.log_std[0])  # [N, K]
        log_density = log_density - distribution.log_det(gaussian_actions)[:, None] + distribution.log_weights[0]
    components = log_density.exp().numpy()
    figure, axis = new_figure()
    grid = actions[:, 0].numpy()
    for k in range(components.shape[1]):
        axis.plot(grid, components[:, k], linewidth=1, label=f"w_{k} pi_{k}")
    axis.plot(grid, components.sum(axis=1), color="black", linewidth=2, label="mixture")
    axis.set_xlabel("action")
    axis.set_ylabel("density")
    critic = getattr(model, "critic", None)
    if critic is not None:
        obs_tensor, _ = model.policy.obs_to_tensor(np.asarray(observation)[None])
        with th.no_grad():
            q_inputs = obs_tensor.expand(n_points, *obs_tensor.shape[1:]) if isinstance(obs_tensor, th.Tensor) else obs_tensor
            q_values = th.cat(critic(q_inputs, actions), dim=1).min(dim=1).values.numpy()
        q_axis = axis.twinx()
        q_axis.plot(grid, q_values, color="tab:red", linestyle="--", label="Q(s, a)")
        q_axis.set_ylabel("Q(s, a)", color="tab:red")
    axis.legend(loc="upper left", fontsize="small")
    figure.tight_layout()
    if path is not None:
        figure.savefig(path, dpi=120)
    return figure


def plot_mixture_statistics(result_files: Iterable[str | Path], path: str | Path | None = None) -> Figure:
    """Weight entropy and component separation over training, one line per benchmark run (its result file)."""
    figure, (entropy_axis, separation_axis) = new_figure(n_columns=2, width=10.0)
    for file in result_files:
        result = json.loads(Path(file).read_text())
        points = [(t, s) for t, s in zip(result["timesteps"], result["mixture_statistics"], strict=True) if s is not None]
        if not points:
            continue
        label = f"{result['algo']} seed {result['seed']}"
        steps = [t for t, _ in points]
        entropy_axis.plot(steps, [s["weight_entropy"] for _, s in points], label=label)
        separation_axis.plot(steps, [s["component_separation"] for _, s in points], label=label)
    entropy_axis.set(xlabel="environment steps", ylabel="weight entropy")
    separation_axis.set(xlabel="environment steps", ylabel="component separation")
    entropy_axis.legend(fontsize="small")
    figure.tight_layout()
    if path is not None:
        figure.savefig(path, dpi=120)
    return figure
