"""
The MRP paper's classic control with unshaped rewards and their shaped twins (He et al. 2026, Sec. 5.3 and App. E.5).

App. E.5 adapts Gymnasium's Acrobot and Mountain Car to continuous actions "as in Neumann et al. (2022)"; that group's
public code (samuelfneumann/GreedyAC: ``config/environment/*.json``, ``env/``) fixes what the extracted paper text
lost: a 1,000-step episode cut-off for every task, discount 0.99 (an algorithm setting here: the RL Zoo files), 100,000
steps per run. The tasks (``sb3_mixture/<name>-v1``):

- ``SparsePendulum``: Gymnasium's Pendulum dynamics and observation; reward 1 when the pole is within ``0.2`` rad
  (11.5 degrees) of upright, else 0 (the paper's threshold was lost: **choice**); every episode starts hanging down at
  rest, as the pendulum of Degris et al. (2012) that the paper cites and GreedyAC's do. Its shaped twin
  ``ShapedPendulum`` is Gymnasium's Pendulum, reward and random start unchanged (the paper: "the version of Pendulum
  from OpenAI Gym"), cut off at 1,000 steps like every task here: E.5 gives one cut-off per task, shared by its two
  variants, so not ``Pendulum-v1``'s 200. ``Pendulum-v1`` itself stays Gymnasium's, for the RL Zoo settings.
- ``ContinuousAcrobot``: Gymnasium's Acrobot (its observation, start states and goal: the tip one link length above
  the pivot, which terminates) with a continuous torque in ``[-1, 1]``; reward -1 per step and 0 on the step that
  reaches the goal (Gymnasium's and GreedyAC's).
- ``MountainCar``: Gymnasium's continuous Mountain Car dynamics, start states and goal (``x >= 0.45``, terminates);
  every reward -1, the goal step included (GreedyAC's ``overwrite_rewards``).
- The shaped twins *replace* the reward by a function of the state, as E.5 does (of the first two state dimensions,
  the Acrobot's joint angles; of the car's position); E.5's formulas were lost, so these are a **choice**, both in
  ``[-1, 0]`` so that reaching the goal (which ends the episode) stays the best thing to do:
  ``ShapedAcrobot``: ``(h - 2) / 4`` with ``h = -cos(theta1) - cos(theta1 + theta2)`` the tip's height in link
  lengths; ``ShapedMountainCar``: ``(sin(3x) - 1) / 2``, the car's height on the hills (either hill scores, so the
  swing to the left that builds momentum is not punished).

``info["is_success"]`` is True on the step that reaches the goal (for the pendulum: a step that is upright).
"""

from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.envs.classic_control.acrobot import AcrobotEnv
from gymnasium.envs.classic_control.continuous_mountain_car import Continuous_MountainCarEnv
from gymnasium.envs.classic_control.pendulum import PendulumEnv, angle_normalize

EPISODE_CUTOFF = 1000  # GreedyAC's steps_per_episode, every task
UPRIGHT_ANGLE = 0.2


def is_upright(state: np.ndarray) -> bool:
    """Whether a pendulum state ``[angle, velocity]`` is within ``UPRIGHT_ANGLE`` of upright."""
    return bool(abs(angle_normalize(state[0])) < UPRIGHT_ANGLE)


class SparsePendulum(PendulumEnv):
    """Pendulum with reward 1 when ``|angle| < 0.2`` rad from upright, else 0, starting hanging down at rest (see the
    module docstring)."""

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed, options=options)
        self.state = np.array([np.pi, 0.0])
        self.last_u = None
        return self._get_obs(), {}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        observation, _, terminated, truncated, info = super().step(action)
        upright = is_upright(self.state)
        return observation, float(upright), terminated, truncated, {**info, "is_success": upright}


class ShapedPendulum(PendulumEnv):
    """Gymnasium's Pendulum (reward and start states unchanged), with the upright test of :class:`SparsePendulum` as
    ``info["is_success"]`` so that both variants count the runs that never got the pole up."""

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        observation, reward, terminated, truncated, info = super().step(action)
        return observation, float(reward), terminated, truncated, {**info, "is_success": is_upright(self.state)}


class ContinuousAcrobot(AcrobotEnv):
    """Acrobot with a continuous torque in ``[-1, 1]``; reward -1 per step, 0 at the goal (see the module docstring)."""

    def __init__(self, render_mode: str | None = None):
        super().__init__(render_mode=render_mode)
        self.action_space = spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:  # type: ignore[override]
        # AcrobotEnv.step looks the torque up in AVAIL_TORQUE by index: offer the one continuous torque at index 0.
        self.AVAIL_TORQUE = [float(np.clip(np.asarray(action).reshape(-1)[0], -1.0, 1.0))]
        observation, reward, terminated, truncated, info = super().step(0)
        return observation, float(reward), terminated, truncated, {**info, "is_success": terminated}

    def tip_height(self) -> float:
        """Height of the tip above the pivot, in link lengths, from the first two state dimensions (the joint angles)."""
        assert self.state is not None
        return float(-np.cos(self.state[0]) - np.cos(self.state[0] + self.state[1]))


class ShapedAcrobot(ContinuousAcrobot):
    """:class:`ContinuousAcrobot` with the reward replaced by ``(tip height - 2) / 4``, in ``[-1, 0]``."""

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        observation, _, terminated, truncated, info = super().step(action)
        return observation, (self.tip_height() - 2.0) / 4.0, terminated, truncated, info


class ContinuousMountainCar(Continuous_MountainCarEnv):
    """Continuous Mountain Car with every reward -1, the goal step's too (see the module docstring)."""

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        observation, _, terminated, truncated, info = super().step(action)
        return observation, -1.0, terminated, truncated, {**info, "is_success": terminated}

    def height(self) -> float:
        """``sin(3x)``: the car's height on the hills, from its position."""
        return float(np.sin(3.0 * self.state[0]))


class ShapedMountainCar(ContinuousMountainCar):
    """:class:`ContinuousMountainCar` with the reward replaced by ``(sin(3x) - 1) / 2``, in ``[-1, 0]``."""

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        observation, _, terminated, truncated, info = super().step(action)
        return observation, (self.height() - 1.0) / 2.0, terminated, truncated, info
