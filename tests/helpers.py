"""Shared test helpers: the algorithms every parametrised test runs over (one entry per RL Zoo key of the package,
from the registry) and the small settings the behaviour tests train with."""

from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3 import HerReplayBuffer
from stable_baselines3.common.base_class import BaseAlgorithm

from sb3_mixture.zoo import zoo_entries

# (id, class, constructor keywords) of every SAC-family key; the PPO keys have their own tests (test_ppo_*.py).
ALGORITHMS: list[tuple[str, type[BaseAlgorithm], dict[str, Any]]] = [
    (key, entry.algorithm, {} if entry.estimator is None else {"estimator": entry.estimator})
    for key, entry in zoo_entries().items()
    if not entry.on_policy
]

# Small and fast: every test is about behaviour, not learning.
FAST_KWARGS: dict[str, Any] = dict(learning_starts=50, batch_size=32, buffer_size=1_000, policy_kwargs=dict(net_arch=[32, 32]))


def algorithm_params() -> list[Any]:
    return [pytest.param(cls, kwargs, id=key) for key, cls, kwargs in ALGORITHMS]


# SB3's HER as RL Zoo's goal-task entries set it.
HER_KWARGS: dict[str, Any] = dict(
    replay_buffer_class=HerReplayBuffer, replay_buffer_kwargs=dict(n_sampled_goal=4, goal_selection_strategy="future")
)


def sample_dict_observations(space: gym.Space, n: int) -> dict[str, np.ndarray]:
    """``n`` samples of a Dict observation space, stacked per key (as ``predict`` takes a batch)."""
    assert isinstance(space, gym.spaces.Dict)
    return {key: np.stack([subspace.sample() for _ in range(n)]) for key, subspace in space.spaces.items()}
