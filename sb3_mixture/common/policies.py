"""Pieces shared by the mixture policies of every algorithm."""

from typing import Any

import numpy as np

from sb3_mixture.common.utils import check_finite_observation


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
