"""Bad input fails early with a ValueError that names the parameter and the allowed values."""

from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3.common.base_class import BaseAlgorithm

from tests.envs import NaNObservationEnv
from tests.helpers import FAST_KWARGS, algorithm_params


@pytest.mark.parametrize("cls,kwargs", algorithm_params())
def test_discrete_action_space(cls: type[BaseAlgorithm], kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"action_space must be a gymnasium\.spaces\.Box.*Discrete"):
        cls("MlpPolicy", "CartPole-v1", **kwargs)


@pytest.mark.parametrize("n_components", [0, -3, 2.5, "5"])
@pytest.mark.parametrize("cls,kwargs", algorithm_params())
def test_bad_n_components(cls: type[BaseAlgorithm], kwargs: dict[str, Any], n_components: Any) -> None:
    with pytest.raises(ValueError, match=r"n_components must be an integer >= 1"):
        cls("MlpPolicy", "Pendulum-v1", **kwargs, policy_kwargs=dict(n_components=n_components))


@pytest.mark.parametrize("cls,kwargs", algorithm_params())
def test_use_sde(cls: type[BaseAlgorithm], kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"use_sde=True \(gSDE\) is not supported.*use_sde=False"):
        cls("MlpPolicy", "Pendulum-v1", **kwargs, use_sde=True)


def test_unknown_estimator() -> None:
    from sb3_mixture import SACMixture

    allowed = "'mrp', 'half_rp', 'gumbel_rp', 'lr', 'usgm_rp'"
    with pytest.raises(ValueError, match=rf"Unknown estimator='reinforce'; allowed values: {allowed}"):
        SACMixture("MlpPolicy", "Pendulum-v1", estimator="reinforce")
    with pytest.raises(ValueError, match=r"temperature must be > 0"):
        SACMixture("MlpPolicy", "Pendulum-v1", estimator="gumbel_rp", estimator_kwargs=dict(temperature=0.0))
    message = r"SACMixture\(estimator='usgm_rp'\) needs policy_kwargs uniform_weights=True, got uniform_weights=False"
    with pytest.raises(ValueError, match=message):
        SACMixture("MlpPolicy", "Pendulum-v1", estimator="usgm_rp", policy_kwargs=dict(uniform_weights=False))


@pytest.mark.parametrize("cls,kwargs", algorithm_params())
def test_nan_observation_during_training(cls: type[BaseAlgorithm], kwargs: dict[str, Any]) -> None:
    model = cls("MlpPolicy", NaNObservationEnv(nan_at=5), **{**FAST_KWARGS, **kwargs})
    with pytest.raises(ValueError, match=r"observation.*NaN or infinite"):
        model.learn(20)


@pytest.mark.parametrize("cls,kwargs", algorithm_params())
def test_nan_observation_in_predict(cls: type[BaseAlgorithm], kwargs: dict[str, Any]) -> None:
    model = cls("MlpPolicy", gym.make("Pendulum-v1"), **{**FAST_KWARGS, **kwargs})
    with pytest.raises(ValueError, match=r"observation contains NaN"):
        model.predict(np.array([np.nan, 0.0, 0.0], dtype=np.float32))


def test_pmoe_back_propagation_mode() -> None:
    from sb3_mixture import SACPMOE

    with pytest.raises(ValueError, match=r"back_propagation must be one of \('max', 'all'\), got 'some'"):
        SACPMOE("MlpPolicy", "Pendulum-v1", back_propagation="some")
