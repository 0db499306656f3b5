import os

from sb3_mixture.common.distributions import SquashedGaussianMixture
from sb3_mixture.common.estimators import ESTIMATORS
from sb3_mixture.crossq_mixture import CrossQMixture
from sb3_mixture.envs import register_envs
from sb3_mixture.pmoe import PPOPMOE, SACPMOE
from sb3_mixture.ppo_mixture import PPOMixture
from sb3_mixture.sac_awmp import SACAWMP
from sb3_mixture.sac_gmm import SACGMM
from sb3_mixture.sac_mixture import SACMixture
from sb3_mixture.sacm import S2ACM, SACM
from sb3_mixture.tqc_mixture import TQCMixture

# The registry: every algorithm of the package, in the order the documentation lists them. Each class declares its RL
# Zoo key (SACMixture: one per estimator), default policy keywords and the like; the RL Zoo keys, samplers and test
# lists are built from this tuple (sb3_mixture.zoo), so a new algorithm is its folder plus one entry here.
ALGORITHMS = (SACMixture, SACM, S2ACM, SACPMOE, SACGMM, SACAWMP, PPOMixture, PPOPMOE, TQCMixture, CrossQMixture)

register_envs()

# Read version from file
version_file = os.path.join(os.path.dirname(__file__), "version.txt")
with open(version_file) as file_handler:
    __version__ = file_handler.read().strip()

__all__ = [
    "ALGORITHMS",
    "ESTIMATORS",
    "PPOPMOE",
    "S2ACM",
    "SACAWMP",
    "SACGMM",
    "SACM",
    "SACPMOE",
    "CrossQMixture",
    "PPOMixture",
    "SACMixture",
    "SquashedGaussianMixture",
    "TQCMixture",
    "__version__",
]
