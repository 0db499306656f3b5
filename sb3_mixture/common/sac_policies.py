from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.torch_layers import CombinedExtractor, NatureCNN
from stable_baselines3.common.type_aliases import PyTorchObs
from stable_baselines3.sac.policies import Actor, SACPolicy
from torch import nn

from sb3_mixture.common.distributions import SquashedGaussianMixture
from sb3_mixture.common.policies import FiniteObservationMixin
from sb3_mixture.common.speed import ModeFreeSwitchMixin, with_fused_adam
from sb3_mixture.common.utils import check_box_action_space, check_n_components, check_no_sde

DEFAULT_N_COMPONENTS = 5


class MixtureActorMixin:
    """
    Put before an SB3-style SAC actor class (SB3's SAC ``Actor``, sb3-contrib's TQC or CrossQ ``Actor``): the actor's
    trunk ``latent_pi`` with three heads instead of its Gaussian's two, the mixture logits ``[K]``, the component means
    ``[K, D]`` and log-stds ``[K, D]`` (clamped to SB3's ``[-20, 2]``). Those actors' ``forward`` and
    ``action_log_prob`` then sample from the mixture through ``get_action_dist_params`` unchanged.

    :param n_components: Number K of mixture components
    :param uniform_weights: Fix the weights to 1/K (the logits head is then unused), as U-RP and SACM need
    :param detach_gate: Compute the logits from the trunk's features without letting their gradient reach
        the trunk (PMOE's gate: routing does not train the shared layers)
    :param use_sde: Must be False (gSDE is not defined for a mixture)

    Other parameters as in the actor class it is mixed into.
    """

    action_dist: SquashedGaussianMixture
    logits: nn.Linear
    mu: nn.Linear
    log_std: nn.Linear
    net_arch: list[int]
    features_dim: int
    features_extractor: nn.Module
    latent_pi: nn.Module
    action_space: spaces.Box

    def __init__(
        self,
        *args: Any,
        n_components: int = DEFAULT_N_COMPONENTS,
        uniform_weights: bool = False,
        detach_gate: bool = False,
        use_sde: bool = False,
        **kwargs: Any,
    ):
        check_no_sde(use_sde)
        self.n_components = check_n_components(n_components)
        self.uniform_weights = uniform_weights
        self.detach_gate = detach_gate
        super().__init__(*args, use_sde=False, **kwargs)  # type: ignore[call-arg]
        check_box_action_space(self.action_space, type(self).__name__)
        self.action_dim = int(np.prod(self.action_space.shape))
        last_layer_dim = self.net_arch[-1] if len(self.net_arch) > 0 else self.features_dim
        self.action_dist = SquashedGaussianMixture(self.action_dim, self.n_components)
        self.logits, self.mu, self.log_std = self.action_dist.proba_distribution_net(last_layer_dim)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()  # type: ignore[misc]
        data.update(n_components=self.n_components, uniform_weights=self.uniform_weights, detach_gate=self.detach_gate)
        return data

    def get_action_dist_params(self, obs: PyTorchObs) -> tuple[th.Tensor, th.Tensor, dict[str, th.Tensor]]:
        """
        :return: means ``[B, K, D]``, log-stds ``[B, K, D]`` (unclamped; the distribution clamps) and
            ``dict(logits=[B, K])``
        """
        features = self.extract_features(obs, self.features_extractor)  # type: ignore[attr-defined]
        latent_pi = self.latent_pi(features)
        shape = (-1, self.n_components, self.action_dim)
        if self.uniform_weights:
            logits = latent_pi.new_zeros(latent_pi.shape[0], self.n_components)
        else:
            logits = self.logits(latent_pi.detach() if self.detach_gate else latent_pi)
        return self.mu(latent_pi).view(shape), self.log_std(latent_pi).view(shape), dict(logits=logits)

    def get_distribution(self, obs: PyTorchObs) -> SquashedGaussianMixture:
        """A new mixture distribution for ``obs`` (not the shared ``action_dist``, which sampling overwrites)."""
        mean, log_std, kwargs = self.get_action_dist_params(obs)
        return SquashedGaussianMixture(self.action_dim, self.n_components).proba_distribution(mean, log_std, **kwargs)


class MixtureActor(MixtureActorMixin, Actor):  # type: ignore[misc]
    """
    Actor of a squashed Gaussian mixture policy (docs/guide/mixture.rst): SB3's SAC actor trunk with the mixture's heads
    (:class:`MixtureActorMixin`).

    ``forward`` samples one action from the mixture (or, deterministic, the squashed mean of the
    highest-weight component) and ``action_log_prob`` returns it with its mixture log-density, so SB3's
    collection and critic-target code work unchanged. ``get_distribution`` gives the estimators a fresh
    distribution object with every component.

    Parameters as :class:`MixtureActorMixin` and :class:`stable_baselines3.sac.policies.Actor`.
    """

    action_dist: SquashedGaussianMixture  # type: ignore[assignment]
    log_std: nn.Linear  # type: ignore[assignment]  # SB3's Actor declares a gSDE Parameter here


class MixturePolicyMixin:
    """
    Put before an SB3-style actor-critic policy class (SB3's ``SACPolicy``, sb3-contrib's ``TQCPolicy`` or
    ``CrossQPolicy``): its actor becomes ``actor_class``, a squashed Gaussian mixture; its critic stays the class's own.

    Adam (and AdamW) run their fused implementation unless ``optimizer_kwargs`` sets ``fused`` or
    ``foreach``: the same update rule in one kernel (docs/guide/speed.rst).

    :param n_components: Number K of mixture components (default 5, the MRP paper's). Saved with the model.
    :param uniform_weights: Fix the mixture weights to 1/K (set by the estimators that need it)
    :param detach_gate: Keep the gate's gradient out of the actor's trunk (set by PMOE)
    """

    actor_class: type[nn.Module] = MixtureActor
    """The mixture actor built by ``make_actor``: the policy class's own actor with :class:`MixtureActorMixin`."""
    actor_kwargs: dict[str, Any]
    device: th.device

    def __init__(
        self,
        *args: Any,
        n_components: int = DEFAULT_N_COMPONENTS,
        uniform_weights: bool = False,
        detach_gate: bool = False,
        **kwargs: Any,
    ):
        # Set before the policy's __init__, which builds the actor.
        self.n_components = check_n_components(n_components)
        self.uniform_weights = uniform_weights
        self.detach_gate = detach_gate
        check_no_sde(kwargs.get("use_sde", False))
        optimizer_class = kwargs.get("optimizer_class", th.optim.Adam)
        kwargs["optimizer_kwargs"] = with_fused_adam(optimizer_class, self._default_optimizer_kwargs(kwargs))
        super().__init__(*args, **kwargs)

    @staticmethod
    def _default_optimizer_kwargs(kwargs: dict[str, Any]) -> dict[str, Any] | None:
        """The ``optimizer_kwargs`` the policy class would use (a class with defaults of its own overrides this)."""
        return kwargs.get("optimizer_kwargs")

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()  # type: ignore[misc]
        data.update(n_components=self.n_components, uniform_weights=self.uniform_weights, detach_gate=self.detach_gate)
        return data

    def make_actor(self, features_extractor: Any = None) -> MixtureActorMixin:
        actor_kwargs = self._update_features_extractor(self.actor_kwargs, features_extractor)  # type: ignore[attr-defined]
        actor = self.actor_class(
            **actor_kwargs, n_components=self.n_components, uniform_weights=self.uniform_weights, detach_gate=self.detach_gate
        )
        return actor.to(self.device)  # type: ignore[return-value]


class MixtureSACPolicy(MixturePolicyMixin, ModeFreeSwitchMixin, FiniteObservationMixin, SACPolicy):  # type: ignore[misc]
    """
    SAC policy (actor and twin critics) whose actor is a squashed Gaussian mixture (:class:`MixturePolicyMixin`).

    Parameters as :class:`MixturePolicyMixin` and :class:`stable_baselines3.sac.policies.SACPolicy`; ``use_sde`` must
    be False.
    """

    actor: MixtureActor


MlpPolicy = MixtureSACPolicy


class CnnPolicy(MixtureSACPolicy):
    """:class:`MixtureSACPolicy` with SB3's ``NatureCNN`` features extractor, for image observations."""

    def __init__(self, *args: Any, features_extractor_class: type = NatureCNN, **kwargs: Any):
        super().__init__(*args, features_extractor_class=features_extractor_class, **kwargs)


class MultiInputPolicy(MixtureSACPolicy):
    """:class:`MixtureSACPolicy` with SB3's ``CombinedExtractor``, for ``Dict`` observations."""

    def __init__(self, *args: Any, features_extractor_class: type = CombinedExtractor, **kwargs: Any):
        super().__init__(*args, features_extractor_class=features_extractor_class, **kwargs)


__all__ = [
    "CnnPolicy",
    "MixtureActor",
    "MixtureActorMixin",
    "MixturePolicyMixin",
    "MixtureSACPolicy",
    "MlpPolicy",
    "MultiInputPolicy",
]
