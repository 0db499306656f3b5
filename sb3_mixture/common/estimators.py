"""
Gradient estimators for the actor of a squashed Gaussian mixture policy (SPEC.md §1).

Every estimator turns a mixture distribution over a batch of states, a critic and the entropy coefficient
into a scalar actor loss whose gradient estimates the gradient of ``E_{a~pi}[alpha log pi(a|s) - Q(s, a)]``,
plus the (detached) log-density estimate that drives the entropy-coefficient update.
"""

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import torch as th

from sb3_mixture.common.distributions import SquashedGaussianMixture

# Maps squashed actions ``[B, M, D]`` to critic values ``[B, M]``.
QFunction = Callable[[th.Tensor], th.Tensor]


@dataclass
class ActorLoss:
    """What an estimator returns for one minibatch."""

    loss: th.Tensor
    """Scalar loss to minimise."""
    entropy_log_prob: th.Tensor
    """Detached estimate of ``log pi`` per state ``[B]``, fed to the entropy-coefficient loss."""


class MixtureEstimator(ABC):
    """Base class of the actor-gradient estimators; ``name`` is the value of ``SACMixture(estimator=...)``."""

    name: ClassVar[str]

    @abstractmethod
    def actor_loss(self, distribution: SquashedGaussianMixture, q_function: QFunction, ent_coef: th.Tensor) -> ActorLoss:
        """
        :param distribution: Mixture over the minibatch states, parameters attached to the actor's graph
        :param q_function: Critic (minimum over the twin critics) evaluated on ``[B, M, D]`` actions
        :param ent_coef: Entropy coefficient alpha (detached)
        """


class MRPEstimator(MixtureEstimator):
    """
    Marginalized reparameterization (MRP), He et al. 2025, "Revisiting Mixture Policies in
    Entropy-Regularized Actor-Critic".

    One reparameterized sample ``a_k`` per component; the expectation over the component index is taken
    exactly: ``loss = mean_s sum_k w_k(s) (alpha L_k - Q(s, a_k))`` with ``L_k`` the full mixture
    log-density at ``a_k``. Gradients reach the weights through the softmax, the components through
    ``a_k`` and the density. Unbiased, low variance, K critic evaluations per state (one batched pass).
    """

    name = "mrp"

    def actor_loss(self, distribution: SquashedGaussianMixture, q_function: QFunction, ent_coef: th.Tensor) -> ActorLoss:
        actions, log_probs = distribution.component_samples()
        weights = distribution.weights
        loss = (weights * (ent_coef * log_probs - q_function(actions))).sum(dim=1).mean()
        return ActorLoss(loss=loss, entropy_log_prob=(weights * log_probs).sum(dim=1).detach())


ESTIMATORS: dict[str, type[MixtureEstimator]] = {estimator.name: estimator for estimator in (MRPEstimator,)}


def make_estimator(name: str, **kwargs: Any) -> MixtureEstimator:
    """Build the estimator called ``name``; raise a ``ValueError`` listing the known names otherwise."""
    if name not in ESTIMATORS:
        raise ValueError(f"Unknown estimator={name!r}; allowed values: {', '.join(repr(key) for key in ESTIMATORS)}")
    return ESTIMATORS[name](**kwargs)
