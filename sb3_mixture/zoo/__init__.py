"""
RL Zoo integration: the keys and their hyperparameter files (:mod:`~sb3_mixture.zoo.registry`), the Optuna search
spaces (:mod:`~sb3_mixture.zoo.search_spaces`), the patches that put both into RL Zoo at start-up
(:mod:`~sb3_mixture.zoo.rl_zoo_glue`) and the environment wrappers the YAML files name
(:mod:`~sb3_mixture.zoo.wrappers`).
"""

from sb3_mixture.zoo.registry import ZooEntry, algorithms, config_path, sac_estimator_keys, zoo_entries
from sb3_mixture.zoo.rl_zoo_glue import patch_module, register
from sb3_mixture.zoo.search_spaces import converters, samplers

__all__ = [
    "ZooEntry",
    "algorithms",
    "config_path",
    "converters",
    "patch_module",
    "register",
    "sac_estimator_keys",
    "samplers",
    "zoo_entries",
]
