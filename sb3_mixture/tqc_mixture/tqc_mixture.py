from typing import TYPE_CHECKING, Any, ClassVar

import torch as th
from sb3_contrib import TQC
from sb3_contrib.common.utils import quantile_huber_loss
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import PyTorchObs

from sb3_mixture.common.critic import critic_network_outputs
from sb3_mixture.common.sac_family import EstimatorMixin, Minibatch, SACFamilyMixin
from sb3_mixture.tqc_mixture.policies import CnnPolicy, MlpPolicy, MultiInputPolicy, TQCMixturePolicy

if TYPE_CHECKING:
    import optuna


class TQCMixture(EstimatorMixin, SACFamilyMixin, TQC):  # type: ignore[misc]
    """
    TQC (Truncated Quantile Critics) with a squashed Gaussian mixture policy trained by one of the actor-gradient
    estimators.

    Papers: Kuznetsov et al. 2020, "Controlling Overestimation Bias with Truncated Mixture of Continuous Distributional
    Quantile Critics" (https://arxiv.org/abs/2005.04269), for the critic; He et al. 2026, "Revisiting Mixture Policies in
    Entropy-Regularized Actor-Critic" (https://arxiv.org/abs/2605.09157), for the actor's estimators. The critics, their
    truncated target and the entropy tuning are sb3-contrib's TQC; the actor is a mixture and its loss comes from the
    estimator, scored by TQC's own actor value: the mean over every critic's quantiles of ``Z(s, a)``. With
    ``n_components=1`` and ``estimator="mrp"`` the actor loss is TQC's.

    Hooks overridden (:class:`~sb3_mixture.common.sac_family.SACFamilyMixin`): :meth:`_critic_loss` (TQC's quantile Huber
    loss toward the truncated target: the next action's ``n_quantiles * n_critics`` atoms sorted, the top
    ``top_quantiles_to_drop_per_net * n_critics`` dropped) and :meth:`_actor_q_values` (the quantile mean). TQC takes
    its alpha step before the critic's and scores the actor after it, on an action drawn before; here the alpha step
    follows the actor's, with the same alpha and the same log-density, so only the order of the random draws differs.

    Parameters: ``estimator``, ``estimator_kwargs``, ``compile`` and ``precision`` as
    :class:`~sb3_mixture.common.sac_family.EstimatorMixin` and :class:`~sb3_mixture.common.sac_family.SACFamilyMixin`;
    the others are :class:`sb3_contrib.TQC`'s (``top_quantiles_to_drop_per_net``, ``policy_kwargs=dict(n_quantiles=...)``;
    ``use_sde`` must stay False), with the number of components in ``policy_kwargs=dict(n_components=K)`` (default 5).
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {
        "MlpPolicy": MlpPolicy,
        "CnnPolicy": CnnPolicy,
        "MultiInputPolicy": MultiInputPolicy,
    }
    policy: TQCMixturePolicy  # type: ignore[assignment]
    zoo_key = "tqc_mrp"

    @classmethod
    def sample_zoo_hyperparameters(cls, trial: "optuna.Trial") -> dict[str, Any]:
        """RL Zoo's TQC entries: the number of quantiles per critic and the number dropped from each."""
        n_quantiles = trial.suggest_int("n_quantiles", 5, 50)
        top_quantiles_to_drop_per_net = trial.suggest_int("top_quantiles_to_drop_per_net", 0, min(n_quantiles - 1, 5))
        return {"n_quantiles": n_quantiles, "top_quantiles_to_drop_per_net": top_quantiles_to_drop_per_net}

    def _check_compilable_critic(self, name: str) -> None:
        """Any quantile critic compiles: its actor value runs through the compiler's own autograd."""

    def _critic_loss(self, minibatch: Minibatch) -> th.Tensor:
        replay_data, batch_size = minibatch.replay_data, minibatch.replay_data.rewards.shape[0]
        with th.no_grad():
            next_actions, next_log_prob = self.actor.action_log_prob(replay_data.next_observations)
            # [batch, critics, quantiles] -> every atom, sorted; the top ones of each critic are dropped.
            next_quantiles = self.critic_target(replay_data.next_observations, next_actions).reshape(batch_size, -1)
            n_target_quantiles = self.critic.quantiles_total - self.top_quantiles_to_drop_per_net * self.critic.n_critics
            next_quantiles = th.sort(next_quantiles).values[:, :n_target_quantiles]
            target_quantiles = next_quantiles - minibatch.ent_coef * next_log_prob.reshape(-1, 1)
            target_quantiles = replay_data.rewards + (1 - replay_data.dones) * minibatch.discounts * target_quantiles
        current_quantiles = self.critic(replay_data.observations, replay_data.actions)
        # TQC's: not summed over the quantile dimension; targets broadcast over the critics.
        return quantile_huber_loss(current_quantiles, target_quantiles.unsqueeze(1), sum_over_quantiles=False)

    def _actor_q_values(self, observations: PyTorchObs, actions: th.Tensor) -> th.Tensor:
        """TQC's actor value of M actions per state: the mean over every critic's quantiles, ``[B, M]``."""
        with th.no_grad():
            features = self.critic.extract_features(observations, self.critic.features_extractor)
        return critic_network_outputs(self.critic.q_networks, features, actions).mean(dim=(2, 3))
