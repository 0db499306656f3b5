"""Shared test helpers: the algorithms every parametrised test runs over (one entry per RL Zoo key of the package,
from the registry) and the small settings the behaviour tests train with."""

from typing import Any

import pytest
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
