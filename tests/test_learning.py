"""
Learning checks (slow: minutes each). Run with ``python -m pytest -m slow tests`` (add ``-n 2`` to run
seeds in parallel). RL Zoo's SAC settings for Pendulum-v1: 20k steps, learning rate 1e-3, the rest SAC's defaults.
"""

import gymnasium as gym
import pytest
import torch as th
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.monitor import Monitor

from sb3_mixture import SACMixture


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mrp_learns_pendulum(seed: int) -> None:
    th.set_num_threads(1)  # seeds run side by side under -n 2
    model = SACMixture("MlpPolicy", "Pendulum-v1", learning_rate=1e-3, seed=seed)
    model.learn(20_000)
    mean_return, _ = evaluate_policy(model, Monitor(gym.make("Pendulum-v1")), n_eval_episodes=10, deterministic=True)
    assert isinstance(mean_return, float)
    print(f"seed {seed}: mean deterministic return {mean_return:.1f}")
    # SB3's SAC with these settings reaches about -150.
    assert mean_return >= -250
