"""PPOMixture: exact log-density, unbiased entropy estimate, ratio 1 on fresh data, K = 1 = PPO, and the usual runs."""

from typing import Any

import numpy as np
import pytest
import torch as th
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env
from torch.distributions import Categorical, Independent, MixtureSameFamily, Normal

from sb3_mixture import PPOMixture
from sb3_mixture.common.distributions import GaussianMixture

FAST: dict[str, Any] = dict(n_steps=64, batch_size=32, n_epochs=2, policy_kwargs=dict(net_arch=[32, 32]))


@pytest.mark.parametrize("action_dim,n_components", [(1, 1), (6, 3), (17, 16)])
def test_log_prob_matches_mixture_same_family(action_dim: int, n_components: int) -> None:
    generator = th.Generator().manual_seed(0)
    logits = th.randn(64, n_components, generator=generator, dtype=th.float64)
    mean = th.randn(64, n_components, action_dim, generator=generator, dtype=th.float64)
    log_std = th.rand(64, n_components, action_dim, generator=generator, dtype=th.float64) * 2 - 1.5
    reference = MixtureSameFamily(Categorical(logits=logits), Independent(Normal(mean, log_std.exp()), 1))
    actions = reference.sample()
    distribution = GaussianMixture(action_dim, n_components).proba_distribution(mean, log_std, logits)
    th.testing.assert_close(distribution.log_prob(actions), reference.log_prob(actions), atol=1e-5, rtol=0)


def test_entropy_estimate_is_unbiased() -> None:
    """Mean of the estimate over many draws vs a Monte Carlo entropy -E[log pi(a)], within their standard errors."""
    th.manual_seed(0)
    n_draws = 20_000
    logits, mean, log_std = th.randn(1, 3), th.randn(1, 3, 2), th.rand(1, 3, 2) - 1.0
    distribution = GaussianMixture(2, 3).proba_distribution(
        mean.expand(n_draws, -1, -1), log_std.expand(n_draws, -1, -1), logits.expand(n_draws, -1)
    )
    estimate = distribution.entropy()
    assert estimate is not None
    surprisal = -distribution.log_prob(distribution.sample())
    difference = (estimate.mean() - surprisal.mean()).abs()
    standard_error = (estimate.var() / n_draws + surprisal.var() / n_draws).sqrt()
    assert difference < 4 * standard_error
    # It is differentiable, so PPO's entropy bonus trains weights, means and log-stds through it.
    parameters = [tensor.clone().requires_grad_(True) for tensor in (logits, mean, log_std)]
    small = GaussianMixture(2, 3).proba_distribution(parameters[1], parameters[2], parameters[0])
    differentiable_estimate = small.entropy()
    assert differentiable_estimate is not None
    gradients = th.autograd.grad(differentiable_estimate.sum(), parameters)
    assert all(gradient.abs().sum() > 0 for gradient in gradients)


@pytest.mark.parametrize("ent_coef", [0.0, 0.01])
def test_ratio_is_one_on_the_first_minibatch_after_a_rollout(ent_coef: float) -> None:
    model = PPOMixture("MlpPolicy", make_vec_env("Pendulum-v1", n_envs=2, seed=0), **FAST, ent_coef=ent_coef, seed=0)
    _, callback = model._setup_learn(128, None)
    model.collect_rollouts(model.env, callback, model.rollout_buffer, n_rollout_steps=model.n_steps)  # type: ignore[arg-type]
    rollout = next(model.rollout_buffer.get(model.batch_size))
    model.policy.set_training_mode(True)
    _, log_prob, entropy = model.policy.evaluate_actions(rollout.observations, rollout.actions)
    th.testing.assert_close(th.exp(log_prob - rollout.old_log_prob), th.ones_like(log_prob), atol=1e-6, rtol=0)
    # The entropy estimate is computed only where it enters the loss.
    if ent_coef == 0.0:
        assert entropy is None
    else:
        assert entropy is not None and th.isfinite(entropy).all() and entropy.requires_grad


def test_single_component_reproduces_ppo_log_probabilities() -> None:
    ppo = PPO("MlpPolicy", "Pendulum-v1", policy_kwargs=dict(net_arch=[32, 32], log_std_init=-0.3), seed=0)
    mixture = PPOMixture("MlpPolicy", "Pendulum-v1", policy_kwargs=dict(net_arch=[32, 32], n_components=1), seed=1)
    for name in ("mlp_extractor", "action_net", "value_net"):
        getattr(mixture.policy, name).load_state_dict(getattr(ppo.policy, name).state_dict())
    with th.no_grad():
        mixture.policy.log_std.copy_(ppo.policy.log_std.view(1, -1))
    observations = th.as_tensor(np.stack([ppo.observation_space.sample() for _ in range(64)]))
    actions = th.randn(64, 1) * 2
    ppo_values, ppo_log_prob, _ = ppo.policy.evaluate_actions(observations, actions)
    values, log_prob, _ = mixture.policy.evaluate_actions(observations, actions)
    th.testing.assert_close(log_prob, ppo_log_prob, atol=1e-5, rtol=1e-6)
    th.testing.assert_close(values, ppo_values)


@pytest.mark.parametrize("state_dependent_std", [False, True])
def test_learn_vectorized_and_save_load(state_dependent_std: bool, tmp_path: Any) -> None:
    policy_kwargs = dict(net_arch=[32, 32], n_components=3, state_dependent_std=state_dependent_std)
    model = PPOMixture("MlpPolicy", make_vec_env("Pendulum-v1", n_envs=4, seed=0), **{**FAST, "policy_kwargs": policy_kwargs})
    model.learn(512)
    assert model.num_timesteps == 512
    assert ("train/std" in model.logger.name_to_value) == (not state_dependent_std)
    observations = np.stack([model.observation_space.sample() for _ in range(16)])
    expected, _ = model.predict(observations, deterministic=True)
    model.save(tmp_path / "ppo.zip")
    loaded = PPOMixture.load(tmp_path / "ppo.zip")
    np.testing.assert_array_equal(loaded.predict(observations, deterministic=True)[0], expected)
    assert loaded.policy.n_components == 3 and loaded.policy.state_dependent_std == state_dependent_std


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match=r"use_sde=True \(gSDE\) is not supported"):
        PPOMixture("MlpPolicy", "Pendulum-v1", use_sde=True)
    with pytest.raises(ValueError, match=r"action_space must be a gymnasium\.spaces\.Box"):
        PPOMixture("MlpPolicy", "CartPole-v1")
    with pytest.raises(ValueError, match=r"n_components must be an integer >= 1"):
        PPOMixture("MlpPolicy", "Pendulum-v1", policy_kwargs=dict(n_components=0))
    with pytest.raises(ValueError, match=r"observation contains NaN"):
        PPOMixture("MlpPolicy", "Pendulum-v1").predict(np.array([np.nan, 0.0, 0.0], dtype=np.float32))


def test_entropy_gradient_is_unbiased_against_quadrature() -> None:
    """The gradient of PPOMixture's entropy estimate, averaged over draws, is the gradient of the mixture's entropy
    computed by quadrature with torch.distributions; a copy with detached weights is caught."""
    from sb3_mixture.common.distributions import mixed_marginal_entropy
    from sb3_mixture.diagnostics import flat_gradient

    th.manual_seed(0)
    logits = th.tensor([0.3, -0.2, 0.1], dtype=th.float64, requires_grad=True)
    mean = th.tensor([-0.5, 0.2, 0.9], dtype=th.float64, requires_grad=True)
    log_std = th.tensor([-1.0, -0.7, -1.2], dtype=th.float64, requires_grad=True)
    parameters = [logits, mean, log_std]

    grid = th.linspace(-8.0, 8.0, 100_001, dtype=th.float64)
    log_density = MixtureSameFamily(Categorical(logits=logits), Normal(mean, log_std.exp())).log_prob(grid)
    exact = th.cat([g.flatten() for g in th.autograd.grad(-th.trapezoid(log_density.exp() * log_density, grid), parameters)])

    def distribution(batch_size: int) -> GaussianMixture:
        return GaussianMixture(1, 3).proba_distribution(
            mean.view(1, 3, 1).expand(batch_size, -1, -1),
            log_std.view(1, 3, 1).expand(batch_size, -1, -1),
            logits.view(1, 3).expand(batch_size, -1),
        )

    def z_scores(estimate: Any) -> th.Tensor:
        samples = th.stack([flat_gradient(estimate(distribution(2_000)).mean(), parameters) for _ in range(200)])
        return (samples.mean(dim=0) - exact) / (samples.std(dim=0) / 200**0.5).clamp(min=1e-12)

    z = z_scores(lambda mixture: mixture.entropy())
    print("z-scores (logits, means, log-stds):", z)
    assert z.abs().max() < 4.5

    def detached_weights(mixture: GaussianMixture) -> th.Tensor:
        _, log_probs = mixture.rsample_each_component_with_log_prob()
        return mixed_marginal_entropy(log_probs, mixture.weights.detach())

    mutated = z_scores(detached_weights)
    print("detached weights:", mutated)
    assert mutated.abs().max() > 10  # the logits' gradient is lost: the check sees it
