"""MlpTrunk: the hidden layers an actor-critic policy's heads share (PMOE's PPO network)."""

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from stable_baselines3 import PPO
from torch import nn

from sb3_mixture import PPOPMOE
from sb3_mixture.common.torch_layers import MlpTrunk

SHARED = dict(features_extractor_class=MlpTrunk, net_arch=dict(pi=[], vf=[]))


def test_trunk_is_the_mlp_it_says() -> None:
    trunk = MlpTrunk(gym.spaces.Box(-1, 1, (3,)), net_arch=[5, 4], activation_fn=nn.Tanh)
    assert trunk.features_dim == 4
    first, second = (layer for layer in trunk.trunk if isinstance(layer, nn.Linear))
    observations = th.randn(7, 3)
    expected = th.tanh(second(th.tanh(first(observations))))
    th.testing.assert_close(trunk(observations), expected)


@pytest.mark.parametrize("net_arch", [[], [64, 0]])
def test_bad_widths_are_refused(net_arch: list[int]) -> None:
    with pytest.raises(ValueError, match="net_arch must be a non-empty list of positive widths"):
        MlpTrunk(gym.spaces.Box(-1, 1, (3,)), net_arch=net_arch)


@pytest.mark.parametrize("algorithm", [PPO, PPOPMOE])
def test_every_head_is_one_layer_on_the_one_trunk(algorithm: type) -> None:
    """The value loss and the action density both train the same trunk parameters; the heads are single linear layers."""
    model = algorithm("MlpPolicy", "Pendulum-v1", policy_kwargs=SHARED, n_steps=64, batch_size=32, seed=0)
    policy = model.policy
    assert policy.features_extractor is policy.pi_features_extractor is policy.vf_features_extractor
    assert isinstance(policy.value_net, nn.Linear) and isinstance(policy.action_net, nn.Linear)
    trunk = list(policy.features_extractor.parameters())
    observations = th.as_tensor(np.random.default_rng(0).normal(size=(8, 3)), dtype=th.float32)
    actions = th.zeros(8, 1)
    value = policy.predict_values(observations).sum()
    log_density = policy.evaluate_actions(observations, actions)[1].sum()
    for loss in (value, log_density):
        gradients = th.autograd.grad(loss, trunk, retain_graph=True)
        assert all(gradient.abs().sum() > 0 for gradient in gradients)
