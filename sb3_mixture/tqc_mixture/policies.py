"""TQCMixture's policies: sb3-contrib's TQC policy (its quantile critics) with the package's squashed Gaussian mixture
actor (:class:`~sb3_mixture.common.sac_policies.MixturePolicyMixin`)."""

from typing import Any

from sb3_contrib.tqc.policies import TQCPolicy
from stable_baselines3.common.torch_layers import CombinedExtractor, NatureCNN

from sb3_mixture.common.policies import FiniteObservationMixin
from sb3_mixture.common.sac_policies import MixtureActor, MixturePolicyMixin
from sb3_mixture.common.speed import ModeFreeSwitchMixin


class TQCMixturePolicy(MixturePolicyMixin, ModeFreeSwitchMixin, FiniteObservationMixin, TQCPolicy):  # type: ignore[misc]
    """
    TQC policy (actor and quantile critics) whose actor is a squashed Gaussian mixture: SB3's SAC actor trunk with the
    mixture's heads (:class:`~sb3_mixture.common.sac_policies.MixtureActor`; TQC's own actor is SAC's).

    Parameters as :class:`~sb3_mixture.common.sac_policies.MixturePolicyMixin` and
    :class:`sb3_contrib.tqc.policies.TQCPolicy` (``n_quantiles``, ``n_critics``); ``use_sde`` must be False.
    """

    actor: MixtureActor  # type: ignore[assignment]


MlpPolicy = TQCMixturePolicy


class CnnPolicy(TQCMixturePolicy):
    """:class:`TQCMixturePolicy` with SB3's ``NatureCNN`` features extractor, for image observations."""

    def __init__(self, *args: Any, features_extractor_class: type = NatureCNN, **kwargs: Any):
        super().__init__(*args, features_extractor_class=features_extractor_class, **kwargs)


class MultiInputPolicy(TQCMixturePolicy):
    """:class:`TQCMixturePolicy` with SB3's ``CombinedExtractor``, for ``Dict`` observations."""

    def __init__(self, *args: Any, features_extractor_class: type = CombinedExtractor, **kwargs: Any):
        super().__init__(*args, features_extractor_class=features_extractor_class, **kwargs)


__all__ = ["CnnPolicy", "MlpPolicy", "MultiInputPolicy", "TQCMixturePolicy"]
