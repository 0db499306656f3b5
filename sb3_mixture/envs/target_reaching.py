"""PMOE's target-reaching task (Ren et al. 2021, App. B)."""

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

ARENA = 5.0
START = (-4.5, -4.5)
MAX_SPEED = 2.0
MAX_ACCELERATION = 2.0


class TargetReaching(gym.Env[np.ndarray, np.ndarray]):
    """
    A point agent in ``[-5, 5]^2`` starts at ``(-4.5, -4.5)`` and must reach a target drawn ``U(0, 3)^2``
    around ``n_obstacles`` obstacles drawn ``N(0, 3^2 I)`` (the paper's layout; several routes lead there).

    Action: an acceleration in ``[-2, 2]^2``; the velocity is integrated with ``dt`` and clipped to ``[-2, 2]`` per
    axis, the position clipped to the arena. Reward: +100 on reaching the target (within ``target_radius``,
    terminates), -10 on hitting an obstacle (within ``obstacle_radius``, terminates), else ``||v||^2`` as the
    paper states. Observation: position, velocity, target, then the obstacles' positions (``6 + 2M`` values).
    The layout is redrawn at every reset from the env's generator, so it is deterministic under ``reset(seed=...)``.
    Time limit: 200 steps (set at registration). ``info["is_success"]`` is True on reaching the target.

    **Choices** (not in the paper's text): ``dt = 0.1``, ``target_radius = 0.5``, ``obstacle_radius = 0.5``,
    ``n_obstacles = 5``; obstacles closer than ``obstacle_radius + target_radius`` to the start or the target are
    redrawn so every layout is solvable.
    """

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(self, n_obstacles: int = 5, dt: float = 0.1, target_radius: float = 0.5, obstacle_radius: float = 0.5):
        if n_obstacles < 0:
            raise ValueError(f"n_obstacles must be an integer >= 0, got {n_obstacles!r}")
        self.n_obstacles = n_obstacles
        self.dt = dt
        self.target_radius = target_radius
        self.obstacle_radius = obstacle_radius
        bound = np.full(6 + 2 * n_obstacles, np.inf, dtype=np.float32)
        self.observation_space = spaces.Box(-bound, bound, dtype=np.float32)
        self.action_space = spaces.Box(-MAX_ACCELERATION, MAX_ACCELERATION, shape=(2,), dtype=np.float32)
        self.position = np.array(START)
        self.velocity = np.zeros(2)
        self.target = np.zeros(2)
        self.obstacles = np.zeros((n_obstacles, 2))

    def _observation(self) -> np.ndarray:
        parts = [self.position, self.velocity, self.target, self.obstacles.reshape(-1)]
        return np.concatenate(parts).astype(np.float32)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self.position = np.array(START, dtype=np.float64)
        self.velocity = np.zeros(2)
        self.target = self.np_random.uniform(0.0, 3.0, size=2)
        clearance = self.obstacle_radius + self.target_radius
        obstacles: list[np.ndarray] = []
        while len(obstacles) < self.n_obstacles:
            candidate = self.np_random.normal(0.0, 3.0, size=2)
            if min(np.linalg.norm(candidate - self.target), np.linalg.norm(candidate - self.position)) > clearance:
                obstacles.append(candidate)
        self.obstacles = np.array(obstacles).reshape(self.n_obstacles, 2)
        return self._observation(), {}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        acceleration = np.clip(np.asarray(action, dtype=np.float64).reshape(2), -MAX_ACCELERATION, MAX_ACCELERATION)
        self.velocity = np.clip(self.velocity + acceleration * self.dt, -MAX_SPEED, MAX_SPEED)
        self.position = np.clip(self.position + self.velocity * self.dt, -ARENA, ARENA)
        reached = bool(np.linalg.norm(self.position - self.target) < self.target_radius)
        collided = bool(
            self.n_obstacles and np.linalg.norm(self.obstacles - self.position, axis=1).min() < self.obstacle_radius
        )
        if reached:
            reward = 100.0
        elif collided:
            reward = -10.0
        else:
            reward = float(self.velocity @ self.velocity)
        return self._observation(), reward, reached or collided, False, {"is_success": reached}
