from sb3_mixture.tqc_mixture.policies import CnnPolicy, MlpPolicy, MultiInputPolicy, TQCMixturePolicy
from sb3_mixture.tqc_mixture.tqc_mixture import TQCMixture

__all__ = ["CnnPolicy", "MlpPolicy", "MultiInputPolicy", "TQCMixture", "TQCMixturePolicy"]
