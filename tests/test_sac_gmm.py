"""SAC-GMM (Haarnoja et al. 2018, arXiv:1801.01290): the likelihood-ratio loss against the bandit's quadrature
gradient, the regulariser, the deterministic action and the update order."""

import numpy as np
import pytest
import torch as th

from sb3_mixture import SACGMM
from sb3_mixture.sac_gmm import gmm_policy_loss
from tests.bandit import ALPHA, BanditPolicy, exact_gradient, q_function, reward, sampled_gradients, z_scores
from tests.helpers import FAST_KWARGS

Z_LIMIT = 4.5


def soft_value(policy: BanditPolicy, n_samples: int = 200_000) -> float:
    """Monte Carlo ``E_pi[Q(a) - alpha log pi(a)]``: the baseline a perfect value network would output."""
    with th.no_grad():
        distribution = policy.distribution(n_samples)
        actions = distribution.sample()
        log_prob = distribution.log_prob(actions, distribution.gaussian_actions)
        return float((reward(actions).squeeze(-1) - ALPHA * log_prob).mean())


def gmm_loss(baseline: float):  # type: ignore[no-untyped-def]
    def loss(distribution):  # type: ignore[no-untyped-def]
        values = th.full((distribution.mean.shape[0],), baseline, dtype=th.float64)
        return gmm_policy_loss(distribution, q_function, values, ALPHA, regularization_coef=0.0).loss

    return loss


@pytest.mark.parametrize("baseline", ["none", "value", "off"])
def test_likelihood_ratio_with_value_baseline_is_unbiased(baseline: str) -> None:
    """Any state-only baseline keeps the mean: none (0), the soft value, and a deliberately wrong constant."""
    th.manual_seed(0)
    policy = BanditPolicy.default()
    value = {"none": 0.0, "value": soft_value(policy), "off": 3.0}[baseline]
    z = z_scores(policy, gmm_loss(value))
    assert z.abs().max() < Z_LIMIT, f"z-scores per parameter (logits, means, log-stds): {z}"


def test_value_baseline_reduces_the_variance() -> None:
    th.manual_seed(0)
    policy = BanditPolicy.default()
    with_value = sampled_gradients(policy, gmm_loss(soft_value(policy)), 100, 500)
    without = sampled_gradients(policy, gmm_loss(0.0), 100, 500)
    assert with_value.var(dim=0).sum() < 0.8 * without.var(dim=0).sum()


def test_sign_of_the_baseline_matters_for_the_variance_not_the_mean() -> None:
    """``- V`` (the extracted paper text) is unbiased too, but doubles the offset: variance far above ``+ V``."""
    th.manual_seed(0)
    policy = BanditPolicy.default()
    value = soft_value(policy)
    plus = sampled_gradients(policy, gmm_loss(value), 100, 500)
    minus = sampled_gradients(policy, gmm_loss(-value), 100, 500)
    assert plus.var(dim=0).sum() < 0.5 * minus.var(dim=0).sum()


def test_regulariser_gradient() -> None:
    """``c * 0.5 * (mean(log_std^2) + mean(mean^2))`` adds ``c * param / numel`` to the means' and log-stds' gradients."""
    policy = BanditPolicy.default()
    coef, n_states = 0.1, 8

    def gradient(regularization_coef: float) -> list[th.Tensor]:
        th.manual_seed(1)
        distribution = policy.distribution(n_states)
        values = th.zeros(n_states, dtype=th.float64)
        loss = gmm_policy_loss(distribution, q_function, values, ALPHA, regularization_coef).loss
        return list(th.autograd.grad(loss, policy.parameters))

    plain, regularised = gradient(0.0), gradient(coef)
    th.testing.assert_close(regularised[0], plain[0])  # logits untouched
    numel = n_states * policy.mean.numel()
    th.testing.assert_close(regularised[1] - plain[1], coef * policy.mean.detach() * n_states / numel)
    th.testing.assert_close(regularised[2] - plain[2], coef * policy.log_std.detach() * n_states / numel)


def test_exact_gradient_is_not_zero() -> None:
    """Guard: the unbiasedness tests above would pass trivially if the exact gradient were ~0."""
    assert th.cat([g.flatten() for g in exact_gradient(BanditPolicy.default())]).abs().max() > 0.05


def fast_model(**kwargs) -> SACGMM:  # type: ignore[no-untyped-def]
    return SACGMM("MlpPolicy", "Pendulum-v1", **{**FAST_KWARGS, **kwargs}, seed=0)


def test_one_q_network_by_default() -> None:
    model = fast_model()
    assert len(model.critic.q_networks) == 1
    assert model.policy.actor.n_components == 4


def test_deterministic_action_is_the_best_component_mean() -> None:
    model = fast_model()
    model.learn(200)
    observations = np.stack([model.observation_space.sample() for _ in range(16)])
    actions, _ = model.predict(observations, deterministic=True)
    obs_tensor, _ = model.policy.obs_to_tensor(observations)
    with th.no_grad():
        candidates = th.tanh(model.actor.get_distribution(obs_tensor).mean)  # [B, K, 1]
        # Q through the critic's own forward, one component at a time.
        q_values = th.stack([model.critic(obs_tensor, candidates[:, k])[0].squeeze(1) for k in range(4)], dim=1)
    expected = candidates[th.arange(16), q_values.argmax(dim=1)]
    np.testing.assert_allclose(model.policy.scale_action(actions), expected.numpy(), atol=1e-6)


def test_deterministic_selection_by_weight_and_bad_value() -> None:
    model = fast_model(policy_kwargs=dict(net_arch=[32, 32], deterministic_selection="weight"))
    observation = model.observation_space.sample()
    obs_tensor, _ = model.policy.obs_to_tensor(observation)
    with th.no_grad():
        distribution = model.actor.get_distribution(obs_tensor)
        expected = th.tanh(distribution.mean[0, distribution.logits[0].argmax()])
    action, _ = model.predict(observation, deterministic=True)
    np.testing.assert_allclose(model.policy.scale_action(action), expected.numpy(), atol=1e-6)
    with pytest.raises(ValueError, match="deterministic_selection must be one of"):
        fast_model(policy_kwargs=dict(deterministic_selection="best"))


def test_update_order_passes_anomaly_detection() -> None:
    """Each loss is built after the optimiser step it depends on (the authors' code is rejected by PyTorch >= 1.5)."""
    model = fast_model(policy_kwargs=dict(net_arch=[32, 32], n_critics=2), ent_coef="auto")
    with th.autograd.set_detect_anomaly(True):
        model.learn(300)
    assert model.logger.name_to_value["train/value_loss"] > 0


def test_value_target_follows_with_tau() -> None:
    model = fast_model(tau=0.5)
    before = [p.detach().clone() for p in model.policy.value_target.parameters()]
    model.learn(60)  # 10 gradient steps
    after = list(model.policy.value_target.parameters())
    assert any(not th.equal(b, a) for b, a in zip(before, after, strict=True))
    for target, online in zip(after, model.policy.value.parameters(), strict=True):
        assert not th.equal(target, online)


def test_estimator_parameter_is_refused() -> None:
    with pytest.raises(ValueError, match="estimator parameter is not allowed"):
        SACGMM("MlpPolicy", "Pendulum-v1", estimator="mrp")
