"""Actor-gradient estimators: unbiasedness against the quadrature gradient of a 1-D bandit, and K = 1 = SAC."""

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from stable_baselines3 import SAC

from sb3_mixture import SACMixture
from sb3_mixture.common.distributions import SquashedGaussianMixture
from sb3_mixture.common.estimators import make_estimator
from tests.bandit import ALPHA, BanditPolicy, exact_gradient, q_function, sampled_gradients, z_scores

# Many parameters are tested at once: 4.5 standard errors keeps false alarms below 1e-4 per test.
Z_LIMIT = 4.5


def estimator_loss(name: str):  # type: ignore[no-untyped-def]
    estimator = make_estimator(name)
    alpha = th.tensor(ALPHA, dtype=th.float64)
    return lambda distribution: estimator.actor_loss(distribution, q_function, alpha).loss


@pytest.mark.parametrize("name", ["mrp", "half_rp", "lr"])
def test_estimator_is_unbiased_on_the_bandit(name: str) -> None:
    th.manual_seed(0)
    z = z_scores(BanditPolicy.default(), estimator_loss(name))
    assert z.abs().max() < Z_LIMIT, f"z-scores per parameter (logits, means, log-stds): {z}"


def test_usgm_rp_is_unbiased_for_fixed_uniform_weights() -> None:
    th.manual_seed(0)
    z = z_scores(BanditPolicy.uniform(), estimator_loss("usgm_rp"))
    assert z.shape == (6,)  # means and log-stds only: the weights are not parameters
    assert z.abs().max() < Z_LIMIT, f"z-scores per parameter (means, log-stds): {z}"


def test_lr_without_baseline_is_unbiased_but_noisier() -> None:
    th.manual_seed(0)
    policy = BanditPolicy.default()
    alpha = th.tensor(ALPHA, dtype=th.float64)
    plain = make_estimator("lr", baseline=False)
    z = z_scores(policy, lambda distribution: plain.actor_loss(distribution, q_function, alpha).loss)
    assert z.abs().max() < Z_LIMIT
    # Measured on this bandit: the leave-one-out baseline cuts the trace of the covariance by ~1.75x.
    with_baseline = sampled_gradients(policy, estimator_loss("lr"), 100, 500)
    without_baseline = sampled_gradients(policy, lambda d: plain.actor_loss(d, q_function, alpha).loss, 100, 500)
    assert with_baseline.var(dim=0).sum() < 0.8 * without_baseline.var(dim=0).sum()


def test_gumbel_rp_components_unbiased_and_logits_bias_pinned() -> None:
    """Straight-through Gumbel-softmax at tau = 1: component gradients unbiased; the logits' bias is the
    figure stated in GumbelRPEstimator's docstring (measured with 400k samples; standard error ~6e-4)."""
    th.manual_seed(0)
    policy = BanditPolicy.default()
    samples = sampled_gradients(policy, estimator_loss("gumbel_rp"), 200, 2_000)
    exact = th.cat([gradient.flatten() for gradient in exact_gradient(policy)])
    standard_error = samples.std(dim=0) / 200**0.5
    z = (samples.mean(dim=0) - exact) / standard_error
    assert z[3:].abs().max() < Z_LIMIT, f"component parameters: {z[3:]}"
    bias = samples.mean(dim=0)[:3] - exact[:3]
    th.testing.assert_close(bias, th.tensor([-0.037, -0.019, 0.056], dtype=th.float64), atol=4e-3, rtol=0)
    # The estimate points against the true logits gradient on this bandit.
    assert th.dot(samples.mean(dim=0)[:3], exact[:3]) < 0


def test_bandit_check_detects_a_biased_estimator() -> None:
    """The same check rejects MRP with the weights detached in front of the sum (a plausible bug: the weights
    then learn only through log pi, whose expected gradient is zero). Detaching the density's parameters inside
    log pi would NOT be caught, rightly: E[grad log pi] = 0 makes that variant unbiased too."""
    th.manual_seed(0)

    def detached_weights_loss(distribution: SquashedGaussianMixture) -> th.Tensor:
        actions, log_probs = distribution.rsample_each_component_with_log_prob()
        return (distribution.weights.detach() * (ALPHA * log_probs - q_function(actions))).sum(dim=1).mean()

    z = z_scores(BanditPolicy.default(), detached_weights_loss)
    assert z[:3].abs().max() > 10  # the logits' gradient


def test_k1_actor_loss_and_gradient_equal_sac() -> None:
    env = gym.make("Pendulum-v1")
    sac = SAC("MlpPolicy", env, policy_kwargs=dict(net_arch=[64, 64]), seed=0)
    mixture = SACMixture("MlpPolicy", env, policy_kwargs=dict(net_arch=[64, 64], n_components=1), seed=1)
    # Same parameters: the SAC actor's trunk and heads, the SAC critic.
    mixture.actor.latent_pi.load_state_dict(sac.actor.latent_pi.state_dict())
    mixture.actor.mu.load_state_dict(sac.actor.mu.state_dict())
    mixture.actor.log_std.load_state_dict(sac.actor.log_std.state_dict())  # type: ignore[attr-defined]
    mixture.critic.load_state_dict(sac.critic.state_dict())
    # SB3 adds 1e-6 inside log(1 - a^2); the package uses the exact Jacobian (see tanh_log_det).
    sac.actor.action_dist.epsilon = 0.0

    observations = th.as_tensor(np.stack([env.observation_space.sample() for _ in range(64)]))
    ent_coef = th.tensor(0.3)

    th.manual_seed(42)  # same noise
    actions_pi, log_prob = sac.actor.action_log_prob(observations)
    min_q = th.cat(sac.critic(observations, actions_pi), dim=1).min(dim=1, keepdim=True).values
    sac_loss = (ent_coef * log_prob.reshape(-1, 1) - min_q).mean()
    sac_loss.backward()

    th.manual_seed(42)
    mixture_loss = mixture._mixture_actor_loss(mixture.actor.get_distribution(observations), observations, ent_coef)
    mixture_loss.loss.backward()

    th.testing.assert_close(mixture_loss.loss, sac_loss, rtol=1e-5, atol=1e-5)
    th.testing.assert_close(mixture_loss.entropy_log_prob, log_prob.detach(), rtol=1e-5, atol=1e-4)
    for name in ("latent_pi", "mu", "log_std"):
        for mixture_param, sac_param in zip(
            getattr(mixture.actor, name).parameters(), getattr(sac.actor, name).parameters(), strict=True
        ):
            th.testing.assert_close(mixture_param.grad, sac_param.grad, rtol=1e-4, atol=1e-6)
    # A single weight has no gradient, and the critic received none from the actor loss.
    assert all(param.grad is None or (param.grad == 0).all() for param in mixture.actor.logits.parameters())
    assert all(param.grad is None for param in mixture.critic.parameters())
