"""Helpers shared by the mixture algorithms: input checks and gradient freezing."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
from gymnasium import spaces
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


def merge_policy_kwargs(
    policy_kwargs: dict[str, Any] | None, defaults: dict[str, Any], fixed: dict[str, Any], algorithm: str
) -> dict[str, Any]:
    """The user's ``policy_kwargs`` over the algorithm's defaults, with its fixed entries; a user value that contradicts
    a fixed entry raises a ``ValueError`` naming the keyword and the value the algorithm needs."""
    policy_kwargs = dict(policy_kwargs or {})
    for key, value in fixed.items():
        if key in policy_kwargs and policy_kwargs[key] != value:
            raise ValueError(f"{algorithm} needs policy_kwargs {key}={value!r}, got {key}={policy_kwargs[key]!r}")
    return {**defaults, **policy_kwargs, **fixed}


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
