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


class StampedGoalEnv(gym.Env):
    """A goal-conditioned task whose observation is a stamp, (episode, step), unique to each stored transition until a
    replay buffer wraps: a minibatch row can be traced back to the buffer position it came from. The achieved goal is the
    action; reward 0 within 0.1 of the desired goal, else -1 (HER's convention), 5 steps an episode."""

    metadata: dict = {"render_modes": []}
    observation_space = spaces.Dict(
        {
            "observation": spaces.Box(0.0, np.inf, (2,), np.float32),
            "achieved_goal": spaces.Box(-1.0, 1.0, (1,), np.float32),
            "desired_goal": spaces.Box(-1.0, 1.0, (1,), np.float32),
        }
    )
    action_space = spaces.Box(-1.0, 1.0, (1,), np.float32)

    def __init__(self) -> None:
        self.episode, self.step_count = -1, 0
        self.achieved = np.zeros(1, np.float32)
        self.goal = np.zeros(1, np.float32)

    def _observation(self) -> dict[str, np.ndarray]:
        stamp = np.array([self.episode, self.step_count], np.float32)
        return {"observation": stamp, "achieved_goal": self.achieved.copy(), "desired_goal": self.goal.copy()}

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[dict[str, np.ndarray], dict]:
        super().reset(seed=seed)
        self.episode, self.step_count = self.episode + 1, 0
        self.achieved = np.zeros(1, np.float32)
        self.goal = self.np_random.uniform(-1.0, 1.0, 1).astype(np.float32)
        return self._observation(), {}

    def compute_reward(self, achieved_goal: np.ndarray, desired_goal: np.ndarray, info: object) -> np.ndarray:
        return -(np.abs(achieved_goal - desired_goal).sum(axis=-1) > 0.1).astype(np.float32)

    def step(self, action: np.ndarray) -> tuple[dict[str, np.ndarray], float, bool, bool, dict]:
        self.step_count += 1
        self.achieved = np.clip(np.asarray(action, np.float32), -1.0, 1.0)
        reward = float(self.compute_reward(self.achieved, self.goal, None))
        return self._observation(), reward, False, self.step_count >= 5, {"is_success": reward == 0.0}
