"""The state-value network of SAC v1 (Haarnoja et al. 2018), which SAC-GMM and SAC-AWMP train next to the critic."""

from typing import Any

import torch as th
from gymnasium import spaces
from stable_baselines3.common.policies import BaseModel
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor, create_mlp
from stable_baselines3.common.type_aliases import PyTorchObs, ReplayBufferSamples
from stable_baselines3.common.utils import polyak_update
from torch import nn
from torch.nn import functional as F

from sb3_mixture.sac_mixture.policies import MixtureSACPolicy
from sb3_mixture.sac_mixture.sac_mixture import SACMixture


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


class ValueSACMixture(SACMixture):
    """
    SACMixture whose critic learns toward a state-value network (SAC v1): the value and critic steps that
    SAC-GMM and SAC-AWMP share. Each builds its loss when called, so a caller that steps the value network
    first and the critic next builds every loss after the step it depends on.
    """

    policy: ValueMixtureSACPolicy

    def _optimizers(self) -> list[th.optim.Optimizer]:
        return [*super()._optimizers(), self.policy.value.optimizer]

    def _train_value(self, observations: PyTorchObs, value_targets: th.Tensor, logs: dict[str, list[float]]) -> None:
        """One step of ``0.5 (V(s) - target)^2`` with the (detached) targets ``[B, 1]``."""
        value_loss = 0.5 * F.mse_loss(self.policy.value(observations), value_targets)
        self.policy.value.optimizer.zero_grad()
        value_loss.backward()
        self.policy.value.optimizer.step()
        logs["value_loss"].append(value_loss.item())

    def _train_critic_on_value_target(
        self, replay_data: ReplayBufferSamples, discounts: th.Tensor | float, logs: dict[str, list[float]]
    ) -> None:
        """One critic step toward ``r + gamma (1 - d) V_target(s')``."""
        with th.no_grad():
            next_values = self.policy.value_target(replay_data.next_observations)
            target_q_values = replay_data.rewards + (1 - replay_data.dones) * discounts * next_values
        critic_loss = self._critic_loss(replay_data, target_q_values)
        self.critic.optimizer.zero_grad()
        critic_loss.backward()
        self.critic.optimizer.step()
        logs["critic_loss"].append(critic_loss.item())
