from sb3_mixture.sac_gmm.policies import CnnPolicy, GMMSACPolicy, MlpPolicy, MultiInputPolicy, ValueMixtureSACPolicy
from sb3_mixture.sac_gmm.sac_gmm import SACGMM, ValueSACMixture, gmm_policy_loss

__all__ = [
    "SACGMM",
    "CnnPolicy",
    "GMMSACPolicy",
    "MlpPolicy",
    "MultiInputPolicy",
    "ValueMixtureSACPolicy",
    "ValueSACMixture",
    "gmm_policy_loss",
]
