"""The state-value network of SAC v1 (Haarnoja et al. 2018), which SAC-GMM and SAC-AWMP train next to the critic: the
network, the policy that holds it, and the family base whose critic learns toward it."""

from typing import Any

import torch as th
from gymnasium import spaces
from stable_baselines3.common.policies import BaseModel
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor, create_mlp
from stable_baselines3.common.type_aliases import PyTorchObs, ReplayBufferSamples
from torch import nn
from torch.nn import functional as F

from sb3_mixture.common.compile import polyak_update
from sb3_mixture.common.sac_family import Minibatch, SACFamily, TrainLogs
from sb3_mixture.common.sac_policies import MixtureSACPolicy


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
    :class:`~sb3_mixture.common.sac_policies.MixtureSACPolicy` plus a state-value network ``value`` (the critic's
    architecture, its own features extractor and optimizer) and its Polyak-averaged copy ``value_target`` (SAC v1).

    Parameters as :class:`~sb3_mixture.common.sac_policies.MixtureSACPolicy`.
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
        polyak_update(list(self.value.parameters()), list(self.value_target.parameters()), tau)

    def set_training_mode(self, mode: bool) -> None:
        super().set_training_mode(mode)
        if not self._mode_free:
            self.value.set_training_mode(mode)


class ValueSACFamily(SACFamily):
    """
    The SAC family with a state-value network (SAC v1, Haarnoja et al. 2018, https://arxiv.org/abs/1801.01290): the
    steps SAC-GMM and SAC-AWMP share.

    Hooks overridden (:class:`~sb3_mixture.common.sac_family.SACFamilyMixin`): :meth:`_value_step` trains ``V`` toward
    :meth:`_value_targets`, which subclasses define; :meth:`_target_q_values` is ``r + gamma (1 - d) V_target(s')``
    (SB3's ``critic_target`` is not used by it); :meth:`_update_targets` is the Polyak update of ``V_target``, at
    every step (:meth:`_updates_target`).
    """

    policy: ValueMixtureSACPolicy

    def _optimizers(self) -> list[th.optim.Optimizer]:
        return [*super()._optimizers(), self.policy.value.optimizer]

    def _value_targets(self, minibatch: Minibatch) -> th.Tensor:
        """The value network's regression targets, ``[B, 1]``, without gradient."""
        raise NotImplementedError(f"{type(self).__name__} defines _value_targets")

    def _value_step(self, minibatch: Minibatch, logs: TrainLogs) -> None:
        """SAC v1's value step, before the critic's: half the squared error of ``V(s)`` to :meth:`_value_targets`."""
        value_loss = 0.5 * F.mse_loss(self.policy.value(minibatch.replay_data.observations), self._value_targets(minibatch))
        self._optimizer_step(self.policy.value.optimizer, value_loss, "value_loss", logs)

    def _target_q_values(
        self, replay_data: ReplayBufferSamples, discounts: th.Tensor | float, ent_coef: th.Tensor
    ) -> th.Tensor:
        """``r + gamma (1 - d) V_target(s')``."""
        with th.no_grad():
            next_values = self.policy.value_target(replay_data.next_observations)
            return replay_data.rewards + (1 - replay_data.dones) * discounts * next_values

    def _updates_target(self, gradient_step: int) -> bool:
        """Every gradient step (SAC v1's; ``target_update_interval`` is SAC v2's critic target's)."""
        return True

    def _update_targets(self) -> None:
        """The Polyak update of ``V_target``."""
        self.policy.update_value_target(self.tau)
