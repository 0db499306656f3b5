"""
Unshaped classic control (MRP paper §5.3, App. E.5) and their shaped twins.

The paper's thresholds and cut-offs did not survive the text extraction; the ones here are chosen, documented
and fixed:

- ``SparsePendulum``: Gymnasium's Pendulum dynamics, reward 1 when the pole is within ``0.2`` rad (11.5 degrees)
  of upright, else 0; 200 steps. Its shaped twin is Gymnasium's ``Pendulum-v1``.
- ``ContinuousAcrobot``: Gymnasium's Acrobot with a continuous torque in ``[-1, 1]``; reward -1 per step until the
  tip rises one link length above the pivot (Gymnasium's goal, which terminates); 500 steps.
- ``ContinuousMountainCar``: Gymnasium's continuous Mountain Car dynamics; reward -1 per step until the car
  reaches ``x >= 0.45`` (terminates); 999 steps.
- The shaped twins (``...Shaped``) add potential-based shaping ``gamma Phi(s') - Phi(s)`` with ``gamma = 0.99``,
  which keeps the optimal policies (Ng et al. 1999): Acrobot ``Phi = tip height in link lengths`` (in ``[-2, 2]``),
  Mountain Car ``Phi = 300 (0.0025/3 sin(3x) + v^2 / 2)``, the car's mechanical energy scaled to about ``[-0.25, 1]``.

``info["is_success"]`` is True on the step that reaches the goal (for the pendulum: the step is upright).
"""

from collections.abc import Callable
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.envs.classic_control.acrobot import AcrobotEnv
from gymnasium.envs.classic_control.continuous_mountain_car import Continuous_MountainCarEnv
from gymnasium.envs.classic_control.pendulum import PendulumEnv, angle_normalize

SHAPING_GAMMA = 0.99
UPRIGHT_ANGLE = 0.2


class SparsePendulum(PendulumEnv):
    """Pendulum with reward 1 when ``|angle| < 0.2`` rad from upright, else 0 (see the module docstring)."""

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        observation, _, terminated, truncated, info = super().step(action)
        upright = bool(abs(angle_normalize(self.state[0])) < UPRIGHT_ANGLE)
        return observation, float(upright), terminated, truncated, {**info, "is_success": upright}


class ContinuousAcrobot(AcrobotEnv):
    """Acrobot with a continuous torque in ``[-1, 1]``; reward -1 per step until the goal (see the module docstring)."""

    def __init__(self, render_mode: str | None = None):
        super().__init__(render_mode=render_mode)
        self.action_space = spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:  # type: ignore[override]
        # AcrobotEnv.step looks the torque up in AVAIL_TORQUE by index: offer the one continuous torque at index 0.
        self.AVAIL_TORQUE = [float(np.clip(np.asarray(action).reshape(-1)[0], -1.0, 1.0))]
        observation, _, terminated, truncated, info = super().step(0)
        return observation, -1.0, terminated, truncated, {**info, "is_success": terminated}

    def tip_height(self) -> float:
        """Height of the tip above the pivot, in link lengths."""
        assert self.state is not None
        return float(-np.cos(self.state[0]) - np.cos(self.state[0] + self.state[1]))


class ContinuousMountainCar(Continuous_MountainCarEnv):
    """Continuous Mountain Car with reward -1 per step until ``x >= 0.45`` (see the module docstring)."""

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        observation, _, terminated, truncated, info = super().step(action)
        return observation, -1.0, terminated, truncated, {**info, "is_success": terminated}

    def energy(self) -> float:
        """``300 (0.0025/3 sin(3x) + v^2 / 2)``: the mechanical energy, about ``[-0.25, 1]``."""
        position, velocity = self.state
        return float(300.0 * (0.0025 / 3.0 * np.sin(3.0 * position) + 0.5 * velocity**2))


class PotentialShaping(gym.Wrapper[np.ndarray, np.ndarray, np.ndarray, np.ndarray]):
    """Adds ``gamma Phi(s') - Phi(s)`` to the reward (``Phi(s') = 0`` after termination, so shaping sums telescope)."""

    def __init__(self, env: gym.Env, potential: Callable[[], float], gamma: float = SHAPING_GAMMA):
        super().__init__(env)
        self.potential = potential
        self.gamma = gamma
        self._last_potential = 0.0

    def reset(self, **kwargs: Any) -> tuple[np.ndarray, dict[str, Any]]:
        observation, info = self.env.reset(**kwargs)
        self._last_potential = self.potential()
        return observation, info

    def step(self, action: np.ndarray) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        observation, reward, terminated, truncated, info = self.env.step(action)
        potential = 0.0 if terminated else self.potential()
        shaped = float(reward) + self.gamma * potential - self._last_potential
        self._last_potential = potential
        return observation, shaped, terminated, truncated, info


def shaped_acrobot(render_mode: str | None = None) -> gym.Env:
    env = ContinuousAcrobot(render_mode=render_mode)
    return PotentialShaping(env, env.tip_height)


def shaped_mountain_car(render_mode: str | None = None) -> gym.Env:
    env = ContinuousMountainCar(render_mode=render_mode)
    return PotentialShaping(env, env.energy)
