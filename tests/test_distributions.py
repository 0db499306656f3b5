"""The squashed Gaussian mixture against torch.distributions, quadrature and closed forms."""

import numpy as np
import pytest
import torch as th
from scipy import integrate, stats
from torch.distributions import Categorical, Independent, MixtureSameFamily, Normal, TanhTransform, TransformedDistribution

from sb3_mixture.common.distributions import GaussianMixture, SquashedGaussianMixture, component_separation, weight_entropy


def random_parameters(batch_size: int, n_components: int, action_dim: int, seed: int = 0, dtype=th.float32):
    generator = th.Generator().manual_seed(seed)
    logits = th.randn(batch_size, n_components, generator=generator, dtype=dtype) * 2.0
    mean = th.randn(batch_size, n_components, action_dim, generator=generator, dtype=dtype)
    log_std = th.rand(batch_size, n_components, action_dim, generator=generator, dtype=dtype) * 2.0 - 1.5
    return logits, mean, log_std


def reference(logits: th.Tensor, mean: th.Tensor, log_std: th.Tensor) -> TransformedDistribution:
    """The same distribution assembled from torch.distributions: MixtureSameFamily under a tanh transform."""
    components = Independent(Normal(mean, log_std.exp()), 1)
    return TransformedDistribution(MixtureSameFamily(Categorical(logits=logits), components), [TanhTransform()])


@pytest.mark.parametrize("action_dim", [1, 6, 17])
@pytest.mark.parametrize("n_components", [1, 3, 16])
def test_log_prob_matches_torch_distributions(action_dim: int, n_components: int) -> None:
    # In float64, so that the reference's own atanh round-off does not hide or fake a difference.
    logits, mean, log_std = random_parameters(128, n_components, action_dim, dtype=th.float64)
    expected_distribution = reference(logits, mean, log_std)
    gaussian_actions = expected_distribution.base_dist.sample()
    actions = th.tanh(gaussian_actions)
    expected = expected_distribution.log_prob(actions)

    distribution = SquashedGaussianMixture(action_dim, n_components).proba_distribution(mean, log_std, logits)
    th.testing.assert_close(distribution.log_prob(actions, gaussian_actions), expected, atol=1e-5, rtol=0)
    # Without the pre-tanh value, through the clipped atanh: the same where atanh is well conditioned.
    moderate = gaussian_actions.abs().amax(dim=-1) < 5.0
    th.testing.assert_close(distribution.log_prob(actions)[moderate], expected[moderate], atol=1e-5, rtol=0)
    # The float32 computation the algorithms run agrees to float32 precision.
    distribution32 = SquashedGaussianMixture(action_dim, n_components).proba_distribution(
        mean.float(), log_std.float(), logits.float()
    )
    log_prob32 = distribution32.log_prob(actions.float(), gaussian_actions.float())
    th.testing.assert_close(log_prob32.double(), expected, atol=1e-4, rtol=1e-5)
    # M actions per state at once ([B, M, D]) give the same numbers as one at a time.
    stacked = distribution.log_prob(actions.unsqueeze(1).expand(-1, 2, -1), gaussian_actions.unsqueeze(1).expand(-1, 2, -1))
    th.testing.assert_close(stacked, expected.unsqueeze(1).expand(-1, 2), atol=1e-5, rtol=0)


def test_one_dimensional_density_integrates_to_one() -> None:
    logits, mean, log_std = random_parameters(1, 3, 1, seed=3, dtype=th.float64)
    distribution = SquashedGaussianMixture(1, 3).proba_distribution(mean, log_std, logits)

    def density(action: float) -> float:
        return float(distribution.log_prob(th.tensor([[action]], dtype=th.float64)).exp())

    total, error = integrate.quad(density, -1.0, 1.0, limit=200)
    assert error < 1e-7
    assert total == pytest.approx(1.0, abs=1e-6)


def test_sample_follows_the_mixture() -> None:
    """Kolmogorov-Smirnov test of the pre-tanh samples against the mixture CDF sum_k w_k Phi((u - m_k)/s_k)."""
    th.manual_seed(0)
    logits = th.tensor([[0.5, -0.5, 0.0]])
    mean = th.tensor([[[-1.5], [0.3], [2.0]]])
    log_std = th.tensor([[[-1.0], [-0.5], [-1.2]]])
    n_samples = 20_000
    distribution = SquashedGaussianMixture(1, 3).proba_distribution(
        mean.expand(n_samples, -1, -1), log_std.expand(n_samples, -1, -1), logits.expand(n_samples, -1)
    )
    actions = distribution.sample()
    assert distribution.gaussian_actions is not None
    th.testing.assert_close(actions, th.tanh(distribution.gaussian_actions))
    weights = th.softmax(logits[0], dim=0).numpy()
    means, stds = mean[0, :, 0].numpy(), log_std[0, :, 0].exp().numpy()

    def mixture_cdf(values: np.ndarray) -> np.ndarray:
        return sum(w * stats.norm.cdf(values, m, s) for w, m, s in zip(weights, means, stds, strict=True))

    result = stats.kstest(distribution.gaussian_actions[:, 0].numpy(), mixture_cdf)
    assert result.pvalue > 1e-3
    # The KS test has power: the samples do not follow the equal-weight mixture.
    equal_weights = stats.kstest(
        distribution.gaussian_actions[:, 0].numpy(),
        lambda v: sum(stats.norm.cdf(v, m, s) for m, s in zip(means, stds, strict=True)) / 3,
    )
    assert equal_weights.pvalue < 1e-6


def test_component_samples_carry_the_full_mixture_density() -> None:
    th.manual_seed(1)
    logits, mean, log_std = random_parameters(64, 4, 3, seed=5)
    distribution = SquashedGaussianMixture(3, 4).proba_distribution(mean, log_std, logits)
    actions, log_probs = distribution.rsample_each_component_with_log_prob()
    assert actions.shape == (64, 4, 3) and log_probs.shape == (64, 4)
    expected = reference(logits, mean, log_std)
    for k in range(4):
        th.testing.assert_close(log_probs[:, k], expected.log_prob(actions[:, k]), atol=1e-4, rtol=1e-5)


def test_mode_is_the_squashed_mean_of_the_heaviest_component() -> None:
    logits = th.tensor([[0.0, 2.0, 1.0], [3.0, 0.0, 1.0]])
    mean = th.arange(12, dtype=th.float32).view(2, 3, 2) / 10
    distribution = SquashedGaussianMixture(2, 3).proba_distribution(mean, th.zeros(2, 3, 2), logits)
    th.testing.assert_close(distribution.mode(), th.tanh(th.stack([mean[0, 1], mean[1, 0]])))
    th.testing.assert_close(distribution.get_actions(deterministic=True), distribution.mode())


def test_gaussian_mixture_mode_is_the_heaviest_mean() -> None:
    """PPO's unsquashed mixture: ``predict(deterministic=True)`` acts with the heaviest component's mean, unsquashed."""
    logits = th.tensor([[0.0, 2.0, 1.0], [3.0, 0.0, 1.0]])
    mean = th.arange(12, dtype=th.float32).view(2, 3, 2) / 10
    distribution = GaussianMixture(2, 3).proba_distribution(mean, th.zeros(2, 3, 2), logits)
    th.testing.assert_close(distribution.mode(), th.stack([mean[0, 1], mean[1, 0]]))
    th.testing.assert_close(distribution.get_actions(deterministic=True), distribution.mode())


@pytest.mark.parametrize("log_std_value", [-30.0, 10.0])
def test_finite_at_the_boundaries_and_clamps(log_std_value: float) -> None:
    """Actions at exactly +-1, log-stds beyond the clamps, D = 17 and K = 16: log_prob and its gradient stay finite."""
    action_dim, n_components = 17, 16
    logits, mean, _ = random_parameters(8, n_components, action_dim, seed=2)
    mean = (mean * 5).requires_grad_(True)
    log_std = th.full((8, n_components, action_dim), log_std_value, requires_grad=True)
    distribution = SquashedGaussianMixture(action_dim, n_components).proba_distribution(mean, log_std, logits)
    assert distribution.log_std.min() >= -20 and distribution.log_std.max() <= 2
    actions = th.sign(th.randn(8, action_dim))  # exactly +-1
    log_prob = distribution.log_prob(actions)
    assert th.isfinite(log_prob).all()
    log_prob.sum().backward()
    assert mean.grad is not None and th.isfinite(mean.grad).all()
    # Saturated samples: tanh(u) rounds to +-1 in float32, the kept pre-tanh value keeps log_prob finite.
    saturated = SquashedGaussianMixture(action_dim, n_components).proba_distribution(
        th.full((8, n_components, action_dim), 20.0), th.full((8, n_components, action_dim), -5.0), logits
    )
    actions = saturated.sample()
    assert (actions.abs() == 1).all()
    assert th.isfinite(saturated.log_prob(actions, saturated.gaussian_actions)).all()
    _component_actions, component_log_probs = saturated.rsample_each_component_with_log_prob()
    assert th.isfinite(component_log_probs).all()


def test_mixture_statistics() -> None:
    # Two components of equal weight at tanh-means 0.5 and -0.5 (1-D): separation 1, weight entropy log 2.
    squashed_means = th.tensor([[[0.5], [-0.5]], [[0.2], [0.2]]])
    th.testing.assert_close(weight_entropy(th.zeros(2, 2)), th.full((2,), np.log(2.0), dtype=th.float32))
    th.testing.assert_close(component_separation(squashed_means), th.tensor([1.0, 0.0]))
    # Three components at 0, 3 and 4 on a line: pairs 3, 4, 1 -> mean 8/3; the light one (weight 0.1) is inactive.
    means = th.tensor([[[0.0], [3.0], [4.0]]])
    th.testing.assert_close(component_separation(means), th.tensor([8.0 / 3.0]))
    weights = th.tensor([[0.45, 0.45, 0.1]])
    th.testing.assert_close(component_separation(means, weights, active_threshold=1 / 6), th.tensor([3.0]))
    # Fewer than two active components: 0.
    th.testing.assert_close(component_separation(means, th.tensor([[0.9, 0.05, 0.05]]), 1 / 6), th.tensor([0.0]))
