from sb3_mixture.common.value import ValueMixtureSACPolicy, ValueSACFamily
from sb3_mixture.sac_gmm.policies import CnnPolicy, GMMSACPolicy, MlpPolicy, MultiInputPolicy
from sb3_mixture.sac_gmm.sac_gmm import SACGMM, gmm_policy_loss

__all__ = [
    "SACGMM",
    "CnnPolicy",
    "GMMSACPolicy",
    "MlpPolicy",
    "MultiInputPolicy",
    "ValueMixtureSACPolicy",
    "ValueSACFamily",
    "gmm_policy_loss",
]
