"""
Gradient estimators for the actor of a squashed Gaussian mixture policy (He et al. 2026,
arXiv:2605.09157; docs/algorithms/sac_mixture.rst).

Every estimator turns a mixture distribution over a batch of states, a critic and the entropy coefficient
into a scalar actor loss whose gradient estimates the gradient of ``E_{a~pi}[alpha log pi(a|s) - Q(s, a)]``,
plus the (detached) log-density estimate that drives the entropy-coefficient update.
"""

import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

import torch as th

from sb3_mixture.common.distributions import SquashedGaussianMixture

if TYPE_CHECKING:
    import optuna

# Maps squashed actions ``[B, M, D]`` to critic values ``[B, M]``.
QFunction = Callable[[th.Tensor], th.Tensor]


class ActorLoss(NamedTuple):
    """What an actor loss returns for one minibatch (a NamedTuple: a compiled training step can return it)."""

    loss: th.Tensor
    """Scalar loss to minimise."""
    entropy_log_prob: th.Tensor
    """Detached estimate of ``log pi`` per state ``[B]``, fed to the entropy-coefficient loss."""
    logs: dict[str, th.Tensor] | None = None
    """Further detached scalars to log under ``train/<name>``."""
    mixture: tuple[th.Tensor, th.Tensor, th.Tensor] | None = None
    """The actor's mixture on the minibatch, detached ``(mean, log_std, logits)``, for the logged statistics."""


class MixtureEstimator(ABC):
    """
    Base class of the actor-gradient estimators. A new estimator is a subclass with a ``name`` and a ``zoo_key`` added
    to :data:`ESTIMATORS`: ``SACMixture(estimator=name)`` and ``python -m rl_zoo3.train --algo <zoo_key>`` then run it.
    """

    name: ClassVar[str]
    """The value of ``SACMixture(estimator=...)``."""
    zoo_key: ClassVar[str]
    """The RL Zoo key of ``SACMixture`` with this estimator."""
    learns_weights: ClassVar[bool] = True
    """False where the estimator belongs to a policy whose weights are fixed to 1/K (USGM-RP)."""

    @classmethod
    def sample_kwargs(cls, trial: "optuna.Trial") -> dict[str, Any]:
        """The estimator's own keyword arguments in RL Zoo's hyperparameter search (none by default)."""
        return {}

    @abstractmethod
    def actor_loss(self, distribution: SquashedGaussianMixture, q_function: QFunction, ent_coef: th.Tensor) -> ActorLoss:
        """
        :param distribution: Mixture over the minibatch states, parameters attached to the actor's graph
        :param q_function: Critic (minimum over the twin critics) evaluated on ``[B, M, D]`` actions
        :param ent_coef: Entropy coefficient alpha (detached)
        """


class MRPEstimator(MixtureEstimator):
    """
    Marginalized reparameterization (MRP), He et al. 2026, "Revisiting Mixture Policies in
    Entropy-Regularized Actor-Critic".

    One reparameterized sample ``a_k`` per component; the expectation over the component index is taken
    exactly: ``loss = mean_s sum_k w_k(s) (alpha L_k - Q(s, a_k))`` with ``L_k`` the full mixture
    log-density at ``a_k``. Gradients reach the weights through the softmax, the components through
    ``a_k`` and the density. Unbiased, low variance, K critic evaluations per state (one batched pass).
    """

    name = "mrp"
    zoo_key = "sac_mrp"

    def actor_loss(self, distribution: SquashedGaussianMixture, q_function: QFunction, ent_coef: th.Tensor) -> ActorLoss:
        actions, log_probs = distribution.rsample_each_component_with_log_prob()
        weights = distribution.weights
        loss = (weights * (ent_coef * log_probs - q_function(actions))).sum(dim=1).mean()
        return ActorLoss(loss=loss, entropy_log_prob=(weights * log_probs).sum(dim=1).detach())


class USGMRPEstimator(MRPEstimator):
    """
    USGM-RP, He et al. 2026 (Section 6, after Baram et al. 2021's uniform mixtures): MRP on a mixture whose weights are
    fixed to 1/K. ``SACMixture`` builds the policy with ``uniform_weights=True`` for it, so the logits head is ignored and
    never trained.
    """

    name = "usgm_rp"
    zoo_key = "sac_usgm"
    learns_weights = False


def leave_one_out_mean(values: th.Tensor) -> th.Tensor:
    """For each of the M samples of a state, the mean of the OTHER M - 1 (0 when M = 1); ``[B, M]`` in and out.

    A baseline built only from the other samples is independent of the sample it is subtracted from, so
    the likelihood-ratio gradient stays unbiased."""
    n_samples = values.shape[1]
    if n_samples == 1:
        return th.zeros_like(values)
    return (values.sum(dim=1, keepdim=True) - values) / (n_samples - 1)


class HalfRPEstimator(MixtureEstimator):
    """
    HalfRP, He et al. 2026: reparameterized for the components, likelihood ratio for the weights.

    M component indices ``k_m ~ Cat(w(s))`` per state and one reparameterized action from each;
    ``loss = mean_m [ f(a_m) + stopgrad(f(a_m) - b_m) log w_{k_m}(s) ]`` with ``f = alpha log pi - Q`` and
    ``b_m`` the leave-one-out mean of ``f`` over the state's other samples. Unbiased.

    :param n_samples: M, samples per state (default K, the critic budget of MRP)
    """

    name = "half_rp"
    zoo_key = "sac_halfrp"

    def __init__(self, n_samples: int | None = None):
        self.n_samples = n_samples

    def actor_loss(self, distribution: SquashedGaussianMixture, q_function: QFunction, ent_coef: th.Tensor) -> ActorLoss:
        indices = distribution.sample_component_indices(self.n_samples or distribution.n_components)
        actions, gaussian_actions = distribution.rsample_indexed_components(indices)
        log_probs = distribution.log_prob(actions, gaussian_actions)
        objective = ent_coef * log_probs - q_function(actions)
        advantage = (objective - leave_one_out_mean(objective)).detach()
        log_weights = distribution.log_weights.gather(1, indices)
        loss = (objective + advantage * log_weights).mean()
        return ActorLoss(loss=loss, entropy_log_prob=log_probs.mean(dim=1).detach())


class GumbelRPEstimator(MixtureEstimator):
    """
    GumbelRP, He et al. 2026: straight-through Gumbel-softmax over the components.

    ``y = softmax((logits + g) / tau)``, ``z = onehot(argmax y) + y - stopgrad(y)``, ``a = tanh(sum_k z_k u_k)``,
    ``loss = f(a)``. The forward value is an exact mixture sample, and the gradient of the component
    parameters is unbiased; the logits' gradient is the straight-through surrogate, which is BIASED (measured in
    docs/algorithms/sac_mixture.rst; tests/test_estimators.py pins it).

    :param temperature: tau (the paper found the results insensitive to it; default 1.0)
    """

    name = "gumbel_rp"
    zoo_key = "sac_gumbelrp"

    def __init__(self, temperature: float = 1.0):
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature!r}")
        self.temperature = temperature

    @classmethod
    def sample_kwargs(cls, trial: "optuna.Trial") -> dict[str, Any]:
        """The Gumbel-softmax temperature, log-uniform in [0.1, 10]."""
        return {"temperature": trial.suggest_float("temperature", 0.1, 10.0, log=True)}

    def actor_loss(self, distribution: SquashedGaussianMixture, q_function: QFunction, ent_coef: th.Tensor) -> ActorLoss:
        uniform = th.rand_like(distribution.logits).clamp(min=th.finfo(distribution.logits.dtype).tiny, max=1.0)
        relaxed = th.softmax((distribution.logits - th.log(-th.log(uniform))) / self.temperature, dim=-1)
        hard = th.nn.functional.one_hot(relaxed.argmax(dim=-1), distribution.n_components).to(relaxed.dtype)
        selection = hard + relaxed - relaxed.detach()
        _, component_gaussian_actions = distribution.rsample_each_component()
        gaussian_actions = (selection.unsqueeze(-1) * component_gaussian_actions).sum(dim=1, keepdim=True)  # [B, 1, D]
        actions = th.tanh(gaussian_actions)
        log_probs = distribution.log_prob(actions, gaussian_actions)
        loss = (ent_coef * log_probs - q_function(actions)).mean()
        return ActorLoss(loss=loss, entropy_log_prob=log_probs.mean(dim=1).detach())


class LREstimator(MixtureEstimator):
    """
    LR, likelihood ratio (REINFORCE) with a baseline, He et al. 2026.

    M actions per state from the mixture, with no gradient through them;
    ``loss = mean_m stopgrad(f(a_m) - b_m) log pi(a_m|s)``. The paper's baseline is the mean value of the
    state's samples; here it is the leave-one-out mean, which keeps the estimator unbiased (the
    ``alpha grad log pi`` term inside ``grad f`` has zero mean, so it is left out). High variance.

    :param n_samples: M, samples per state (default K, so every estimator spends the same critic budget)
    :param baseline: Subtract the leave-one-out baseline (False: plain REINFORCE, for variance studies)
    """

    name = "lr"
    zoo_key = "sac_lr"

    def __init__(self, n_samples: int | None = None, baseline: bool = True):
        self.n_samples = n_samples
        self.baseline = baseline

    def actor_loss(self, distribution: SquashedGaussianMixture, q_function: QFunction, ent_coef: th.Tensor) -> ActorLoss:
        n_samples = self.n_samples or distribution.n_components
        if self.baseline and n_samples < 2:
            raise ValueError("The leave-one-out baseline of estimator='lr' needs n_samples >= 2")
        with th.no_grad():
            indices = distribution.sample_component_indices(n_samples)
            actions, gaussian_actions = distribution.rsample_indexed_components(indices)
        log_probs = distribution.log_prob(actions, gaussian_actions)
        with th.no_grad():
            objective = ent_coef * log_probs - q_function(actions)
            if self.baseline:
                objective = objective - leave_one_out_mean(objective)
        loss = (objective * log_probs).mean()
        return ActorLoss(loss=loss, entropy_log_prob=log_probs.mean(dim=1).detach())


ESTIMATORS: dict[str, type[MixtureEstimator]] = {
    estimator.name: estimator for estimator in (MRPEstimator, HalfRPEstimator, GumbelRPEstimator, LREstimator, USGMRPEstimator)
}
"""Every estimator by name, in the order the documentation lists them."""


def estimator_kwarg_names() -> set[str]:
    """The keyword arguments any estimator takes (what RL Zoo's converter routes into ``estimator_kwargs``)."""
    return {name for estimator in ESTIMATORS.values() for name in inspect.signature(estimator.__init__).parameters} - {
        "self",
        "args",
        "kwargs",
    }


def make_estimator(name: str, **kwargs: Any) -> MixtureEstimator:
    """Build the estimator called ``name``; raise a ``ValueError`` listing the known names otherwise."""
    if name not in ESTIMATORS:
        raise ValueError(f"Unknown estimator={name!r}; allowed values: {', '.join(repr(key) for key in ESTIMATORS)}")
    return ESTIMATORS[name](**kwargs)
