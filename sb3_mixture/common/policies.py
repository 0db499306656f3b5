"""Pieces shared by the mixture policies of every algorithm."""

from typing import Any

import numpy as np
from torch import nn

from sb3_mixture.common.critic import ELEMENTWISE_ACTIVATIONS
from sb3_mixture.common.utils import check_finite_observation

# Modules whose forward pass does not read ``self.training``: PyTorch's layers without dropout or normalisation, and
# SB3's and this package's networks, which are built from them.
_MODE_FREE_TYPES = (
    nn.Linear,
    nn.Conv1d,
    nn.Conv2d,
    nn.Conv3d,
    nn.Identity,
    nn.Flatten,
    nn.Unflatten,
    nn.Sequential,
    nn.ModuleList,
    nn.ModuleDict,
    *ELEMENTWISE_ACTIVATIONS,
)
_MODE_FREE_PACKAGES = ("stable_baselines3.", "sb3_mixture.")


def is_mode_free(module: nn.Module) -> bool:
    """True when no submodule of ``module`` behaves differently in training and evaluation mode (no dropout, no batch
    norm, no module of unknown kind)."""
    return all(
        type(sub) in _MODE_FREE_TYPES or type(sub).__module__.startswith(_MODE_FREE_PACKAGES) for sub in module.modules()
    )


class ModeFreeSwitchMixin:
    """Put before an SB3 policy class: ``set_training_mode`` only records the mode when no submodule reads it. SB3
    switches the mode before every action and every gradient step, a walk over every module each time (its cost:
    docs/guide/speed.rst)."""

    _mode_free: bool | None = None

    def set_training_mode(self, mode: bool) -> None:
        if self._mode_free is None:  # decided once the networks are built (the first switch comes after that)
            self._mode_free = is_mode_free(self)  # type: ignore[arg-type]
        if self._mode_free:
            self.training = mode
        else:
            super().set_training_mode(mode)  # type: ignore[misc]


class FiniteObservationMixin:
    """Put before an SB3 policy class: ``predict`` rejects NaN/inf observations with a clear error."""

    def predict(
        self,
        observation: np.ndarray | dict[str, np.ndarray],
        state: tuple[np.ndarray, ...] | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, tuple[np.ndarray, ...] | None]:
        check_finite_observation(observation)
        predict: Any = super().predict  # type: ignore[misc]
        return predict(observation, state, episode_start, deterministic)
