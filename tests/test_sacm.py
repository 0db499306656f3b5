"""SACM's mixture-entropy estimate against the Kolchinsky-Tracey bounds and Monte Carlo, and S2ACM's heads."""

import math
from collections import defaultdict
from dataclasses import replace
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from stable_baselines3 import HerReplayBuffer

from sb3_mixture import S2ACM, SACM
from sb3_mixture.common.distributions import SquashedGaussianMixture, mixed_marginal_entropy
from sb3_mixture.sacm.sacm import IndexedHerReplayBuffer

N_DRAWS = 4_000


def estimate_entropies(logits: th.Tensor, mean: th.Tensor, log_std: th.Tensor) -> dict[str, th.Tensor]:
    """Per state: the SACM estimate (averaged over draws), the bounds and a plain Monte Carlo entropy."""
    batch_size, n_components, action_dim = mean.shape

    def repeated(tensor: th.Tensor) -> th.Tensor:
        return tensor.repeat_interleave(N_DRAWS, dim=0)

    distribution = SquashedGaussianMixture(action_dim, n_components).proba_distribution(
        repeated(mean), repeated(log_std), repeated(logits)
    )
    actions, gaussian_actions = distribution.rsample_each_component()
    sacm = mixed_marginal_entropy(distribution.log_prob(actions, gaussian_actions), distribution.weights)
    # Components' own entropies by Monte Carlo: H(pi_i) = -E_{a~pi_i} log pi_i(a).
    own_log_probs = distribution.own_log_prob_each_component(gaussian_actions)
    component_entropy = -own_log_probs.view(batch_size, N_DRAWS, n_components).mean(1)
    weights = th.softmax(logits, dim=-1)
    conditional = (weights * component_entropy).sum(dim=-1)
    mixture_samples = distribution.sample()
    surprisal = -distribution.log_prob(mixture_samples, distribution.gaussian_actions).view(batch_size, N_DRAWS)
    return {
        "sacm": sacm.view(batch_size, N_DRAWS).mean(1),
        "lower": conditional,
        "upper": conditional - (weights * weights.log()).sum(dim=-1),
        "monte_carlo": surprisal.mean(1),
        "monte_carlo_standard_error": surprisal.std(1) / N_DRAWS**0.5,
    }


def test_sacm_entropy_lies_between_the_kolchinsky_tracey_bounds() -> None:
    th.manual_seed(0)
    logits, mean, log_std = th.randn(32, 3), th.randn(32, 3, 2), th.rand(32, 3, 2) * 1.5 - 1.5
    entropies = estimate_entropies(logits, mean, log_std)
    tolerance = 0.03  # Monte Carlo error of the averages (measured spread < 0.01)
    assert (entropies["sacm"] >= entropies["lower"] - tolerance).all()
    assert (entropies["sacm"] <= entropies["upper"] + tolerance).all()
    # Overlapping components: strictly inside for some states (the bounds are not trivially attained).
    assert ((entropies["sacm"] - entropies["lower"] > 0.1) & (entropies["upper"] - entropies["sacm"] > 0.1)).any()


def test_sacm_entropy_reaches_the_true_entropy_for_separated_components() -> None:
    th.manual_seed(1)
    logits = th.randn(8, 3)
    mean = th.tensor([-1.5, 0.0, 1.5]).view(1, 3, 1).expand(8, 3, 2).clone()
    log_std = th.full((8, 3, 2), -3.0)
    entropies = estimate_entropies(logits, mean, log_std)
    difference = (entropies["sacm"] - entropies["monte_carlo"]).abs()
    assert (difference < 4 * entropies["monte_carlo_standard_error"] + 0.005).all(), difference
    # Far apart, the mixture's entropy is the upper bound H(pi|W) + H(W).
    th.testing.assert_close(entropies["sacm"], entropies["upper"], atol=0.03, rtol=0)


def test_s2acm_heads_and_partial_entropy_targets() -> None:
    model = S2ACM("MlpPolicy", "Pendulum-v1", learning_starts=50, batch_size=16, policy_kwargs=dict(net_arch=[16]), seed=0)
    model.learn(80)
    assert len(model.critic.q_networks) == 6 and model.log_ent_coef is not None and model.log_ent_coef.shape == (3,)
    assert model.replay_buffer is not None
    replay_data = model.replay_buffer.sample(16)
    targets = model._target_q_values(replay_data, model.gamma, model._entropy_coefficient())
    assert targets.shape == (16, 3)
    # Heads differ only by the networks and the partial entropy sums, so the targets differ between heads.
    assert not th.allclose(targets[:, 0], targets[:, 2])
    # SACM keeps one shared twin critic.
    assert len(SACM("MlpPolicy", "Pendulum-v1", policy_kwargs=dict(net_arch=[16])).critic.q_networks) == 2


def head_gradients(model: S2ACM, minibatch: Any) -> list[th.Tensor]:
    """The critic loss's gradient on each head's first network's output layer."""
    model.critic.zero_grad(set_to_none=True)
    th.manual_seed(0)  # the same next actions in the target each time
    model._critic_loss(minibatch).backward()
    return [model.critic.q_networks[2 * head][-1].weight.grad.clone() for head in range(3)]  # type: ignore[union-attr]


@pytest.mark.parametrize("bootstrap_heads", [True, False])
def test_s2acm_heads_train_on_disjoint_transitions(bootstrap_heads: bool) -> None:
    """Baram et al., Section 4: the heads train on non-overlapping data (the transition at buffer position p trains head
    p mod N); changing the rewards of head 0's transitions changes head 0's gradient and no other head's."""
    model = S2ACM(
        "MlpPolicy",
        "Pendulum-v1",
        learning_starts=50,
        batch_size=64,
        policy_kwargs=dict(net_arch=[16]),
        seed=0,
        bootstrap_heads=bootstrap_heads,
    )
    model.learn(60)
    minibatch = model._sample_minibatch(64, defaultdict(list))
    assert (minibatch.head_mask is not None) == bootstrap_heads
    if bootstrap_heads:
        heads = th.as_tensor(model.replay_buffer.last_indices % 3)  # type: ignore[union-attr]
        th.testing.assert_close(minibatch.head_mask, th.nn.functional.one_hot(heads, 3).float())
    else:
        heads = th.arange(64) % 3
    before = head_gradients(model, minibatch)
    replay_data = minibatch.replay_data
    rewards = replay_data.rewards + 10.0 * (heads == 0).float().unsqueeze(1)
    after = head_gradients(model, replace(minibatch, replay_data=replay_data._replace(rewards=rewards)))
    assert not th.allclose(before[0], after[0])
    for head in (1, 2):
        # Without the split every head regresses on every transition, so every head's gradient moves.
        assert th.allclose(before[head], after[head]) == bootstrap_heads


def test_s2acm_heads_split_her_minibatches_by_buffer_position() -> None:
    """With HER the heads still split by the position of the stored transition: every row, real or relabelled, is the
    transition at its recorded position (its stamp says so), and its head is that position mod N."""
    from tests.envs import StampedGoalEnv

    model = S2ACM(
        "MultiInputPolicy",
        StampedGoalEnv(),
        learning_starts=40,
        batch_size=64,
        policy_kwargs=dict(net_arch=[16]),
        replay_buffer_class=HerReplayBuffer,
        seed=0,
    )
    model.learn(60)
    buffer = model.replay_buffer
    assert isinstance(buffer, IndexedHerReplayBuffer)
    minibatch = model._sample_minibatch(64, defaultdict(list))
    positions = buffer.last_indices
    stamps = minibatch.replay_data.observations["observation"].numpy()  # type: ignore[index]
    np.testing.assert_array_equal(stamps, buffer.observations["observation"][positions, 0])
    th.testing.assert_close(minibatch.head_mask, th.nn.functional.one_hot(th.as_tensor(positions % 3), 3).float())
    # HER relabelled most rows (her_ratio 0.8): their desired goal is no longer the stored one.
    goals = minibatch.replay_data.observations["desired_goal"].numpy()  # type: ignore[index]
    relabelled = (goals != buffer.observations["desired_goal"][positions, 0]).any(axis=1)
    assert 0.6 < relabelled.mean() < 0.95


class SixDimensionalActions(gym.Env):
    """A one-step task with a 6-D action (HalfCheetah's action size) and no MuJoCo."""

    observation_space = spaces.Box(-1.0, 1.0, (3,), np.float32)
    action_space = spaces.Box(-1.0, 1.0, (6,), np.float32)

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        return np.zeros(3, np.float32), {}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        return np.zeros(3, np.float32), 0.0, True, False, {}


@pytest.mark.parametrize("algorithm", [SACM, S2ACM])
def test_target_entropy_is_the_papers_minus_log_action_dimension(algorithm: type) -> None:
    """Baram et al., Fig. 2 caption: the target entropy is -log |A|, |A| the size of the action vector (SAC's is -|A|)."""
    assert algorithm("MlpPolicy", SixDimensionalActions()).target_entropy == pytest.approx(-math.log(6))
    assert algorithm("MlpPolicy", "Pendulum-v1").target_entropy == 0.0  # D = 1
    assert algorithm("MlpPolicy", SixDimensionalActions(), target_entropy=-6.0).target_entropy == -6.0


def test_sacm_actor_loss_gradient_matches_quadrature() -> None:
    """SACM's actor loss, ``sum_i w_i (alpha_i log pi(a_i|s) - Q(s, a_i))`` with ``a_i ~ pi_i`` reparameterized, is an
    unbiased gradient of ``J = sum_i w_i E_{pi_i}[alpha_i log pi(a) - Q(a)]`` (one temperature per component), computed
    by quadrature with torch.distributions on the 1-D bandit; a copy without the reparameterized actions is caught."""
    from stable_baselines3.common.logger import configure
    from torch.distributions import Normal

    from sb3_mixture.diagnostics import flat_gradient
    from tests.bandit import BanditPolicy, q_function, reward

    th.manual_seed(0)
    policy = BanditPolicy.uniform()
    alphas = th.tensor([0.1, 0.2, 0.4], dtype=th.float64)
    model = SACM("MlpPolicy", "Pendulum-v1", policy_kwargs=dict(net_arch=[8]))  # a 1-D action, like the bandit
    model.set_logger(configure(None, []))
    model._component_q_values = lambda critic, observations, actions: q_function(actions)  # type: ignore[method-assign]
    observations = th.zeros(2_000, 3)

    grid = th.linspace(-12.0, 12.0, 200_001, dtype=th.float64)
    components = Normal(policy.mean.view(-1, 1), policy.log_std.exp().view(-1, 1))
    log_mixture_u = th.logsumexp(components.log_prob(grid) - math.log(3), dim=0)
    log_mixture_a = log_mixture_u - th.log1p(-(th.tanh(grid) ** 2))
    integrand = components.log_prob(grid).exp() * (alphas.view(-1, 1) * log_mixture_a - reward(th.tanh(grid)))
    objective = (th.trapezoid(integrand, grid) / 3).sum()
    exact = th.cat([g.flatten() for g in th.autograd.grad(objective, policy.parameters)])

    def z_scores(loss: Any) -> th.Tensor:
        samples = th.stack([flat_gradient(loss(policy.distribution(2_000)), policy.parameters) for _ in range(200)])
        return (samples.mean(dim=0) - exact) / (samples.std(dim=0) / 200**0.5).clamp(min=1e-12)

    z = z_scores(lambda distribution: model._mixture_actor_loss(distribution, observations, alphas).loss)
    assert z.abs().max() < 4.5, z

    def without_reparameterization(distribution: SquashedGaussianMixture) -> th.Tensor:
        actions, gaussian_actions = (value.detach() for value in distribution.rsample_each_component())
        log_probs = distribution.log_prob(actions, gaussian_actions)
        return (distribution.weights * (alphas * log_probs - q_function(actions))).sum(dim=1).mean()

    assert z_scores(without_reparameterization).abs().max() > 10


def test_s2acm_actor_loss_gradient_matches_quadrature_with_each_head() -> None:
    """S2ACM's actor loss trains component i against head i (Eq. 14): with linear heads ``Q_i(s, a) = c_i a`` (each a
    twin pair of one Linear layer, evaluated through the model's own head pass), its gradient is unbiased for
    ``J = sum_i w_i E_{pi_i}[alpha_i log pi(a) - c_i a]``, by quadrature on the 1-D bandit's mixture; a copy that
    evaluates every component on head 0 is caught."""
    from stable_baselines3.common.logger import configure
    from torch.distributions import Normal

    from sb3_mixture.diagnostics import flat_gradient
    from tests.bandit import BanditPolicy

    th.manual_seed(0)
    policy = BanditPolicy.uniform()
    alphas = th.tensor([0.1, 0.2, 0.4], dtype=th.float64)
    slopes = [2.0, -1.0, 0.5]
    model = S2ACM("MlpPolicy", "Pendulum-v1", policy_kwargs=dict(net_arch=[]))
    model.set_logger(configure(None, []))
    with th.no_grad():
        for index, q_net in enumerate(model.critic.q_networks):
            linear = q_net[0]
            assert isinstance(linear, th.nn.Linear)
            linear.weight.zero_()
            linear.bias.zero_()
            linear.weight[0, -1] = slopes[index // 2]  # the action's weight; the observations are zeros anyway
    model.critic.double()
    model.critic.extract_features = lambda obs, extractor: obs  # type: ignore[method-assign]  # SB3 casts to float32
    observations = th.zeros(2_000, 3, dtype=th.float64)

    grid = th.linspace(-12.0, 12.0, 200_001, dtype=th.float64)
    components = Normal(policy.mean.view(-1, 1), policy.log_std.exp().view(-1, 1))
    log_mixture_a = th.logsumexp(components.log_prob(grid) - math.log(3), dim=0) - th.log1p(-(th.tanh(grid) ** 2))
    head_values = th.tensor(slopes, dtype=th.float64).view(-1, 1) * th.tanh(grid)
    integrand = components.log_prob(grid).exp() * (alphas.view(-1, 1) * log_mixture_a - head_values)
    exact = th.cat([g.flatten() for g in th.autograd.grad((th.trapezoid(integrand, grid) / 3).sum(), policy.parameters)])

    def z_scores(loss: Any) -> th.Tensor:
        samples = th.stack([flat_gradient(loss(policy.distribution(2_000)), policy.parameters) for _ in range(200)])
        return (samples.mean(dim=0) - exact) / (samples.std(dim=0) / 200**0.5).clamp(min=1e-12)

    assert z_scores(lambda distribution: model._mixture_actor_loss(distribution, observations, alphas).loss).abs().max() < 4.5

    def every_component_on_head_zero(distribution: SquashedGaussianMixture) -> th.Tensor:
        actions, gaussian_actions = distribution.rsample_each_component()
        log_probs = distribution.log_prob(actions, gaussian_actions)
        q_values = slopes[0] * actions.squeeze(-1)
        return (distribution.weights * (alphas * log_probs - q_values)).sum(dim=1).mean()

    assert z_scores(every_component_on_head_zero).abs().max() > 10
