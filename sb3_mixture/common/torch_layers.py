"""Feature extractors."""

import gymnasium as gym
import torch as th
from stable_baselines3.common.preprocessing import get_flattened_obs_dim
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor, create_mlp
from torch import nn


class MlpTrunk(BaseFeaturesExtractor):
    """
    A multilayer perceptron as the features extractor, so that an actor-critic policy's heads share hidden layers: with
    ``net_arch=dict(pi=[], vf=[])`` and SB3's default ``share_features_extractor=True`` every head (action mean, mixture
    gate, value) is one linear layer on this trunk. SB3's ``net_arch`` builds separate actor and critic layers only;
    PMOE's PPO network (Ren et al. 2021, App. C, https://arxiv.org/abs/2104.09122) is a 64-64 ReLU trunk with one-layer
    policy, gate and critic heads.

    :param observation_space: The (flat) observation space
    :param net_arch: Widths of the hidden layers (default ``[64, 64]``); the last one is the features' dimension
    :param activation_fn: Activation after every hidden layer (default ReLU)
    """

    def __init__(
        self, observation_space: gym.Space, net_arch: list[int] | None = None, activation_fn: type[nn.Module] = nn.ReLU
    ):
        net_arch = [64, 64] if net_arch is None else list(net_arch)
        if not net_arch or any(width < 1 for width in net_arch):
            raise ValueError(f"MlpTrunk: net_arch must be a non-empty list of positive widths, got {net_arch!r}")
        super().__init__(observation_space, features_dim=net_arch[-1])
        input_dim = get_flattened_obs_dim(observation_space)
        self.trunk = nn.Sequential(nn.Flatten(), *create_mlp(input_dim, -1, net_arch, activation_fn))

    def forward(self, observations: th.Tensor) -> th.Tensor:
        return self.trunk(observations)
