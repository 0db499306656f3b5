"""Save then load gives the same agent: parameters, deterministic predictions, number of components, estimator."""

from typing import Any

import numpy as np
import pytest
import torch as th
from stable_baselines3 import HerReplayBuffer
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.envs import BitFlippingEnv

from tests.helpers import FAST_KWARGS, HER_KWARGS, algorithm_params, sample_dict_observations


@pytest.mark.parametrize("cls,kwargs", algorithm_params())
def test_save_load_round_trip(cls: type[BaseAlgorithm], kwargs: dict[str, Any], tmp_path: Any) -> None:
    model: Any = cls(
        "MlpPolicy", "Pendulum-v1", **{**FAST_KWARGS, **kwargs, "policy_kwargs": dict(net_arch=[32], n_components=3)}
    )
    model.learn(120)
    observations = np.stack([model.observation_space.sample() for _ in range(32)])
    expected, _ = model.predict(observations, deterministic=True)
    model.save(tmp_path / "model.zip")
    model.save_replay_buffer(tmp_path / "buffer.pkl")

    loaded: Any = cls.load(tmp_path / "model.zip", env=model.env)
    actions, _ = loaded.predict(observations, deterministic=True)
    np.testing.assert_array_equal(actions, expected)
    assert loaded.policy.n_components == 3
    assert loaded.actor.n_components == 3
    if hasattr(model, "estimator"):  # SACMixture's keys: the estimator comes back
        assert loaded.estimator == model.estimator and type(loaded._estimator) is type(model._estimator)
    for key, value in model.policy.state_dict().items():
        th.testing.assert_close(loaded.policy.state_dict()[key], value)
    # Training goes on after loading, with the replay buffer restored.
    loaded.load_replay_buffer(tmp_path / "buffer.pkl")
    loaded.learn(20, reset_num_timesteps=False)


@pytest.mark.parametrize("cls,kwargs", algorithm_params())
def test_policy_save_load(cls: type[BaseAlgorithm], kwargs: dict[str, Any], tmp_path: Any) -> None:
    model: Any = cls(
        "MlpPolicy", "Pendulum-v1", **{**FAST_KWARGS, **kwargs, "policy_kwargs": dict(net_arch=[16], n_components=2)}
    )
    observations = np.stack([model.observation_space.sample() for _ in range(8)])
    expected, _ = model.policy.predict(observations, deterministic=True)
    model.policy.save(tmp_path / "policy.pkl")
    policy = type(model.policy).load(tmp_path / "policy.pkl")
    np.testing.assert_array_equal(policy.predict(observations, deterministic=True)[0], expected)
    assert policy.n_components == 2


@pytest.mark.parametrize("cls,kwargs", algorithm_params())
def test_save_load_with_her(cls: type[BaseAlgorithm], kwargs: dict[str, Any], tmp_path: Any) -> None:
    """A goal-conditioned agent and its HER buffer come back, and training goes on relabelling the restored episodes."""
    env = BitFlippingEnv(n_bits=4, continuous=True, max_steps=4)
    model: Any = cls("MultiInputPolicy", env, **{**FAST_KWARGS, **kwargs, **HER_KWARGS, "learning_starts": 20})
    model.learn(100)
    observations = sample_dict_observations(env.observation_space, 16)
    expected, _ = model.predict(observations, deterministic=True)
    model.save(tmp_path / "model.zip")
    model.save_replay_buffer(tmp_path / "buffer.pkl")

    loaded: Any = cls.load(tmp_path / "model.zip", env=BitFlippingEnv(n_bits=4, continuous=True, max_steps=4))
    np.testing.assert_array_equal(loaded.predict(observations, deterministic=True)[0], expected)
    loaded.load_replay_buffer(tmp_path / "buffer.pkl")
    assert type(loaded.replay_buffer) is type(model.replay_buffer) and isinstance(loaded.replay_buffer, HerReplayBuffer)
    assert loaded.replay_buffer.pos == model.replay_buffer.pos
    np.testing.assert_array_equal(loaded.replay_buffer.actions, model.replay_buffer.actions)
    for key, stored in model.replay_buffer.observations.items():
        np.testing.assert_array_equal(loaded.replay_buffer.observations[key], stored)
    loaded.learn(40, reset_num_timesteps=False)
    assert loaded.num_timesteps == 140
