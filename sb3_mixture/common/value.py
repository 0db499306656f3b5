"""The state-value network of SAC v1 (Haarnoja et al. 2018), which SAC-GMM and SAC-AWMP train next to the critic."""

from typing import Any

import torch as th
from gymnasium import spaces
from stable_baselines3.common.policies import BaseModel
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor, create_mlp
from stable_baselines3.common.type_aliases import PyTorchObs
from stable_baselines3.common.utils import polyak_update
from torch import nn

from sb3_mixture.sac_mixture.policies import MixtureSACPolicy


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


class ValueMixtureSACPolicy(MixtureSACPolicy):
    """
    :class:`MixtureSACPolicy` plus a state-value network ``value`` (the critic's architecture, its own
    features extractor and optimizer) and its Polyak-averaged copy ``value_target`` (SAC v1).

    Parameters as :class:`MixtureSACPolicy`.
    """

    value: StateValue
    value_target: StateValue

    def _build(self, lr_schedule: Any) -> None:
        super()._build(lr_schedule)
        self.value = self.make_value()
        self.value_target = self.make_value()
        self.value_target.load_state_dict(self.value.state_dict())
        self.value_target.set_training_mode(False)
        self.value.optimizer = self.optimizer_class(  # type: ignore[call-arg]
            self.value.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs
        )

    def make_value(self) -> StateValue:
        """A new state-value network with its own features extractor."""
        value_kwargs = self._update_features_extractor(self.net_args)
        value_kwargs["net_arch"] = self.critic_kwargs["net_arch"]
        return StateValue(**value_kwargs).to(self.device)

    def update_value_target(self, tau: float) -> None:
        """``psi_bar <- tau psi + (1 - tau) psi_bar``."""
        polyak_update(self.value.parameters(), self.value_target.parameters(), tau)

    def set_training_mode(self, mode: bool) -> None:
        super().set_training_mode(mode)
        self.value.set_training_mode(mode)
