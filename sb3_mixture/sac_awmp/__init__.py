from sb3_mixture.sac_awmp.buffers import BehaviourReplayBuffer, DictBehaviourReplayBuffer
from sb3_mixture.sac_awmp.policies import AWMPPolicy, CnnPolicy, MlpPolicy, MultiInputPolicy
from sb3_mixture.sac_awmp.sac_awmp import SACAWMP, importance_weights, prior_objective

__all__ = [
    "SACAWMP",
    "AWMPPolicy",
    "BehaviourReplayBuffer",
    "CnnPolicy",
    "DictBehaviourReplayBuffer",
    "MlpPolicy",
    "MultiInputPolicy",
    "importance_weights",
    "prior_objective",
]
