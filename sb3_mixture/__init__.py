import os

from sb3_mixture.common.distributions import SquashedGaussianMixture
from sb3_mixture.common.estimators import ESTIMATORS
from sb3_mixture.envs import register_envs
from sb3_mixture.pmoe import PPOPMOE, SACPMOE
from sb3_mixture.ppo_mixture import PPOMixture
from sb3_mixture.sac_awmp import SACAWMP
from sb3_mixture.sac_gmm import SACGMM
from sb3_mixture.sac_mixture import SACMixture
from sb3_mixture.sacm import S2ACM, SACM

register_envs()

# Read version from file
version_file = os.path.join(os.path.dirname(__file__), "version.txt")
with open(version_file) as file_handler:
    __version__ = file_handler.read().strip()

__all__ = [
    "ESTIMATORS",
    "PPOPMOE",
    "S2ACM",
    "SACAWMP",
    "SACGMM",
    "SACM",
    "SACPMOE",
    "PPOMixture",
    "SACMixture",
    "SquashedGaussianMixture",
    "__version__",
]
