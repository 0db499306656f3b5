"""Actor-gradient estimators: unbiasedness against the quadrature gradient of a 1-D bandit (an analytic reward, and each
algorithm's own critic), and K = 1 = SAC, TQC and CrossQ."""

from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from sb3_contrib import TQC, CrossQ
from stable_baselines3 import SAC

from sb3_mixture import CrossQMixture, SACMixture, TQCMixture
from sb3_mixture.common.critic import critic_network_outputs
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


def crossq_bn_modes(model: Any, actor: bool, critic: bool) -> None:
    """CrossQ's modes for its actor loss: the actor's BatchRenorm in training mode, the critics' in evaluation mode."""
    if hasattr(model.critic, "set_bn_training_mode"):
        model.actor.set_bn_training_mode(actor)
        model.critic.set_bn_training_mode(critic)


def reference_actor_value(reference: Any, observations: th.Tensor, actions: th.Tensor) -> th.Tensor:
    """The reference algorithm's own actor value, as its train() writes it: SAC's and CrossQ's minimum over the
    critics, TQC's mean over every critic's quantiles."""
    if isinstance(reference, TQC):
        return reference.critic(observations, actions).mean(dim=2).mean(dim=1, keepdim=True)
    return th.cat(reference.critic(observations, actions), dim=1).min(dim=1, keepdim=True).values


@pytest.mark.parametrize("reference_class,mixture_class", [(SAC, SACMixture), (TQC, TQCMixture), (CrossQ, CrossQMixture)])
def test_k1_actor_loss_and_gradient_equal_the_reference_algorithms(reference_class: Any, mixture_class: Any) -> None:
    env = gym.make("Pendulum-v1")
    reference = reference_class("MlpPolicy", env, policy_kwargs=dict(net_arch=[64, 64]), seed=0)
    mixture = mixture_class("MlpPolicy", env, policy_kwargs=dict(net_arch=[64, 64], n_components=1), seed=1)
    # Same parameters: the reference actor's trunk (with CrossQ's BatchRenorm statistics) and heads, its critic.
    mixture.actor.latent_pi.load_state_dict(reference.actor.latent_pi.state_dict())
    mixture.actor.mu.load_state_dict(reference.actor.mu.state_dict())
    mixture.actor.log_std.load_state_dict(reference.actor.log_std.state_dict())  # type: ignore[attr-defined]
    mixture.critic.load_state_dict(reference.critic.state_dict())
    # SB3 adds 1e-6 inside log(1 - a^2); the package uses the exact Jacobian (see tanh_log_det).
    reference.actor.action_dist.epsilon = 0.0

    # Seeded: SB3's log-density takes log(1 - a^2) from the float32 action, which rounds to +-1 for a saturated sample
    # (|u| > ~9); the package's exact Jacobian uses the pre-tanh sample. An unseeded draw met such a row once (CrossQ).
    env.observation_space.seed(0)
    observations = th.as_tensor(np.stack([env.observation_space.sample() for _ in range(64)]))
    ent_coef = th.tensor(0.3)

    crossq_bn_modes(reference, actor=True, critic=False)
    th.manual_seed(42)  # same noise
    actions_pi, log_prob = reference.actor.action_log_prob(observations)
    reference_loss = (ent_coef * log_prob.reshape(-1, 1) - reference_actor_value(reference, observations, actions_pi)).mean()
    reference_loss.backward()

    crossq_bn_modes(mixture, actor=True, critic=False)
    th.manual_seed(42)
    mixture_loss = mixture._mixture_actor_loss(mixture.actor.get_distribution(observations), observations, ent_coef)
    mixture_loss.loss.backward()

    th.testing.assert_close(mixture_loss.loss, reference_loss, rtol=1e-5, atol=1e-5)
    th.testing.assert_close(mixture_loss.entropy_log_prob, log_prob.detach(), rtol=1e-5, atol=1e-4)
    for name in ("latent_pi", "mu", "log_std"):
        for mixture_param, reference_param in zip(
            getattr(mixture.actor, name).parameters(), getattr(reference.actor, name).parameters(), strict=True
        ):
            # atol: CrossQ's batch statistics add float32 rounding of 1e-6 to gradients of order 1e-2.
            th.testing.assert_close(mixture_param.grad, reference_param.grad, rtol=1e-4, atol=1e-5)
    # A single weight has no gradient, and the critic received none from the actor loss.
    assert all(param.grad is None or (param.grad == 0).all() for param in mixture.actor.logits.parameters())
    assert all(param.grad is None for param in mixture.critic.parameters())


def critic_bandit(mixture_class: Any, precision: str = "fp32") -> tuple[Any, th.Tensor]:
    """A model on Pendulum (1-D actions) whose critic, at one fixed state, is the bandit's reward: its action
    inputs and outputs scaled up so the values bend and vary over the actions by units (a fresh critic is nearly flat
    and straight), and CrossQ's
    critics in evaluation mode (as in its actor loss). Returns the model and the state."""
    model = mixture_class("MlpPolicy", "Pendulum-v1", policy_kwargs=dict(net_arch=[64, 64]), seed=0, precision=precision)
    crossq_bn_modes(model, actor=False, critic=False)
    with th.no_grad():
        for network in model.critic.q_networks:
            first = next(module for module in network if isinstance(module, th.nn.Linear))
            first.weight[:, -1].mul_(20.0)  # the action's column: kinks inside [-1, 1]
            network[-1].weight.mul_(30.0)
    model.observation_space.seed(0)
    return model, th.as_tensor(model.observation_space.sample()).unsqueeze(0)


def critic_reward(model: Any, state: th.Tensor) -> Any:
    """The algorithm's own actor value of ``[N]`` actions at ``state``, computed with its critic's forward pass."""

    def reward_fn(actions: th.Tensor) -> th.Tensor:
        values = []
        with th.no_grad():
            for chunk in actions.split(50_000):
                observations = state.expand(len(chunk), -1)
                values.append(reference_actor_value(model, observations, chunk.unsqueeze(-1).float()).squeeze(-1))
        return th.cat(values).double()

    return reward_fn


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("mixture_class", [SACMixture, TQCMixture, CrossQMixture])
def test_mrp_is_unbiased_through_each_critic(mixture_class: Any, precision: str) -> None:
    """The estimator scored by the algorithm's critic (``_actor_q_values``: SAC's and CrossQ's minimum, TQC's quantile
    mean, on detached weights) against the quadrature gradient of the same critic's values at one state. In bf16 the
    critic's hidden products round (tests/test_precision.py), in its values and its backward pass alike: the same
    limit holds, the rounding being far below the estimate's standard error."""
    model, state = critic_bandit(mixture_class, precision)
    alpha = th.tensor(ALPHA, dtype=th.float64)
    estimator = make_estimator("mrp")

    def loss(distribution: SquashedGaussianMixture) -> th.Tensor:
        observations = state.expand(distribution.logits.shape[0], -1)
        # The critic runs in float32, as in training; the bandit's actions and gradients stay in float64.
        return estimator.actor_loss(
            distribution, lambda a: model._actor_q_values(observations, a.float()).double(), alpha
        ).loss

    th.manual_seed(0)
    reward_fn = critic_reward(model, state)
    grid = th.linspace(-1, 1, 201, dtype=th.float64)
    assert reward_fn(grid).max() - reward_fn(grid).min() > 1.0  # the critic is not flat: the test has power
    z = z_scores(BanditPolicy.default(), loss, n_batches=100, batch_size=1_000, reward_fn=reward_fn)
    assert z.abs().max() < Z_LIMIT, f"z-scores per parameter (logits, means, log-stds): {z}"


def test_critic_bandit_detects_the_wrong_critic_value() -> None:
    """The same check rejects TQC's mixture scored by its first critic alone (a plausible slip: TQC's value is the
    mean over every critic's quantiles)."""
    model, state = critic_bandit(TQCMixture)
    alpha = th.tensor(ALPHA, dtype=th.float64)
    estimator = make_estimator("mrp")

    def first_critic_loss(distribution: SquashedGaussianMixture) -> th.Tensor:
        observations = state.expand(distribution.logits.shape[0], -1)
        features = model.critic.extract_features(observations, model.critic.features_extractor)

        def q_function(actions: th.Tensor) -> th.Tensor:
            return critic_network_outputs(model.critic.q_networks[:1], features, actions.float()).mean(dim=(2, 3)).double()

        return estimator.actor_loss(distribution, q_function, alpha).loss

    th.manual_seed(0)
    z = z_scores(
        BanditPolicy.default(), first_critic_loss, n_batches=100, batch_size=1_000, reward_fn=critic_reward(model, state)
    )
    assert z.abs().max() > 10
