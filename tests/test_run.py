"""Every algorithm learns (briefly) in the settings users run it in: plain, vectorised, Dict and image observations."""

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import gymnasium_robotics
import numpy as np
import pytest
import torch as th
from stable_baselines3 import HerReplayBuffer
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import EvalCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.envs import BitFlippingEnv, FakeImageEnv

from tests.envs import DictObsPendulum
from tests.helpers import FAST_KWARGS, HER_KWARGS, algorithm_params, sample_dict_observations


def make(cls: type[BaseAlgorithm], kwargs: dict[str, Any], env: Any, policy: str = "MlpPolicy", **overrides: Any) -> Any:
    return cls(policy, env, **{**FAST_KWARGS, **kwargs, **overrides})


@pytest.mark.parametrize("cls,kwargs", algorithm_params())
def test_learn_pendulum(cls: type[BaseAlgorithm], kwargs: dict[str, Any], tmp_path: Any) -> None:
    model = make(cls, kwargs, "Pendulum-v1", seed=0, verbose=1, tensorboard_log=str(tmp_path))
    eval_callback = EvalCallback(gym.make("Pendulum-v1"), eval_freq=100, n_eval_episodes=1)
    model.learn(200, callback=eval_callback, progress_bar=True)
    assert model.num_timesteps == 200
    values = model.logger.name_to_value
    assert np.isfinite(values["train/actor_loss"]) and np.isfinite(values["train/critic_loss"])
    # TensorBoard received the run.
    assert any(tmp_path.rglob("events.out.tfevents.*"))


@pytest.mark.parametrize("cls,kwargs", algorithm_params())
def test_mixture_statistics_are_logged(cls: type[BaseAlgorithm], kwargs: dict[str, Any]) -> None:
    model = make(cls, kwargs, "Pendulum-v1", seed=0)
    model.learn(100)
    values = model.logger.name_to_value
    n_components = model.policy.n_components
    assert 0.0 <= values["train/weight_entropy"] <= np.log(n_components) + 1e-6
    # Pendulum has one action dimension in [-1, 1]: distances between squashed means lie in [0, 2].
    assert 0.0 <= values["train/active_component_separation"] <= 2.0
    assert 0.0 < values["train/component_separation"] <= 2.0


@pytest.mark.parametrize("cls,kwargs", algorithm_params())
def test_learn_vectorized(cls: type[BaseAlgorithm], kwargs: dict[str, Any]) -> None:
    model = make(cls, kwargs, make_vec_env("Pendulum-v1", n_envs=2, seed=0), gradient_steps=1)
    model.learn(200)
    assert model.num_timesteps == 200
    actions, _ = model.predict(model.env.reset(), deterministic=True)
    assert actions.shape == (2, 1)


def assert_learned(model: Any, train: Callable[[], Any], observations: Any) -> None:
    """``train()`` moved the actor, logged finite losses, and the actions it then samples are finite and in bounds."""
    initial = [parameter.detach().clone() for parameter in model.actor.parameters()]
    train()
    values = model.logger.name_to_value
    assert np.isfinite(values["train/actor_loss"]) and np.isfinite(values["train/critic_loss"])
    assert any(not th.equal(before, after) for before, after in zip(initial, model.actor.parameters(), strict=True))
    actions, _ = model.predict(observations, deterministic=False)
    space = model.action_space
    assert np.isfinite(actions).all() and (actions >= space.low).all() and (actions <= space.high).all()


@pytest.mark.parametrize("cls,kwargs", algorithm_params())
def test_learn_dict_observations(cls: type[BaseAlgorithm], kwargs: dict[str, Any]) -> None:
    env = DictObsPendulum()
    model = make(cls, kwargs, env, policy="MultiInputPolicy")
    assert_learned(model, lambda: model.learn(150), sample_dict_observations(env.observation_space, 16))


@pytest.mark.parametrize("cls,kwargs", algorithm_params())
def test_learn_images(cls: type[BaseAlgorithm], kwargs: dict[str, Any]) -> None:
    env = FakeImageEnv(action_dim=2, screen_height=36, screen_width=36, n_channels=1, discrete=False)
    model = make(cls, kwargs, env, policy="CnnPolicy", learning_starts=20, buffer_size=200, batch_size=8)
    observations = np.stack([env.observation_space.sample() for _ in range(4)])
    assert_learned(model, lambda: model.learn(60), observations)


@pytest.mark.parametrize("cls,kwargs", algorithm_params())
def test_actions_stay_in_bounds(cls: type[BaseAlgorithm], kwargs: dict[str, Any]) -> None:
    env = gym.make("MountainCarContinuous-v0")
    assert isinstance(env.action_space, gym.spaces.Box)
    model = make(cls, kwargs, env, policy_kwargs=dict(net_arch=[32], n_components=3))
    observations = np.stack([env.observation_space.sample() for _ in range(256)])
    for deterministic in (False, True):
        actions, _ = model.predict(observations, deterministic=deterministic)
        assert actions.shape == (256, 1)
        assert (actions >= env.action_space.low).all() and (actions <= env.action_space.high).all()


def goal_env(name: str) -> gym.Env:
    if name == "BitFlipping":
        return BitFlippingEnv(n_bits=4, continuous=True, max_steps=4)
    gym.register_envs(gymnasium_robotics)
    return gym.make("PointMaze_UMaze-v3", max_episode_steps=40)  # sparse reward; short episodes, so HER can sample soon


@pytest.mark.parametrize("env_name", ["BitFlipping", "PointMaze"])
@pytest.mark.parametrize("cls,kwargs", algorithm_params())
def test_learn_goal_conditioned_with_her(cls: type[BaseAlgorithm], kwargs: dict[str, Any], env_name: str) -> None:
    """SB3's HER over every off-policy key, on a continuous bit-flipping task and a sparse-reward maze."""
    env = goal_env(env_name)
    model = make(cls, kwargs, env, policy="MultiInputPolicy", learning_starts=60, **HER_KWARGS)
    assert_learned(model, lambda: model.learn(200), sample_dict_observations(env.observation_space, 16))
    assert isinstance(model.replay_buffer, HerReplayBuffer)
