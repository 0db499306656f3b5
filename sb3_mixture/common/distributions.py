"""Squashed Gaussian mixture distribution in SB3's ``Distribution`` interface (docs/guide/mixture.rst)."""

import math
from typing import TypeVar

import torch as th
from stable_baselines3.common.distributions import Distribution, TanhBijector
from torch import nn
from torch.nn import functional as F

SelfGaussianMixture = TypeVar("SelfGaussianMixture", bound="GaussianMixture")

# Same clamps as SB3's SAC actor.
LOG_STD_MIN = -20.0
LOG_STD_MAX = 2.0
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
_LOG_2 = math.log(2.0)


def gaussian_log_density(value: th.Tensor, mean: th.Tensor, log_std: th.Tensor) -> th.Tensor:
    """Log-density of a diagonal Gaussian, summed over the last (action) dimension; inputs broadcast."""
    z = (value - mean) * th.exp(-log_std)
    return (-0.5 * z.square() - log_std).sum(dim=-1) - value.shape[-1] * _HALF_LOG_2PI


def tanh_log_det(gaussian_actions: th.Tensor) -> th.Tensor:
    """
    ``sum_d log(1 - tanh(u_d)^2)``, the log-Jacobian of tanh at the pre-tanh value ``u``, summed over the
    last dimension, computed exactly as ``2 (log 2 - u - softplus(-2u))``.

    SB3 (and the papers' code) use ``log(1 - a^2 + 1e-6)`` instead. That form is off by up to
    ``D * 1e-6 / (1 - a^2)`` (4e-3 at D = 17 for ordinary parameters), so the density would not integrate
    to 1 nor match ``torch.distributions``, and its gradient vanishes for saturated actions (``|u| > 7``),
    where the exact form keeps pulling ``u`` back. Setting SB3's ``epsilon`` to 0 reproduces this value.
    """
    return (2.0 * (_LOG_2 - gaussian_actions - F.softplus(-2.0 * gaussian_actions))).sum(dim=-1)


class GaussianMixture(Distribution):
    """
    Mixture of K diagonal Gaussians with state-dependent weights (unsquashed, for PPO; docs/algorithms/ppo_mixture.rst).

    Parameters per state: ``logits[B, K]``, ``mean[B, K, D]``, ``log_std[B, K, D]`` (clamped to ``[-20, 2]``).
    ``log_prob`` is exact: ``logsumexp_k(log w_k + log N(a; mean_k, std_k))``. ``entropy()`` has no closed
    form and returns the low-variance differentiable estimate ``-sum_k w_k log pi(a_k|s)`` with one
    reparameterized sample per component: its expectation is the mixture's entropy exactly
    (``sum_k w_k E_{pi_k}[-log pi] = E_pi[-log pi]``), so it is unbiased, and stratified over the components.

    :class:`SquashedGaussianMixture` is the same mixture followed by tanh; the hooks ``squash``,
    ``unsquash`` and ``log_det`` are all that differ.

    :param action_dim: Dimension D of the action space
    :param n_components: Number K of mixture components
    """

    logits: th.Tensor
    mean: th.Tensor
    log_std: th.Tensor

    def __init__(self, action_dim: int, n_components: int, estimate_entropy: bool = True):
        super().__init__()
        self.estimate_entropy = estimate_entropy
        if n_components < 1:
            raise ValueError(f"n_components must be an integer >= 1, got {n_components!r}")
        self.action_dim = action_dim
        self.n_components = n_components
        self.gaussian_actions: th.Tensor | None = None

    def proba_distribution_net(  # type: ignore[override]
        self, latent_dim: int, log_std_init: float = 0.0, state_dependent_std: bool = False
    ) -> tuple[nn.Linear, nn.Linear, nn.Module | nn.Parameter]:
        """
        Heads for PPO: logits ``[K]`` and means ``[K*D]`` from the latent vector; log-stds either a
        state-independent parameter ``[K, D]`` (PPO's usual) or a third linear head ``[K*D]``.

        :return: (logits head, mean head, log-std parameter or head)
        """
        logits = nn.Linear(latent_dim, self.n_components)
        mean = nn.Linear(latent_dim, self.n_components * self.action_dim)
        if state_dependent_std:
            return logits, mean, nn.Linear(latent_dim, self.n_components * self.action_dim)
        return logits, mean, nn.Parameter(th.full((self.n_components, self.action_dim), float(log_std_init)))

    def squash(self, gaussian_actions: th.Tensor) -> th.Tensor:
        """Map from the Gaussian space to actions (identity here, tanh for the squashed mixture)."""
        return gaussian_actions

    def unsquash(self, actions: th.Tensor) -> th.Tensor:
        """Inverse of :meth:`squash`."""
        return actions

    def log_det(self, gaussian_actions: th.Tensor) -> th.Tensor:
        """``log |d squash / du|`` summed over the action dimension (0 here)."""
        return gaussian_actions.new_zeros(gaussian_actions.shape[:-1])

    def proba_distribution(  # type: ignore[override]
        self: SelfGaussianMixture, mean_actions: th.Tensor, log_std: th.Tensor, logits: th.Tensor
    ) -> SelfGaussianMixture:
        """
        Set the parameters. Argument order follows SB3's Gaussian distributions, the logits come last.

        :param mean_actions: Component means ``[B, K, D]`` (pre-tanh)
        :param log_std: Component log-stds ``[B, K, D]``, clamped here to ``[-20, 2]``
        :param logits: Unnormalised log-weights ``[B, K]``
        """
        self.mean = mean_actions
        self.log_std = log_std.clamp(LOG_STD_MIN, LOG_STD_MAX)
        self.logits = logits
        self.gaussian_actions = None
        return self

    @property
    def log_weights(self) -> th.Tensor:
        """``log w = log_softmax(logits)``, shape ``[B, K]``."""
        return th.log_softmax(self.logits, dim=-1)

    @property
    def weights(self) -> th.Tensor:
        """``w = softmax(logits)``, shape ``[B, K]``."""
        return th.softmax(self.logits, dim=-1)

    def gaussian_log_prob(self, gaussian_actions: th.Tensor) -> th.Tensor:
        """
        Mixture log-density of pre-tanh values, without the tanh correction.

        :param gaussian_actions: ``[B, D]`` (one value per state) or ``[B, M, D]`` (M values per state)
        :return: ``[B]`` or ``[B, M]``
        """
        # Written with few tensor ops: PPO calls this once per environment step on a single observation,
        # where each op costs microseconds whatever its size.
        log_norm = self.log_weights - self.log_std.sum(dim=-1)  # log w_k - sum_d log std_kd, [B, K]
        mean, log_std = self.mean, self.log_std
        if gaussian_actions.dim() == 3:  # [B, M, 1, D] against [B, 1, K, D]
            mean, log_std, log_norm = mean[:, None], log_std[:, None], log_norm[:, None]
        z = (gaussian_actions.unsqueeze(-2) - mean) * th.exp(-log_std)
        return th.logsumexp(log_norm - 0.5 * z.square().sum(dim=-1), dim=-1) - self.action_dim * _HALF_LOG_2PI

    def log_prob(self, actions: th.Tensor, gaussian_actions: th.Tensor | None = None) -> th.Tensor:
        """
        Mixture log-density of actions (no squashing here, so ``gaussian_actions`` are the actions).

        :param actions: ``[B, D]`` or ``[B, M, D]``
        :param gaussian_actions: Unused here; :class:`SquashedGaussianMixture` takes the pre-tanh values
        :return: ``[B]`` or ``[B, M]``
        """
        return self.gaussian_log_prob(actions)

    def entropy(self) -> th.Tensor | None:
        """Unbiased differentiable estimate ``-sum_k w_k log pi(a_k|s)``, one reparameterized sample per component,
        or ``None`` when ``estimate_entropy`` is off (PPO with ``ent_coef=0`` only logs it)."""
        if not self.estimate_entropy:
            return None
        _, log_probs = self.rsample_each_component_with_log_prob()
        return mixed_marginal_entropy(log_probs, self.weights)

    def sample_component_indices(self, n_samples: int | None = None) -> th.Tensor:
        """Component indices drawn from ``Cat(w)``: shape ``[B]``, or ``[B, n_samples]`` (with replacement)."""
        if n_samples is None:
            # Gumbel-max, argmax_k(logits_k + G_k) ~ Cat(w): a quarter of multinomial's cost for one state.
            return (self.logits - th.empty_like(self.logits).exponential_().log()).argmax(dim=-1)
        return th.multinomial(self.weights, num_samples=n_samples, replacement=True)

    def rsample_indexed_components(self, indices: th.Tensor) -> tuple[th.Tensor, th.Tensor]:
        """
        One reparameterized sample from each indexed component.

        :param indices: Component indices ``[B, M]``
        :return: squashed actions and pre-tanh values, both ``[B, M, D]``
        """
        index = indices.unsqueeze(-1).expand(-1, -1, self.action_dim)
        mean, log_std = self.mean.gather(1, index), self.log_std.gather(1, index)
        gaussian_actions = mean + log_std.exp() * th.randn_like(mean)
        return self.squash(gaussian_actions), gaussian_actions

    def sample(self) -> th.Tensor:
        """One action per state from the mixture; the pre-tanh value is kept in ``gaussian_actions``."""
        if self.n_components == 1:
            # No component to draw: skip the categorical draw so K = 1 costs (and samples) what SAC does.
            mean, log_std = self.mean[:, 0], self.log_std[:, 0]
            self.gaussian_actions = mean + log_std.exp() * th.randn_like(mean)
        else:
            # Drawing from every component and keeping one takes fewer ops than gathering the parameters first.
            component_actions = self.mean + self.log_std.exp() * th.randn_like(self.mean)
            index = self.sample_component_indices()[:, None, None].expand(-1, 1, self.action_dim)
            self.gaussian_actions = component_actions.gather(1, index).squeeze(1)
        return self.squash(self.gaussian_actions)

    def mode(self) -> th.Tensor:
        """(Squashed) mean of the highest-weight component."""
        index = self.logits.argmax(dim=-1)[:, None, None].expand(-1, 1, self.action_dim)
        self.gaussian_actions = self.mean.gather(1, index).squeeze(1)
        return self.squash(self.gaussian_actions)

    def rsample_each_component(self) -> tuple[th.Tensor, th.Tensor]:
        """
        One reparameterized sample per component.

        :return: squashed actions ``a_k`` and pre-tanh values ``u_k``, both ``[B, K, D]``
        """
        gaussian_actions = self.mean + self.log_std.exp() * th.randn_like(self.mean)
        return self.squash(gaussian_actions), gaussian_actions

    def rsample_each_component_with_log_prob(self) -> tuple[th.Tensor, th.Tensor]:
        """
        One reparameterized sample per component and the FULL mixture log-density at each.

        :return: actions ``a_k`` ``[B, K, D]`` and ``L_k = log pi(a_k|s)`` ``[B, K]``
        """
        actions, gaussian_actions = self.rsample_each_component()
        return actions, self.log_prob(actions, gaussian_actions)

    def own_log_prob_each_component(self, gaussian_actions: th.Tensor) -> th.Tensor:
        """``log pi_k(a_k|s)``: each component's OWN log-density at its own sample ``[B, K, D]`` -> ``[B, K]``."""
        return gaussian_log_density(gaussian_actions, self.mean, self.log_std) - self.log_det(gaussian_actions)

    def actions_from_params(  # type: ignore[override]
        self, mean_actions: th.Tensor, log_std: th.Tensor, logits: th.Tensor, deterministic: bool = False
    ) -> th.Tensor:
        self.proba_distribution(mean_actions, log_std, logits)
        return self.get_actions(deterministic=deterministic)

    def log_prob_from_params(  # type: ignore[override]
        self, mean_actions: th.Tensor, log_std: th.Tensor, logits: th.Tensor
    ) -> tuple[th.Tensor, th.Tensor]:
        actions = self.actions_from_params(mean_actions, log_std, logits)
        return actions, self.log_prob(actions, self.gaussian_actions)


class SquashedGaussianMixture(GaussianMixture):
    """
    Mixture of K diagonal Gaussians followed by tanh, with state-dependent weights (docs/guide/mixture.rst).

    The log-density of a squashed action is ``logsumexp_k(log w_k + log N(u; mean_k, std_k)) - sum_d log(1 - a_d^2)``
    with ``u = atanh(a)``: the tanh Jacobian is the same for every component, so it is subtracted once. The
    Jacobian term is exact (see :func:`tanh_log_det` for why not SB3's ``+ 1e-6`` form).

    ``sample()`` draws one component per state and keeps its pre-tanh value, so ``log_prob`` of that sample
    never goes through ``atanh`` of a clipped action. ``rsample_each_component_with_log_prob()`` draws one
    reparameterized sample per component and the full mixture log-density at each, which is what the MRP estimator
    needs.
    ``entropy()`` returns ``None``, as SB3's squashed Gaussian does (SAC estimates it from log-probabilities).

    :param action_dim: Dimension D of the action space
    :param n_components: Number K of mixture components
    """

    def proba_distribution_net(self, latent_dim: int) -> tuple[nn.Linear, nn.Linear, nn.Linear]:  # type: ignore[override]
        """
        Create the three heads that map a latent vector to the mixture parameters.

        :param latent_dim: Dimension of the last layer of the policy network
        :return: (logits head [K], mean head [K*D], log-std head [K*D])
        """
        logits = nn.Linear(latent_dim, self.n_components)
        mean = nn.Linear(latent_dim, self.n_components * self.action_dim)
        log_std = nn.Linear(latent_dim, self.n_components * self.action_dim)
        return logits, mean, log_std

    def squash(self, gaussian_actions: th.Tensor) -> th.Tensor:
        return th.tanh(gaussian_actions)

    def unsquash(self, actions: th.Tensor) -> th.Tensor:
        # Clipped inverse: an action of exactly +-1 maps to a finite u (about +-8.3 in float32).
        return TanhBijector.inverse(actions)

    def log_det(self, gaussian_actions: th.Tensor) -> th.Tensor:
        return tanh_log_det(gaussian_actions)

    def log_prob(self, actions: th.Tensor, gaussian_actions: th.Tensor | None = None) -> th.Tensor:
        """
        Mixture log-density of squashed actions in ``[-1, 1]``.

        :param actions: ``[B, D]`` or ``[B, M, D]``
        :param gaussian_actions: The pre-tanh values of ``actions`` when known (avoids atanh of +-1)
        :return: ``[B]`` or ``[B, M]``
        """
        if gaussian_actions is None:
            gaussian_actions = self.unsquash(actions)
        return self.gaussian_log_prob(gaussian_actions) - self.log_det(gaussian_actions)

    def entropy(self) -> th.Tensor | None:
        return None


def mixed_marginal_entropy(log_probs: th.Tensor, weights: th.Tensor) -> th.Tensor:
    """
    Baram et al.'s mixture-entropy estimate (their Eq. 8) from one sample per component:
    ``H_hat(s) = -sum_i w_i log sum_j w_j pi_j(a_i|s)``, with ``a_i ~ pi_i``.

    :param log_probs: ``L_i = log pi(a_i|s)``, the full mixture density at component i's sample, ``[B, K]``
    :param weights: ``w``, ``[B, K]``
    :return: ``[B]``; its expectation is the mixture's entropy, which lies between ``sum_i w_i H(pi_i)`` and
        that plus ``H(w)`` (Kolchinsky-Tracey bounds)
    """
    return -(weights * log_probs).sum(dim=-1)


def weight_entropy(logits: th.Tensor) -> th.Tensor:
    """Entropy of the mixture weights per state, ``H(w(s))``, shape ``[B]``."""
    log_weights = th.log_softmax(logits, dim=-1)
    return -(log_weights.exp() * log_weights).sum(dim=-1)


def component_separation(
    squashed_means: th.Tensor, weights: th.Tensor | None = None, active_threshold: float | None = None
) -> th.Tensor:
    """
    Mean pairwise Euclidean distance between the squashed component means, per state.

    With ``weights`` and ``active_threshold``, only pairs of components whose weights both exceed the
    threshold count ("active component separation"); a state with fewer than two active components scores 0.

    :param squashed_means: ``tanh(mean)``, shape ``[B, K, D]``
    :return: shape ``[B]``
    """
    n_components = squashed_means.shape[1]
    distances = th.cdist(squashed_means, squashed_means)  # [B, K, K]
    pair_mask = th.ones(n_components, n_components, dtype=th.bool, device=distances.device).triu(diagonal=1)
    pair_mask = pair_mask.expand_as(distances)
    if weights is not None and active_threshold is not None:
        active = weights > active_threshold
        pair_mask = pair_mask & active.unsqueeze(2) & active.unsqueeze(1)
    n_pairs = pair_mask.sum(dim=(1, 2))
    total = (distances * pair_mask).sum(dim=(1, 2))
    return th.where(n_pairs > 0, total / n_pairs.clamp(min=1), th.zeros_like(total))


def mixture_statistics(distribution: GaussianMixture) -> dict[str, float]:
    """
    The mixture statistics the MRP paper plots, averaged over the distribution's states: ``weight_entropy`` (entropy of
    the weights), ``component_separation`` (mean pairwise distance between the component means, squashed for a squashed
    mixture) and ``active_component_separation`` (the same over the components whose weight exceeds ``1/(2K)``).
    """
    with th.no_grad():
        means = distribution.squash(distribution.mean)
        active_threshold = 1.0 / (2 * distribution.n_components)
        return {
            "weight_entropy": float(weight_entropy(distribution.logits).mean()),
            "component_separation": float(component_separation(means).mean()),
            "active_component_separation": float(component_separation(means, distribution.weights, active_threshold).mean()),
        }
