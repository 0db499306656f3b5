"""The multimodal bandits of the MRP paper (He et al. 2026, §5.1 and App. D/E.1)."""

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

# Mean-shift iterations to locate the modes (converges in a few dozen for these widths).
_MODE_SEARCH_STEPS = 500
DEFAULT_STD_RANGE = (0.05, 0.3)


class MultimodalBandit(gym.Env[np.ndarray, np.ndarray]):
    """
    One-step continuous bandit whose reward is a normalised sum of Gaussian densities.

    Observation: the constant ``[0.0]``. Action: ``[-1, 1]^D``. Reward: ``f(a) / max f`` with
    ``f(a) = sum_i N(a; mu_i, sigma_i^2 I)``, so the best action earns exactly 1. Every episode is one step
    (``terminated=True``). The means are drawn ``U(-1, 1)^D`` and the standard deviations ``U(0.05, 0.3)``
    from ``bandit_seed`` (the reward function is fixed by it; ``reset(seed=...)`` does not change it), unless
    ``means`` and ``stds`` are given. Narrow components have higher peaks, so the modes differ in height.

    ``optimal_action`` is the global maximiser and ``mode_actions``/``mode_rewards`` all local maxima, found by
    mean-shift from every component's mean. ``info["is_success"]`` is True when the reward is above the midpoint
    between the highest lower peak and 1 (0.5 with no lower peak): the agent found the highest peak.

    :param action_dim: D
    :param n_modes: Number of Gaussians N
    :param bandit_seed: Seed of the random reward function
    :param means: Explicit means ``[N, D]`` (then ``stds`` too)
    :param stds: Explicit standard deviations ``[N]``
    """

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(
        self,
        action_dim: int = 1,
        n_modes: int = 5,
        bandit_seed: int = 0,
        means: list[list[float]] | None = None,
        stds: list[float] | None = None,
    ):
        if (means is None) != (stds is None):
            raise ValueError("means and stds must be given together")
        if means is not None and stds is not None:
            self.means = np.asarray(means, dtype=np.float64).reshape(len(stds), -1)
            self.stds = np.asarray(stds, dtype=np.float64)
        else:
            if n_modes < 1:
                raise ValueError(f"n_modes must be an integer >= 1, got {n_modes!r}")
            generator = np.random.default_rng(bandit_seed)
            self.means = generator.uniform(-1.0, 1.0, size=(n_modes, action_dim))
            self.stds = generator.uniform(*DEFAULT_STD_RANGE, size=n_modes)
        self.action_dim = self.means.shape[1]
        self.observation_space = spaces.Box(0.0, 1.0, shape=(1,), dtype=np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, shape=(self.action_dim,), dtype=np.float32)
        self._scale = 1.0
        self.mode_actions, mode_values = self._find_modes()
        self._scale = float(mode_values.max())
        order = np.argsort(-mode_values)
        self.mode_actions, self.mode_rewards = self.mode_actions[order], mode_values[order] / self._scale
        self.optimal_action = self.mode_actions[0]
        # Peaks tied with the best (the bimodal preset's two) all count as the highest.
        lower_peaks = self.mode_rewards[self.mode_rewards < 1.0 - 1e-6]
        self.success_threshold = 0.5 * (1.0 + (lower_peaks.max() if len(lower_peaks) else 0.0))

    def reward(self, actions: np.ndarray) -> np.ndarray:
        """``f(a) / max f`` for actions ``[..., D]``."""
        squared = ((actions[..., None, :] - self.means) ** 2).sum(axis=-1)  # [..., N]
        densities = np.exp(-0.5 * squared / self.stds**2) / (np.sqrt(2 * np.pi) * self.stds) ** self.action_dim
        return densities.sum(axis=-1) / self._scale

    def _find_modes(self) -> tuple[np.ndarray, np.ndarray]:
        """Mean-shift from each mean (the fixed point of grad f = 0), clipped to the action box, deduplicated."""
        points = self.means.copy()
        precisions = 1.0 / self.stds**2
        for _ in range(_MODE_SEARCH_STEPS):
            squared = ((points[:, None, :] - self.means) ** 2).sum(axis=-1)
            responsibilities = np.exp(-0.5 * squared * precisions) * precisions ** (self.action_dim / 2 + 1)
            points = (responsibilities @ self.means) / responsibilities.sum(axis=1, keepdims=True)
            points = np.clip(points, -1.0, 1.0)
        modes: list[np.ndarray] = []
        for point in points:
            if all(np.linalg.norm(point - mode) > 1e-4 for mode in modes):
                modes.append(point)
        mode_array = np.array(modes)
        return mode_array, self.reward(mode_array)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        return np.zeros(1, dtype=np.float32), {}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        action = np.clip(np.asarray(action, dtype=np.float64).reshape(self.action_dim), -1.0, 1.0)
        reward = float(self.reward(action))
        return np.zeros(1, dtype=np.float32), reward, True, False, {"is_success": reward > self.success_threshold}


# MRP Fig. 1: two Gaussians of equal width at -0.5 and 0.5, two equal peaks.
BIMODAL_PRESET: dict[str, Any] = dict(means=[[-0.5], [0.5]], stds=[0.2, 0.2])
