"""SACMixture's policies: the SAC family's mixture policy (:mod:`sb3_mixture.common.sac_policies`), under the names
SB3's ``policy_aliases`` and saved models use."""

from sb3_mixture.common.sac_policies import CnnPolicy, MixtureActor, MixtureSACPolicy, MlpPolicy, MultiInputPolicy

__all__ = ["CnnPolicy", "MixtureActor", "MixtureSACPolicy", "MlpPolicy", "MultiInputPolicy"]
