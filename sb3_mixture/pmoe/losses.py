"""PMOE's losses (Ren et al. 2021), shared by PMOE-SAC and PMOE-PPO."""

from typing import NamedTuple

import torch as th
from torch.nn import functional as F

from sb3_mixture.common.distributions import SquashedGaussianMixture
from sb3_mixture.common.estimators import QFunction

BACK_PROPAGATION_MODES = ("max", "all")
TARGET_COMPONENTS = ("best", "sampled")


class PMOELosses(NamedTuple):
    primitive: th.Tensor
    """Loss of the components (experts): the best one's (``max``) or the mean of all (``all``)."""
    routing: th.Tensor
    """``MSE(onehot(i*), w(s))``: the frequency-approximate gradient of the gate."""
    best_log_prob: th.Tensor
    """The best component's own log-density at its sample, ``[B]``, detached (for the temperature)."""


def routing_loss(weights: th.Tensor, best: th.Tensor) -> th.Tensor:
    """PMOE's frequency-approximate routing loss ``MSE(onehot(best), w(s))``; its minimiser is the frequency with
    which each component is best (Ren et al. 2021, Theorem 3.1)."""
    return F.mse_loss(weights, F.one_hot(best, weights.shape[-1]).to(weights.dtype))


def pmoe_losses(
    distribution: SquashedGaussianMixture, q_function: QFunction, ent_coef: th.Tensor, back_propagation: str = "max"
) -> PMOELosses:
    """
    PMOE's actor losses (Ren et al. 2021, arXiv:2104.09122, Section 3; docs/algorithms/sac_pmoe.rst) for one minibatch.

    Each component k draws ``a_k`` and is scored with its OWN log-density ``lp_k = log pi_k(a_k|s)``; the best
    component is ``i* = argmax_k [Q(s, a_k) - alpha lp_k]`` (**choice**: the paper's text; the authors' code
    ranked by Q alone). The gate is trained towards the one-hot of ``i*``, whose expectation is the
    frequency with which each component is best (their Theorem 3.1).
    """
    actions, gaussian_actions = distribution.rsample_each_component()
    own_log_probs = distribution.own_log_prob_each_component(gaussian_actions)
    objective = ent_coef * own_log_probs - q_function(actions)  # minimised
    best = objective.detach().argmin(dim=1)
    primitive = objective.mean() if back_propagation == "all" else objective.gather(1, best.unsqueeze(1)).mean()
    routing = routing_loss(distribution.weights, best)
    best_log_prob = own_log_probs.gather(1, best.unsqueeze(1)).squeeze(1).detach()
    return PMOELosses(primitive, routing, best_log_prob)
