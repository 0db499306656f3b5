"""Small environments for the tests: a Dict-observation and an image version of continuous control."""

import gymnasium as gym
import numpy as np
from gymnasium import spaces


class DictObsPendulum(gym.ObservationWrapper):
    """Pendulum-v1 whose observation is a Dict: the state and a constant 'goal' vector."""

    def __init__(self) -> None:
        super().__init__(gym.make("Pendulum-v1"))
        self.observation_space = spaces.Dict(
            {
                "state": self.env.observation_space,
                "goal": spaces.Box(low=-1.0, high=1.0, shape=(2,), dtype=np.float32),
            }
        )

    def observation(self, observation: np.ndarray) -> dict[str, np.ndarray]:
        return {"state": observation, "goal": np.array([1.0, 0.0], dtype=np.float32)}


class NaNObservationEnv(gym.Wrapper):
    """Pendulum-v1 that returns a NaN observation from its ``nan_at``-th step on."""

    def __init__(self, nan_at: int = 5) -> None:
        super().__init__(gym.make("Pendulum-v1"))
        self.nan_at = nan_at
        self.n_steps = 0

    def step(self, action: np.ndarray):  # type: ignore[no-untyped-def]
        observation, reward, terminated, truncated, info = self.env.step(action)
        self.n_steps += 1
        if self.n_steps >= self.nan_at:
            observation = np.full_like(observation, np.nan)
        return observation, reward, terminated, truncated, info
