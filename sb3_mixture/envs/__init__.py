"""
The papers' test beds, registered with Gymnasium under ``sb3_mixture/`` when the package is imported
(docs/guide/environments.rst); see each class for its reward, thresholds and time limit.

========================================  ==========================================================
id                                        environment
========================================  ==========================================================
``sb3_mixture/MultimodalBandit-v0``       :class:`MultimodalBandit` (kwargs: action_dim, n_modes, bandit_seed)
``sb3_mixture/BimodalBandit-v0``          the two equal modes of MRP Fig. 1
``sb3_mixture/SparsePendulum-v0``         Pendulum, reward 1 near upright (shaped twin: ``Pendulum-v1``)
``sb3_mixture/ContinuousAcrobot-v0``      -1 per step until the goal, continuous torque
``sb3_mixture/ContinuousAcrobotShaped-v0``  the same plus potential-based shaping (tip height)
``sb3_mixture/MountainCar-v0``            continuous Mountain Car, -1 per step until the goal
``sb3_mixture/MountainCarShaped-v0``      the same plus potential-based shaping (mechanical energy)
``sb3_mixture/TargetReaching-v0``         PMOE's point agent, target and obstacles
========================================  ==========================================================
"""

import gymnasium as gym

from sb3_mixture.envs.bandit import BIMODAL_PRESET, MultimodalBandit
from sb3_mixture.envs.classic_control import ContinuousAcrobot, ContinuousMountainCar, PotentialShaping, SparsePendulum
from sb3_mixture.envs.target_reaching import TargetReaching

NAMESPACE = "sb3_mixture"
ENV_IDS = (
    "sb3_mixture/MultimodalBandit-v0",
    "sb3_mixture/BimodalBandit-v0",
    "sb3_mixture/SparsePendulum-v0",
    "sb3_mixture/ContinuousAcrobot-v0",
    "sb3_mixture/ContinuousAcrobotShaped-v0",
    "sb3_mixture/MountainCar-v0",
    "sb3_mixture/MountainCarShaped-v0",
    "sb3_mixture/TargetReaching-v0",
)


def register_envs() -> None:
    """Register every environment (idempotent)."""
    if ENV_IDS[0] in gym.registry:
        return
    module = "sb3_mixture.envs"
    gym.register(ENV_IDS[0], entry_point=f"{module}.bandit:MultimodalBandit", max_episode_steps=1)
    gym.register(ENV_IDS[1], entry_point=f"{module}.bandit:MultimodalBandit", max_episode_steps=1, kwargs=BIMODAL_PRESET)
    gym.register(ENV_IDS[2], entry_point=f"{module}.classic_control:SparsePendulum", max_episode_steps=200)
    gym.register(ENV_IDS[3], entry_point=f"{module}.classic_control:ContinuousAcrobot", max_episode_steps=500)
    gym.register(ENV_IDS[4], entry_point=f"{module}.classic_control:shaped_acrobot", max_episode_steps=500)
    gym.register(ENV_IDS[5], entry_point=f"{module}.classic_control:ContinuousMountainCar", max_episode_steps=999)
    gym.register(ENV_IDS[6], entry_point=f"{module}.classic_control:shaped_mountain_car", max_episode_steps=999)
    gym.register(ENV_IDS[7], entry_point=f"{module}.target_reaching:TargetReaching", max_episode_steps=200)


__all__ = [
    "ENV_IDS",
    "ContinuousAcrobot",
    "ContinuousMountainCar",
    "MultimodalBandit",
    "PotentialShaping",
    "SparsePendulum",
    "TargetReaching",
    "register_envs",
]
