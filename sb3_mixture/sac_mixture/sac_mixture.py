from typing import Any

import torch as th
from stable_baselines3.common.type_aliases import GymEnv, PyTorchObs

from sb3_mixture.common.critic import min_critic_values
from sb3_mixture.common.distributions import SquashedGaussianMixture
from sb3_mixture.common.estimators import ActorLoss, MixtureEstimator, make_estimator
from sb3_mixture.common.sac_family import SACFamily
from sb3_mixture.common.sac_policies import MixtureSACPolicy


class SACMixture(SACFamily):
    """
    Soft Actor-Critic with a squashed Gaussian mixture policy, trained by one of the actor-gradient estimators.

    Paper: He et al. 2026, "Revisiting Mixture Policies in Entropy-Regularized Actor-Critic"
    (marginalized reparameterization, MRP). The critic, its target and the entropy-coefficient tuning are
    SAC's; only the actor loss changes, and it comes from the chosen gradient estimator
    (:mod:`sb3_mixture.common.estimators`). With ``n_components=1`` and ``estimator="mrp"`` this is SAC.

    Steps overridden (:class:`~sb3_mixture.common.sac_family.SACFamily`): :meth:`_mixture_actor_loss`, the estimator's
    loss. The critic target uses one action ``a' ~ pi(.|s')`` and its mixture log-density, as SAC does. The entropy
    coefficient is tuned against the target ``-D`` with the estimator's log-density estimate (for MRP
    ``sum_k w_k L_k``).

    Logged each update, from the last minibatch: ``train/weight_entropy`` (entropy of the mixture
    weights), ``train/component_separation`` (mean pairwise distance between the squashed component means)
    and ``train/active_component_separation`` (the same over components whose weight exceeds ``1/(2K)``).

    :param policy: The policy model to use (MlpPolicy, CnnPolicy, MultiInputPolicy); set the number of
        components with ``policy_kwargs=dict(n_components=K)`` (default 5)
    :param env: The environment to learn from (if registered in Gym, can be str)
    :param estimator: Actor-gradient estimator: ``"mrp"`` (default), ``"half_rp"``, ``"gumbel_rp"``, ``"lr"``,
        ``"usgm_rp"``; see :mod:`sb3_mixture.common.estimators`
    :param estimator_kwargs: Keyword arguments of the estimator
    :param compile: As :class:`~sb3_mixture.common.sac_family.SACFamily`
    :param args: Positional parameters of :class:`stable_baselines3.SAC`, in SAC's order
    :param kwargs: Keyword parameters of :class:`stable_baselines3.SAC` (``use_sde`` must stay False)
    """

    def __init__(
        self,
        policy: str | type[MixtureSACPolicy],
        env: GymEnv | str,
        *args: Any,
        estimator: str = "mrp",
        estimator_kwargs: dict[str, Any] | None = None,
        compile: bool = False,
        **kwargs: Any,
    ):
        self.estimator = estimator
        self.estimator_kwargs = estimator_kwargs or {}
        # Fail on a bad name before any environment or network is built.
        self._estimator = make_estimator(self.estimator, **self.estimator_kwargs)
        super().__init__(policy, env, *args, compile=compile, **kwargs)

    def _fixed_policy_kwargs(self) -> dict[str, Any]:
        fixed = super()._fixed_policy_kwargs()
        if not self._estimator.learns_weights:
            fixed["uniform_weights"] = True
        return fixed

    def _description(self) -> str:
        return f"{type(self).__name__}(estimator={self.estimator!r})"

    def _setup_model(self) -> None:
        super()._setup_model()
        self._estimator = make_estimator(self.estimator, **self.estimator_kwargs)

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "_estimator"]

    def _mixture_actor_loss(
        self, distribution: SquashedGaussianMixture, observations: PyTorchObs, ent_coef: th.Tensor
    ) -> ActorLoss:
        return self.estimator_actor_loss(self._estimator, distribution, observations, ent_coef)

    def estimator_actor_loss(
        self, estimator: MixtureEstimator, distribution: SquashedGaussianMixture, observations: PyTorchObs, ent_coef: th.Tensor
    ) -> ActorLoss:
        """``estimator``'s actor loss of the mixture at ``observations`` against this model's critic (the model's own
        estimator in training; any other where diagnostics compare them). The critic's values carry no gradient to its
        weights (:func:`~sb3_mixture.common.critic.min_critic_values`): the actor loss must not train the critic."""
        return estimator.actor_loss(
            distribution, lambda actions: min_critic_values(self.critic, observations, actions), ent_coef
        )
