"""The state-value network of SAC v1 (Haarnoja et al. 2018), which SAC-GMM and SAC-AWMP train next to the critic."""

import torch as th
from gymnasium import spaces
from stable_baselines3.common.policies import BaseModel
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor, create_mlp
from stable_baselines3.common.type_aliases import PyTorchObs
from torch import nn


class StateValue(BaseModel):
    """
    ``V(s)``: a features extractor followed by an MLP with one output.

    :param observation_space: Observation space
    :param action_space: Action space (unused, kept for SB3's model interface)
    :param net_arch: Hidden layer sizes
    :param features_extractor: Features extractor of this network (not shared: its gradient is V's)
    :param features_dim: Number of features
    :param activation_fn: Activation function
    :param normalize_images: Whether to divide images by 255
    """

    features_extractor: BaseFeaturesExtractor

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        net_arch: list[int],
        features_extractor: BaseFeaturesExtractor,
        features_dim: int,
        activation_fn: type[nn.Module] = nn.ReLU,
        normalize_images: bool = True,
    ):
        super().__init__(
            observation_space, action_space, features_extractor=features_extractor, normalize_images=normalize_images
        )
        self.v_net = nn.Sequential(*create_mlp(features_dim, 1, net_arch, activation_fn))

    def forward(self, obs: PyTorchObs) -> th.Tensor:
        """:return: ``V(s)``, shape ``[B, 1]``"""
        return self.v_net(self.extract_features(obs, self.features_extractor))
