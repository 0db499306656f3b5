from sb3_mixture.sac_mixture.policies import CnnPolicy, MixtureActor, MixtureSACPolicy, MlpPolicy, MultiInputPolicy
from sb3_mixture.sac_mixture.sac_mixture import SACMixture

__all__ = ["CnnPolicy", "MixtureActor", "MixtureSACPolicy", "MlpPolicy", "MultiInputPolicy", "SACMixture"]
