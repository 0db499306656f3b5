from typing import Any

import torch as th
from stable_baselines3.common.torch_layers import CombinedExtractor, NatureCNN
from stable_baselines3.common.type_aliases import PyTorchObs

from sb3_mixture.common.critic import min_critic_values
from sb3_mixture.common.value import ValueMixtureSACPolicy

DETERMINISTIC_SELECTIONS = ("q", "weight")


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
