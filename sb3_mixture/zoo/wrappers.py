"""Environment wrappers that the package's RL Zoo files name (``env_wrapper``)."""

import gymnasium as gym
from gymnasium import spaces


def flatten_dict_observations(env: gym.Env) -> gym.Env:
    """Dict observations (DeepMind Control's, a goal task's) as one vector, so that the ``default`` entries' MlpPolicy
    takes any environment; any other observation space is left as it is. A goal task trains without HER this way: its
    own entry (MultiInputPolicy and HerReplayBuffer) is the one to use."""
    return gym.wrappers.FlattenObservation(env) if isinstance(env.observation_space, spaces.Dict) else env
