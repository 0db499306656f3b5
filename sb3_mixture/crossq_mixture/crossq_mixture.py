from typing import TYPE_CHECKING, Any, ClassVar

import torch as th
from sb3_contrib import CrossQ
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import PyTorchObs
from torch.nn import functional as F

from sb3_mixture.common.critic import critic_network_outputs
from sb3_mixture.common.estimators import ActorLoss
from sb3_mixture.common.sac_family import EstimatorMixin, Minibatch, SACFamilyMixin
from sb3_mixture.crossq_mixture.policies import (
    CnnPolicy,
    CrossQMixtureActor,
    CrossQMixturePolicy,
    MlpPolicy,
    MultiInputPolicy,
    make_batch_renorm_traceable,
)

if TYPE_CHECKING:
    import optuna


class CrossQMixture(EstimatorMixin, SACFamilyMixin, CrossQ):  # type: ignore[misc]
    """
    CrossQ with a squashed Gaussian mixture policy trained by one of the actor-gradient estimators.

    Papers: Bhatt et al. 2024, "CrossQ: Batch Normalization in Deep Reinforcement Learning for Greater Sample Efficiency
    and Simplicity" (https://arxiv.org/abs/1902.05605), for the critic; He et al. 2026, "Revisiting Mixture Policies in
    Entropy-Regularized Actor-Critic" (https://arxiv.org/abs/2605.09157), for the actor's estimators. The critics
    (BatchRenorm, no target network), the delayed actor updates (``policy_delay``, 3 by default) and the entropy tuning
    are sb3-contrib's CrossQ; the actor is a mixture on CrossQ's actor trunk and its loss comes from the estimator,
    scored by the minimum of the critics in evaluation mode, as CrossQ's own actor loss. With ``n_components=1`` and
    ``estimator="mrp"`` the actor loss is CrossQ's.

    Hooks overridden (:class:`~sb3_mixture.common.sac_family.SACFamilyMixin`): :meth:`_critic_loss` (CrossQ's joint
    forward of the current and next state-action pairs through the critics in training mode, so the batch statistics
    cover both, toward the minimum over critics of the next pair's values), :meth:`_actor_q_values` (the critics in
    evaluation mode), :meth:`_actor_loss` (the actor's BatchRenorm in training mode), :meth:`_updates_actor` (every
    ``policy_delay`` gradient steps, with alpha's step) and :meth:`_updates_target` (never: no target network).

    Parameters: ``estimator``, ``estimator_kwargs``, ``compile`` and ``precision`` as
    :class:`~sb3_mixture.common.sac_family.EstimatorMixin` and :class:`~sb3_mixture.common.sac_family.SACFamilyMixin`;
    the others are :class:`sb3_contrib.CrossQ`'s (``policy_delay``; ``use_sde`` must stay False), with the number of
    components in ``policy_kwargs=dict(n_components=K)`` (default 5).
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {
        "MlpPolicy": MlpPolicy,
        "CnnPolicy": CnnPolicy,
        "MultiInputPolicy": MultiInputPolicy,
    }
    policy: CrossQMixturePolicy  # type: ignore[assignment]
    actor: CrossQMixtureActor  # type: ignore[assignment]
    zoo_key = "crossq_mrp"
    zoo_sac_space_excludes = ("tau",)  # no target network

    @classmethod
    def sample_zoo_hyperparameters(cls, trial: "optuna.Trial") -> dict[str, Any]:
        """CrossQ's own entry: actor updates per critic update (RL Zoo has no CrossQ sampler; its files use 2 and 3)."""
        return {"policy_delay": trial.suggest_int("policy_delay", 1, 5)}

    def _check_compilable_critic(self, name: str) -> None:
        """Any CrossQ critic compiles (its actor value runs through the compiler's own autograd) once its BatchRenorm
        layers have the branch-free forward."""
        make_batch_renorm_traceable(self.policy)

    def _updates_actor(self, gradient_step: int) -> bool:
        # CrossQ counts its updates across train calls and updates the actor when the count (after this step) divides.
        return (self._n_updates + gradient_step + 1) % self.policy_delay == 0

    def _updates_target(self, gradient_step: int) -> bool:
        return False

    def _critic_loss(self, minibatch: Minibatch) -> th.Tensor:
        """CrossQ's: one forward pass of the current and next pairs, so the batch statistics are those of their mixture
        (the CrossQ paper, Sec. 3), toward the minimum over the critics of the next pair's values. CrossQ's modes: the
        critics' BatchRenorm in training mode (the joint batch updates their statistics), the actor's in evaluation
        mode (the next actions); the critics' back in evaluation mode for the actor's loss."""
        self.policy.set_batch_renorm_modes(actor=False, critic=True)
        replay_data, batch_size = minibatch.replay_data, minibatch.replay_data.rewards.shape[0]
        with th.no_grad():
            next_actions, next_log_prob = self.actor.action_log_prob(replay_data.next_observations)
        all_observations = _concatenate(replay_data.observations, replay_data.next_observations)
        all_actions = th.cat([replay_data.actions, next_actions], dim=0)
        current_q_values, next_q_values = th.split(th.cat(self.critic(all_observations, all_actions), dim=1), batch_size)
        self.policy.set_batch_renorm_modes(actor=False, critic=False)
        with th.no_grad():
            next_q_values = next_q_values.min(dim=1, keepdim=True).values - minibatch.ent_coef * next_log_prob.reshape(-1, 1)
            target_q_values = replay_data.rewards + (1 - replay_data.dones) * minibatch.discounts * next_q_values
        squared_errors = [F.mse_loss(current_q_values[:, [i]], target_q_values) for i in range(self.critic.n_critics)]
        return 0.5 * th.stack(squared_errors).sum()

    def _actor_loss(self, minibatch: Minibatch) -> ActorLoss:
        """The estimator's loss with the actor's BatchRenorm in training mode, as CrossQ's actor step has it."""
        self.policy.set_batch_renorm_modes(actor=True, critic=False)
        actor_loss = super()._actor_loss(minibatch)
        self.policy.set_batch_renorm_modes(actor=False, critic=False)
        return actor_loss

    def _actor_q_values(self, observations: PyTorchObs, actions: th.Tensor) -> th.Tensor:
        """CrossQ's actor value of M actions per state: the minimum over the critics, ``[B, M]``, read with the critics'
        BatchRenorm in evaluation mode (as :meth:`_critic_loss` leaves them)."""
        with th.no_grad():
            features = self.critic.extract_features(observations, self.critic.features_extractor)
        return critic_network_outputs(self.critic.q_networks, features, actions).squeeze(-1).min(dim=-1).values


def _concatenate(first: PyTorchObs, second: PyTorchObs) -> PyTorchObs:
    """Two observation batches as one, key by key for ``Dict`` observations (CrossQ's own joint pass takes tensors only)."""
    if isinstance(first, dict):
        assert isinstance(second, dict)
        return {key: th.cat([first[key], second[key]], dim=0) for key in first}
    assert isinstance(second, th.Tensor)
    return th.cat([first, second], dim=0)
