"""Helpers shared by the mixture algorithms: input checks and batched critic evaluation."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.policies import ContinuousCritic
from stable_baselines3.common.type_aliases import PyTorchObs
from torch import nn


def check_box_action_space(action_space: spaces.Space, algorithm: str) -> None:
    """Raise a ``ValueError`` naming the allowed action space when ``action_space`` is not a ``Box``."""
    if not isinstance(action_space, spaces.Box):
        raise ValueError(
            f"{algorithm} needs a continuous action space: action_space must be a gymnasium.spaces.Box, "
            f"got {action_space!r}. A Gaussian mixture policy has no discrete or multi-discrete form."
        )


def check_no_sde(use_sde: bool) -> None:
    """gSDE explores with one Gaussian's noise matrix; it has no meaning for a mixture, so reject it."""
    if use_sde:
        raise ValueError(
            "use_sde=True (gSDE) is not supported by mixture policies: allowed value is use_sde=False. "
            "Exploration comes from the mixture itself."
        )


def check_n_components(n_components: Any) -> int:
    """Validate ``n_components`` and return it as an ``int``."""
    if isinstance(n_components, bool) or not isinstance(n_components, (int, np.integer)) or n_components < 1:
        raise ValueError(f"n_components must be an integer >= 1 (1 is a single squashed Gaussian), got {n_components!r}")
    return int(n_components)


def check_finite_observation(observation: np.ndarray | dict[str, np.ndarray], where: str = "observation") -> None:
    """Raise a ``ValueError`` when an observation holds NaN or infinity (it would turn every network output into NaN)."""
    arrays = observation.values() if isinstance(observation, dict) else [observation]
    for values in arrays:
        array = np.asarray(values)
        if np.issubdtype(array.dtype, np.floating) and not np.isfinite(array).all():
            raise ValueError(
                f"{where} contains NaN or infinite values; observations must be finite. "
                "Check the environment, or wrap it in stable_baselines3.common.vec_env.VecCheckNan to find the source."
            )


@contextmanager
def frozen(*modules: nn.Module) -> Iterator[None]:
    """Switch off gradients of the modules' parameters inside the block, so a loss can flow through them without
    accumulating (or even computing) gradients for their weights."""
    parameters = [param for module in modules for param in module.parameters() if param.requires_grad]
    for param in parameters:
        param.requires_grad_(False)
    try:
        yield
    finally:
        for param in parameters:
            param.requires_grad_(True)


def critic_values(critic: ContinuousCritic, obs: PyTorchObs, actions: th.Tensor) -> th.Tensor:
    """
    Minimum over the twin critics of ``Q(s, a_m)`` for M actions per state, in one batched pass.

    The observation features are computed once per state (without gradient: the actor never trains
    the critic's features) and shared by the M actions.

    :param critic: SB3 continuous critic
    :param obs: Observations, batch size B
    :param actions: Squashed actions in ``[-1, 1]``, shape ``[B, M, D]``
    :return: shape ``[B, M]``
    """
    batch_size, n_actions, _action_dim = actions.shape
    with th.no_grad():
        features = critic.extract_features(obs, critic.features_extractor)
    features = features.unsqueeze(1).expand(-1, n_actions, -1)
    q_input = th.cat([features, actions], dim=-1).reshape(batch_size * n_actions, -1)
    q_values = th.cat([q_net(q_input) for q_net in critic.q_networks], dim=1)
    return q_values.min(dim=1).values.view(batch_size, n_actions)
