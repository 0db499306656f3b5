from sb3_mixture.ppo_mixture.policies import CnnPolicy, MixtureActorCriticPolicy, MlpPolicy, MultiInputPolicy
from sb3_mixture.ppo_mixture.ppo_mixture import PPOMixture

__all__ = ["CnnPolicy", "MixtureActorCriticPolicy", "MlpPolicy", "MultiInputPolicy", "PPOMixture"]
