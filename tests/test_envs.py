"""The papers' environments (docs/guide/environments.rst): both env checkers, seeded determinism, documented optima and
rewards."""

import warnings
from typing import Any, TypeVar

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gymnasium_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import sb3_mixture  # noqa: F401  (registers the environments)
from sb3_mixture.envs import ENV_IDS, MultimodalBandit
from sb3_mixture.envs.classic_control import ContinuousAcrobot, ContinuousMountainCar, ShapedPendulum, SparsePendulum
from sb3_mixture.envs.target_reaching import TargetReaching

EnvT = TypeVar("EnvT", bound=gym.Env)


def unwrapped(env: gym.Env, env_class: type[EnvT]) -> EnvT:
    """The environment under its wrappers, checked to be ``env_class`` (what the test sets the state of)."""
    inner = env.unwrapped
    assert isinstance(inner, env_class)
    return inner


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_env_checkers(env_id: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # style advice (unbounded obstacle coordinates, a [-2, 2] action box)
        gymnasium_check_env(gym.make(env_id).unwrapped, skip_render_check=True)
        sb3_check_env(gym.make(env_id))


def rollout(env_id: str, seed: int, n_steps: int = 60) -> list[tuple[np.ndarray, float, bool]]:
    env = gym.make(env_id)
    env.action_space.seed(123)
    observation, _ = env.reset(seed=seed)
    trajectory = [(observation, 0.0, False)]
    for _ in range(n_steps):
        observation, reward, terminated, truncated, _ = env.step(env.action_space.sample())
        trajectory.append((observation, float(reward), terminated or truncated))
        if terminated or truncated:
            observation, _ = env.reset()
    return trajectory


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_seeded_determinism(env_id: str) -> None:
    first, second = rollout(env_id, seed=7), rollout(env_id, seed=7)
    for (obs_a, reward_a, done_a), (obs_b, reward_b, done_b) in zip(first, second, strict=True):
        np.testing.assert_array_equal(obs_a, obs_b)
        assert (reward_a, done_a) == (reward_b, done_b)


def test_seed_changes_the_target_reaching_layout() -> None:
    env = gym.make("sb3_mixture/TargetReaching-v0")
    assert not np.array_equal(env.reset(seed=0)[0], env.reset(seed=1)[0])


@pytest.mark.parametrize("bandit_seed", [0, 1, 2, 3])
def test_bandit_optimum_is_where_documented(bandit_seed: int) -> None:
    """The documented ``optimal_action`` is the grid maximiser and earns 1; the success threshold splits the peaks."""
    env = MultimodalBandit(bandit_seed=bandit_seed)
    grid = np.linspace(-1, 1, 200_001)[:, None]
    rewards = env.reward(grid)
    assert abs(grid[rewards.argmax(), 0] - env.optimal_action[0]) < 1e-4
    assert rewards.max() == pytest.approx(1.0, abs=1e-6)
    _, reward, terminated, _, info = env.step(env.optimal_action)
    assert reward == pytest.approx(1.0) and terminated and info["is_success"]
    if len(env.mode_actions) > 1:
        _, reward, _, _, info = env.step(env.mode_actions[1])
        assert reward < 1.0 and not info["is_success"]


def test_bandit_reward_is_the_normalised_sum_of_densities() -> None:
    env = MultimodalBandit(means=[[-0.3], [0.4]], stds=[0.1, 0.2])
    grid = np.linspace(-1, 1, 20_001)
    density = sum(np.exp(-0.5 * ((grid - m) / s) ** 2) / (np.sqrt(2 * np.pi) * s) for m, s in ((-0.3, 0.1), (0.4, 0.2)))
    np.testing.assert_allclose(env.reward(grid[:, None]), density / density.max(), atol=1e-6)


def test_bimodal_preset_has_two_equal_peaks() -> None:
    env = gym.make("sb3_mixture/BimodalBandit-v0").unwrapped
    assert isinstance(env, MultimodalBandit)
    np.testing.assert_allclose(np.sort(env.mode_actions[:, 0]), [-0.5, 0.5], atol=1e-3)
    np.testing.assert_allclose(env.mode_rewards, [1.0, 1.0])
    for action in (-0.5, 0.5):
        assert env.step(np.array([action]))[4]["is_success"]


def test_sparse_pendulum_rewards_only_near_upright_and_starts_hanging_down() -> None:
    env = gym.make("sb3_mixture/SparsePendulum-v1")
    for seed in range(3):  # every episode starts hanging down at rest: cos(theta) = -1, sin 0, velocity 0
        observation, _ = env.reset(seed=seed)
        np.testing.assert_allclose(observation, [-1.0, 0.0, 0.0], atol=1e-6)
    for angle, expected in ((0.0, 1.0), (0.15, 1.0), (0.5, 0.0), (np.pi, 0.0)):
        unwrapped(env, SparsePendulum).state = np.array([angle, 0.0])
        _, reward, _, _, info = env.step(np.zeros(1, dtype=np.float32))
        assert reward == expected and info["is_success"] == bool(expected)


def test_shaped_pendulum_is_gymnasiums_pendulum_with_the_protocols_cutoff() -> None:
    """Same observations and rewards as Gymnasium's Pendulum-v1 from the same seed (its random start), the upright test
    of SparsePendulum as success; only the cut-off differs (1,000 against 200)."""
    shaped, gymnasium_pendulum = gym.make("sb3_mixture/ShapedPendulum-v1"), gym.make("Pendulum-v1")
    np.testing.assert_array_equal(shaped.reset(seed=5)[0], gymnasium_pendulum.reset(seed=5)[0])
    for step in range(150):
        action = np.array([2.0 * np.sin(step / 7)], dtype=np.float32)
        obs_s, reward_s, _, _, info = shaped.step(action)
        obs_g, reward_g, *_ = gymnasium_pendulum.step(action)
        np.testing.assert_array_equal(obs_s, obs_g)
        assert reward_s == reward_g and info["is_success"] == bool(abs(np.arctan2(obs_s[1], obs_s[0])) < 0.2)
    unwrapped(shaped, ShapedPendulum).state = np.array([0.1, 0.0])
    assert shaped.step(np.zeros(1, dtype=np.float32))[4]["is_success"]
    assert gym.spec("Pendulum-v1").max_episode_steps == 200


@pytest.mark.parametrize(
    "env_id",
    [
        "sb3_mixture/SparsePendulum-v1",
        "sb3_mixture/ShapedPendulum-v1",
        "sb3_mixture/ContinuousAcrobot-v1",
        "sb3_mixture/ShapedAcrobot-v1",
        "sb3_mixture/MountainCar-v1",
        "sb3_mixture/ShapedMountainCar-v1",
    ],
)
def test_every_classic_control_task_is_cut_off_at_1000_steps(env_id: str) -> None:
    """GreedyAC's steps_per_episode (the group whose setting App. E.5 follows): 1,000 for every task."""
    assert gym.spec(env_id).max_episode_steps == 1000


def tip_height(observation: np.ndarray) -> float:
    """From Gymnasium's Acrobot observation [cos t1, sin t1, cos t2, sin t2, ...]: -cos(t1) - cos(t1 + t2)."""
    cos1, sin1, cos2, sin2 = observation[:4]
    return float(-cos1 - (cos1 * cos2 - sin1 * sin2))


@pytest.mark.parametrize(
    ("unshaped_id", "shaped_id", "shaped_reward"),
    [
        ("sb3_mixture/ContinuousAcrobot-v1", "sb3_mixture/ShapedAcrobot-v1", lambda obs: (tip_height(obs) - 2) / 4),
        ("sb3_mixture/MountainCar-v1", "sb3_mixture/ShapedMountainCar-v1", lambda obs: (np.sin(3 * obs[0]) - 1) / 2),
    ],
)
def test_shaped_twin_replaces_the_reward_by_a_function_of_the_state(
    unshaped_id: str, shaped_id: str, shaped_reward: Any
) -> None:
    """App. E.5: the shaped twin has the same dynamics and a reward that is a function of the next state, in [-1, 0];
    the unshaped task pays -1 per step."""
    unshaped, shaped = gym.make(unshaped_id), gym.make(shaped_id)
    unshaped.reset(seed=3)
    shaped.reset(seed=3)
    rewards: list[float] = []
    for step in range(200):
        action = np.array([np.sign(np.sin(step / 8))], dtype=np.float32)
        obs_u, reward_u, *_ = unshaped.step(action)
        obs_s, reward_s, *_ = shaped.step(action)
        np.testing.assert_array_equal(obs_u, obs_s)
        assert reward_u == -1.0
        assert reward_s == pytest.approx(shaped_reward(obs_s), abs=1e-6)
        rewards.append(float(reward_s))
    assert min(rewards) >= -1.0 and max(rewards) <= 0.0 and np.ptp(rewards) > 0.05


def test_continuous_torque_and_goals() -> None:
    """Acrobot: the torque is continuous and the goal step pays 0 (Gymnasium's and GreedyAC's); Mountain Car: the goal
    step pays -1 like every other (GreedyAC's overwritten rewards)."""
    acrobot = gym.make("sb3_mixture/ContinuousAcrobot-v1")
    next_states = []
    for torque in (-1.0, 1.0):
        acrobot.reset(seed=0)
        next_states.append(acrobot.step(np.array([torque], dtype=np.float32))[0])
    assert not np.allclose(*next_states)
    # Pointing straight up: the goal. (Gymnasium's AcrobotEnv types its state as None, the value before a reset.)
    unwrapped(acrobot, ContinuousAcrobot).state = np.array([np.pi, 0.0, 0.0, 0.0])  # type: ignore[assignment]
    _, reward, terminated, _, info = acrobot.step(np.zeros(1, dtype=np.float32))
    assert terminated and info["is_success"] and reward == 0.0
    car = gym.make("sb3_mixture/MountainCar-v1")
    car.reset(seed=0)
    unwrapped(car, ContinuousMountainCar).state = np.array([0.44, 0.05])
    _, reward, terminated, _, info = car.step(np.ones(1, dtype=np.float32))
    assert terminated and info["is_success"] and reward == -1.0


def test_target_reaching_rewards() -> None:
    env = unwrapped(gym.make("sb3_mixture/TargetReaching-v0"), TargetReaching)
    env.reset(seed=0)
    env.position = env.target + np.array([0.3, 0.0])
    env.velocity = np.zeros(2)
    assert env.step(np.zeros(2))[1:3] == (100.0, True)
    env.reset(seed=0)
    env.position = env.obstacles[0] + np.array([0.2, 0.0])
    env.velocity = np.zeros(2)
    assert env.step(np.zeros(2))[1:3] == (-10.0, True)
    env.reset(seed=0)
    _, reward, terminated, _, _ = env.step(np.array([2.0, 2.0]))
    assert not terminated and reward == pytest.approx(2 * 0.2**2)  # ||v||^2 with v = a dt
