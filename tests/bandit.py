"""
A 1-D bandit with a known smooth reward, and the exact gradient of the entropy-regularised objective
``J = E_{a~pi}[alpha log pi(a) - r(a)]`` computed by quadrature, independently of the package's code
(torch.distributions for the mixture, the closed-form tanh Jacobian).
"""

from collections.abc import Callable
from dataclasses import dataclass

import torch as th
from torch.distributions import Categorical, MixtureSameFamily, Normal

from sb3_mixture.common.distributions import SquashedGaussianMixture
from sb3_mixture.diagnostics import flat_gradient

ALPHA = 0.2


def reward(actions: th.Tensor) -> th.Tensor:
    """Two bumps of different heights: a higher one at 0.6, a lower one at -0.4."""
    return th.exp(-0.5 * ((actions - 0.6) / 0.1) ** 2) + 0.6 * th.exp(-0.5 * ((actions + 0.4) / 0.15) ** 2)


def q_function(actions: th.Tensor) -> th.Tensor:
    """The bandit's 'critic': the reward itself, on ``[B, M, 1]`` actions, as ``[B, M]``."""
    return reward(actions).squeeze(-1)


@dataclass
class BanditPolicy:
    """Leaf parameters of a K-component 1-D mixture, the same for every 'state'."""

    logits: th.Tensor
    mean: th.Tensor
    log_std: th.Tensor

    @classmethod
    def default(cls) -> "BanditPolicy":
        def leaf(values: list[float]) -> th.Tensor:
            return th.tensor(values, dtype=th.float64, requires_grad=True)

        return cls(leaf([0.3, -0.2, 0.1]), leaf([-0.5, 0.2, 0.9]), leaf([-1.0, -0.7, -1.2]))

    @classmethod
    def uniform(cls) -> "BanditPolicy":
        """The default components with weights fixed to 1/K (the logits are constants, not parameters)."""
        policy = cls.default()
        policy.logits = th.zeros(3, dtype=th.float64)
        return policy

    @property
    def parameters(self) -> list[th.Tensor]:
        """The trainable tensors, in the order logits (if trainable), means, log-stds."""
        return [tensor for tensor in (self.logits, self.mean, self.log_std) if tensor.requires_grad]

    def distribution(self, n_states: int) -> SquashedGaussianMixture:
        """The package's distribution over ``n_states`` identical states (one sample each per estimator call)."""
        n_components = self.logits.shape[0]
        return SquashedGaussianMixture(1, n_components).proba_distribution(
            self.mean.view(1, -1, 1).expand(n_states, -1, -1),
            self.log_std.view(1, -1, 1).expand(n_states, -1, -1),
            self.logits.view(1, -1).expand(n_states, -1),
        )


def exact_gradient(
    policy: BanditPolicy, alpha: float = ALPHA, reward_fn: Callable[[th.Tensor], th.Tensor] = reward
) -> list[th.Tensor]:
    """Gradient of J by trapezoidal quadrature in pre-tanh space (u = atanh a) on a fine grid; ``reward_fn`` maps a 1-D
    grid of actions to their rewards."""
    grid = th.linspace(-12.0, 12.0, 200_001, dtype=th.float64)
    mixture = MixtureSameFamily(Categorical(logits=policy.logits), Normal(policy.mean, policy.log_std.exp()))
    log_density_u = mixture.log_prob(grid)
    log_density_a = log_density_u - th.log1p(-(th.tanh(grid) ** 2))
    integrand = log_density_u.exp() * (alpha * log_density_a - reward_fn(th.tanh(grid)))
    objective = th.trapezoid(integrand, grid)
    return list(th.autograd.grad(objective, policy.parameters))


def sampled_gradients(
    policy: BanditPolicy, loss_fn: Callable[[SquashedGaussianMixture], th.Tensor], n_batches: int, batch_size: int
) -> th.Tensor:
    """``n_batches`` independent gradient estimates, each the mean over ``batch_size`` states: ``[n_batches, n_params]``."""
    return th.stack([flat_gradient(loss_fn(policy.distribution(batch_size)), policy.parameters) for _ in range(n_batches)])


def z_scores(
    policy: BanditPolicy,
    loss_fn: Callable[[SquashedGaussianMixture], th.Tensor],
    n_batches: int = 200,
    batch_size: int = 2_000,
    reward_fn: Callable[[th.Tensor], th.Tensor] = reward,
) -> th.Tensor:
    """Per parameter: (mean of the sampled gradients - exact gradient) / standard error."""
    samples = sampled_gradients(policy, loss_fn, n_batches, batch_size)
    exact = th.cat([g.flatten() for g in exact_gradient(policy, reward_fn=reward_fn)])
    standard_error = samples.std(dim=0) / n_batches**0.5
    return (samples.mean(dim=0) - exact) / standard_error.clamp(min=1e-12)
