from sb3_mixture.crossq_mixture.crossq_mixture import CrossQMixture
from sb3_mixture.crossq_mixture.policies import CnnPolicy, CrossQMixtureActor, CrossQMixturePolicy, MlpPolicy, MultiInputPolicy

__all__ = ["CnnPolicy", "CrossQMixture", "CrossQMixtureActor", "CrossQMixturePolicy", "MlpPolicy", "MultiInputPolicy"]
