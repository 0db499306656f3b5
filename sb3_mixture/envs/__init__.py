"""
The papers' test beds, registered with Gymnasium under ``sb3_mixture/`` when the package is imported
(docs/guide/environments.rst); see each class for its reward, thresholds and time limit.

========================================  ==========================================================
id                                        environment
========================================  ==========================================================
``sb3_mixture/MultimodalBandit-v0``       :class:`MultimodalBandit` (kwargs: action_dim, n_modes, bandit_seed)
``sb3_mixture/BimodalBandit-v0``          the two equal modes of MRP Fig. 1
``sb3_mixture/SparsePendulum-v1``         Pendulum from hanging down, reward 1 near upright
``sb3_mixture/ShapedPendulum-v1``         Gymnasium's Pendulum (its reward), cut off at 1,000 steps like the others
``sb3_mixture/ContinuousAcrobot-v1``      -1 per step until the goal (0 there), continuous torque
``sb3_mixture/ShapedAcrobot-v1``          the same dynamics, reward = f(tip height) in [-1, 0]
``sb3_mixture/MountainCar-v1``            continuous Mountain Car, -1 every step, the goal's too
``sb3_mixture/ShapedMountainCar-v1``      the same dynamics, reward = f(car's height) in [-1, 0]
``sb3_mixture/TargetReaching-v0``         PMOE's point agent, target and obstacles
========================================  ==========================================================
"""

import gymnasium as gym

from sb3_mixture.envs.bandit import BIMODAL_PRESET, MultimodalBandit
from sb3_mixture.envs.classic_control import (
    EPISODE_CUTOFF,
    ContinuousAcrobot,
    ContinuousMountainCar,
    ShapedAcrobot,
    ShapedMountainCar,
    ShapedPendulum,
    SparsePendulum,
)
from sb3_mixture.envs.target_reaching import TargetReaching

NAMESPACE = "sb3_mixture"
ENV_IDS = (
    "sb3_mixture/MultimodalBandit-v0",
    "sb3_mixture/BimodalBandit-v0",
    "sb3_mixture/SparsePendulum-v1",
    "sb3_mixture/ShapedPendulum-v1",
    "sb3_mixture/ContinuousAcrobot-v1",
    "sb3_mixture/ShapedAcrobot-v1",
    "sb3_mixture/MountainCar-v1",
    "sb3_mixture/ShapedMountainCar-v1",
    "sb3_mixture/TargetReaching-v0",
)


def register_envs() -> None:
    """Register every environment (idempotent)."""
    if ENV_IDS[0] in gym.registry:
        return
    module = "sb3_mixture.envs"
    gym.register(ENV_IDS[0], entry_point=f"{module}.bandit:MultimodalBandit", max_episode_steps=1)
    gym.register(ENV_IDS[1], entry_point=f"{module}.bandit:MultimodalBandit", max_episode_steps=1, kwargs=BIMODAL_PRESET)
    classic_control = [
        "SparsePendulum", "ShapedPendulum", "ContinuousAcrobot", "ShapedAcrobot", "ContinuousMountainCar", "ShapedMountainCar"
    ]  # fmt: skip
    for env_id, name in zip(ENV_IDS[2:8], classic_control, strict=True):
        gym.register(env_id, entry_point=f"{module}.classic_control:{name}", max_episode_steps=EPISODE_CUTOFF)
    gym.register(ENV_IDS[8], entry_point=f"{module}.target_reaching:TargetReaching", max_episode_steps=200)


__all__ = [
    "ENV_IDS",
    "ContinuousAcrobot",
    "ContinuousMountainCar",
    "MultimodalBandit",
    "ShapedAcrobot",
    "ShapedMountainCar",
    "ShapedPendulum",
    "SparsePendulum",
    "TargetReaching",
    "register_envs",
]
