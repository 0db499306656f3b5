from functools import partial
from typing import Any

import torch as th
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.preprocessing import get_action_dim
from stable_baselines3.common.torch_layers import CombinedExtractor, NatureCNN
from torch import nn

from sb3_mixture.common.distributions import GaussianMixture
from sb3_mixture.common.policies import FiniteObservationMixin
from sb3_mixture.common.utils import check_box_action_space, check_n_components, check_no_sde

DEFAULT_N_COMPONENTS = 5


class MixtureActorCriticPolicy(FiniteObservationMixin, ActorCriticPolicy):
    """
    PPO's actor-critic policy with an (unsquashed) Gaussian mixture over actions (docs/algorithms/ppo_mixture.rst).

    State-dependent weights and means; log-stds either a state-independent parameter per component
    (``log_std`` of shape ``[K, D]``, PPO's usual, so SB3's ``train/std`` logging keeps working) or
    state-dependent (``state_dependent_std=True``, a third head ``log_std_net``). ``log_prob`` is the exact
    mixture density; ``entropy()`` the unbiased estimate of :class:`GaussianMixture`.

    :param n_components: Number K of mixture components (default 5)
    :param state_dependent_std: Log-stds from the latent vector instead of free parameters
    :param detach_gate: Compute the logits from the detached latent vector, so that no loss through the weights trains
        the shared layers (PMOE-PPO's gate, trained by its routing loss only)

    Other parameters as :class:`stable_baselines3.common.policies.ActorCriticPolicy`; ``use_sde`` must be False.
    """

    action_dist: GaussianMixture  # type: ignore[assignment]
    log_std: nn.Parameter
    log_std_net: nn.Module

    def __init__(
        self,
        *args: Any,
        n_components: int = DEFAULT_N_COMPONENTS,
        state_dependent_std: bool = False,
        detach_gate: bool = False,
        **kwargs: Any,
    ):
        check_no_sde(kwargs.get("use_sde", False))
        # Set before ActorCriticPolicy.__init__, which builds the networks.
        self.n_components = check_n_components(n_components)
        self.state_dependent_std = state_dependent_std
        self.detach_gate = detach_gate
        super().__init__(*args, **kwargs)

    def _build(self, lr_schedule: Any) -> None:
        # SB3 builds a diagonal Gaussian's heads, the value head and the optimizer; swap in the mixture's heads.
        super()._build(lr_schedule)
        check_box_action_space(self.action_space, "MixtureActorCriticPolicy")
        self.action_dim = get_action_dim(self.action_space)
        self.action_dist = GaussianMixture(self.action_dim, self.n_components)
        latent_dim = self.mlp_extractor.latent_dim_pi
        self.logits_net, self.action_net, log_std = self.action_dist.proba_distribution_net(
            latent_dim, self.log_std_init, self.state_dependent_std
        )
        heads: list[nn.Module] = [self.logits_net, self.action_net]
        if isinstance(log_std, nn.Parameter):
            self.log_std = log_std
        else:
            del self.log_std  # no stale diagonal-Gaussian parameter: train/std is logged only where it means something
            self.log_std_net = log_std
            heads.append(log_std)
        if self.ortho_init:
            # Small initial outputs, as SB3 does for its action head.
            for head in heads:
                head.apply(partial(self.init_weights, gain=0.01))
        self.optimizer = self.optimizer_class(self.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs)  # type: ignore[call-arg]

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(n_components=self.n_components, state_dependent_std=self.state_dependent_std, detach_gate=self.detach_gate)
        return data

    def _get_action_dist_from_latent(self, latent_pi: th.Tensor) -> GaussianMixture:  # type: ignore[override]
        shape = (-1, self.n_components, self.action_dim)
        mean = self.action_net(latent_pi).view(shape)
        if self.state_dependent_std:
            log_std = self.log_std_net(latent_pi).view(shape)
        else:
            log_std = self.log_std.expand(latent_pi.shape[0], -1, -1)
        logits = self.logits_net(latent_pi.detach() if self.detach_gate else latent_pi)
        return self.action_dist.proba_distribution(mean, log_std, logits)


MlpPolicy = MixtureActorCriticPolicy


class CnnPolicy(MixtureActorCriticPolicy):
    """:class:`MixtureActorCriticPolicy` with SB3's ``NatureCNN`` features extractor, for images."""

    def __init__(self, *args: Any, features_extractor_class: type = NatureCNN, **kwargs: Any):
        super().__init__(*args, features_extractor_class=features_extractor_class, **kwargs)


class MultiInputPolicy(MixtureActorCriticPolicy):
    """:class:`MixtureActorCriticPolicy` with SB3's ``CombinedExtractor``, for ``Dict`` observations."""

    def __init__(self, *args: Any, features_extractor_class: type = CombinedExtractor, **kwargs: Any):
        super().__init__(*args, features_extractor_class=features_extractor_class, **kwargs)


__all__ = ["CnnPolicy", "MixtureActorCriticPolicy", "MlpPolicy", "MultiInputPolicy"]
