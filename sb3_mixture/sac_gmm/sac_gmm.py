from typing import Any, ClassVar

import torch as th
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import GymEnv, PyTorchObs

from sb3_mixture.common.critic import min_critic_values
from sb3_mixture.common.distributions import SquashedGaussianMixture
from sb3_mixture.common.estimators import ActorLoss, QFunction
from sb3_mixture.common.sac_family import Minibatch
from sb3_mixture.common.value import ValueSACFamily
from sb3_mixture.sac_gmm.policies import CnnPolicy, GMMSACPolicy, MlpPolicy, MultiInputPolicy

DEFAULT_REGULARIZATION_COEF = 1e-3


def gmm_policy_loss(
    distribution: SquashedGaussianMixture,
    q_function: QFunction,
    values: th.Tensor,
    ent_coef: th.Tensor | float,
    regularization_coef: float = DEFAULT_REGULARIZATION_COEF,
) -> ActorLoss:
    """
    SAC-GMM's likelihood-ratio policy loss with the state-value baseline (Haarnoja et al. 2018, arXiv:1801.01290, Eq. 13):

    ``mean(log pi(a|s) * stopgrad(alpha log pi(a|s) - Q(s, a) + V(s))) + reg``, with ``a ~ pi`` NOT
    reparameterized and ``reg = c * 0.5 * (mean(log_std^2) + mean(mean^2))``.

    The extracted paper text prints ``- V``; the derivation (baseline ``b = V - log Z - 1``) and the authors'
    code give ``+ V``. Any baseline that depends on the state only leaves the gradient's mean unchanged,
    since ``E[grad log pi] = 0``: ``V`` reduces the variance. Without ``reg`` the gradient is that of
    ``E_pi[alpha log pi - Q]`` (tests/test_sac_gmm.py checks it against quadrature).

    :param distribution: The mixture at the minibatch's states
    :param q_function: ``[B, M, D]`` actions -> ``[B, M]`` values, no gradient needed
    :param values: The baseline ``V(s)``, shape ``[B]`` (zeros for none)
    :param ent_coef: alpha
    :param regularization_coef: ``c`` of the mean/log-std regulariser (the authors' 1e-3)
    """
    with th.no_grad():
        actions = distribution.sample()
        gaussian_actions = distribution.gaussian_actions
    log_prob = distribution.log_prob(actions, gaussian_actions)
    with th.no_grad():
        q_values = q_function(actions.unsqueeze(1)).squeeze(1)
        advantage = ent_coef * log_prob - q_values + values
    regularization = 0.5 * (distribution.log_std.square().mean() + distribution.mean.square().mean())
    loss = (log_prob * advantage).mean() + regularization_coef * regularization
    return ActorLoss(loss, log_prob.detach())


class SACGMM(ValueSACFamily):
    """
    Soft Actor-Critic (version 1) with a Gaussian-mixture policy (SAC-GMM).

    Paper: Haarnoja, Zhou, Abbeel, Levine 2018, "Soft Actor-Critic: Off-Policy Maximum Entropy Deep
    Reinforcement Learning with a Stochastic Actor" (arXiv:1801.01290; docs/algorithms/sac_gmm.rst).
    Each gradient step, in this order, each loss
    built after the step it depends on:

    1. the value network: ``0.5 (V(s) - stopgrad(min Q(s, a) - alpha log pi(a|s)))^2`` with a fresh ``a ~ pi``;
    2. the critic: target ``r + gamma (1 - d) V_target(s')`` (SB3's ``critic_target`` is built but unused);
    3. the policy: :func:`gmm_policy_loss`, the likelihood ratio with the value baseline (no reparameterization);
    4. alpha, if tuned (``ent_coef="auto"``), as SAC does; the paper used a fixed reward scale instead;
    5. ``V_target <- tau V + (1 - tau) V_target``.

    Deterministic actions: see :class:`sb3_mixture.sac_gmm.policies.GMMSACPolicy` (``deterministic_selection``).
    The authors' defaults (hidden 128x2, batch 128, tau 0.01) are in the RL Zoo YAML, not here.

    Hooks overridden (:class:`~sb3_mixture.common.value.ValueSACFamily`): :meth:`_mixture_actor_loss` (3) and
    :meth:`_value_targets` (1).

    :param policy: MlpPolicy, CnnPolicy or MultiInputPolicy; ``policy_kwargs=dict(n_components=K)`` (default 4)
    :param env: The environment to learn from
    :param regularization_coef: Coefficient of the mean/log-std regulariser of the policy loss (1e-3)
    :param args: Positional parameters of :class:`stable_baselines3.SAC`
    :param kwargs: Keyword parameters of :class:`stable_baselines3.SAC`
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {  # type: ignore[assignment]
        "MlpPolicy": MlpPolicy,
        "CnnPolicy": CnnPolicy,
        "MultiInputPolicy": MultiInputPolicy,
    }
    policy: GMMSACPolicy
    zoo_key = "sac_gmm"
    # The authors': K = 4 (the paper found 2 or 4 best) and one Q-network.
    default_policy_kwargs: ClassVar[dict[str, Any]] = {"n_components": 4, "n_critics": 1}

    def __init__(
        self,
        policy: str | type[GMMSACPolicy],
        env: GymEnv | str,
        *args: Any,
        regularization_coef: float = DEFAULT_REGULARIZATION_COEF,
        **kwargs: Any,
    ):
        self.regularization_coef = regularization_coef
        super().__init__(policy, env, *args, **kwargs)

    def _mixture_actor_loss(
        self, distribution: SquashedGaussianMixture, observations: PyTorchObs, ent_coef: th.Tensor
    ) -> ActorLoss:
        """:func:`gmm_policy_loss` with the value network's baseline."""
        with th.no_grad():
            values = self.policy.value(observations).squeeze(1)
        return gmm_policy_loss(
            distribution,
            lambda actions: min_critic_values(self.critic, observations, actions),
            values,
            ent_coef,
            self.regularization_coef,
        )

    def _value_targets(self, minibatch: Minibatch) -> th.Tensor:
        """``min Q(s, a) - alpha log pi(a|s)`` with a fresh ``a ~ pi``."""
        observations = minibatch.replay_data.observations
        with th.no_grad():
            actions, log_prob = self.actor.action_log_prob(observations)
            soft_q_values = min_critic_values(self.critic, observations, actions.unsqueeze(1)).squeeze(1)
            return (soft_q_values - minibatch.ent_coef * log_prob).unsqueeze(1)
