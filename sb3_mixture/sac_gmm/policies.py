from typing import Any

import torch as th
from stable_baselines3.common.torch_layers import CombinedExtractor, NatureCNN
from stable_baselines3.common.type_aliases import PyTorchObs

from sb3_mixture.common.compile import polyak_update
from sb3_mixture.common.critic import min_critic_values
from sb3_mixture.common.value import StateValue
from sb3_mixture.sac_mixture.policies import MixtureSACPolicy

DETERMINISTIC_SELECTIONS = ("q", "weight")


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
        polyak_update(list(self.value.parameters()), list(self.value_target.parameters()), tau)

    def set_training_mode(self, mode: bool) -> None:
        super().set_training_mode(mode)
        self.value.set_training_mode(mode)


class GMMSACPolicy(ValueMixtureSACPolicy):
    """
    Policy of SAC-GMM (Haarnoja et al. 2018, arXiv:1801.01290): the squashed Gaussian mixture actor, the critic
    (one Q-network by default, as the authors') and the state-value network with its target.

    The deterministic action is ``tanh(mean_k*)`` with ``k* = argmax_k Q(s, tanh(mean_k))``, the paper's heuristic
    (``deterministic_selection="q"``), or the squashed mean of the heaviest component (``"weight"``).

    :param deterministic_selection: ``"q"`` or ``"weight"``, see above

    Other parameters as :class:`sb3_mixture.sac_mixture.policies.MixtureSACPolicy`.
    """

    def __init__(
        self,
        *args: Any,
        deterministic_selection: str = "q",
        **kwargs: Any,
    ):
        if deterministic_selection not in DETERMINISTIC_SELECTIONS:
            message = f"deterministic_selection must be one of {DETERMINISTIC_SELECTIONS}, got {deterministic_selection!r}"
            raise ValueError(message)
        self.deterministic_selection = deterministic_selection
        super().__init__(*args, **kwargs)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(deterministic_selection=self.deterministic_selection)
        return data

    def _predict(self, observation: PyTorchObs, deterministic: bool = False) -> th.Tensor:
        if not deterministic or self.deterministic_selection == "weight":
            return super()._predict(observation, deterministic)
        distribution = self.actor.get_distribution(observation)
        candidates = th.tanh(distribution.mean)  # [B, K, D]
        best = min_critic_values(self.critic, observation, candidates).argmax(dim=1)
        return candidates[th.arange(candidates.shape[0]), best]


MlpPolicy = GMMSACPolicy


class CnnPolicy(GMMSACPolicy):
    """:class:`GMMSACPolicy` with SB3's ``NatureCNN`` features extractor, for image observations."""

    def __init__(self, *args: Any, features_extractor_class: type = NatureCNN, **kwargs: Any):
        super().__init__(*args, features_extractor_class=features_extractor_class, **kwargs)


class MultiInputPolicy(GMMSACPolicy):
    """:class:`GMMSACPolicy` with SB3's ``CombinedExtractor``, for ``Dict`` observations."""

    def __init__(self, *args: Any, features_extractor_class: type = CombinedExtractor, **kwargs: Any):
        super().__init__(*args, features_extractor_class=features_extractor_class, **kwargs)


__all__ = ["CnnPolicy", "GMMSACPolicy", "MlpPolicy", "MultiInputPolicy"]
