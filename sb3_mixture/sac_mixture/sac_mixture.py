from collections import defaultdict
from typing import Any, ClassVar, TypeVar

import numpy as np
import torch as th
from stable_baselines3 import SAC
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import GymEnv, MaybeCallback, PyTorchObs, ReplayBufferSamples
from stable_baselines3.common.utils import polyak_update
from stable_baselines3.common.vec_env import VecEnv
from torch.nn import functional as F

from sb3_mixture.common.critic import min_critic_values
from sb3_mixture.common.distributions import SquashedGaussianMixture, component_separation, weight_entropy
from sb3_mixture.common.estimators import ActorLoss, MixtureEstimator, make_estimator
from sb3_mixture.common.utils import check_box_action_space, check_finite_observation, frozen
from sb3_mixture.sac_mixture.policies import CnnPolicy, MixtureActor, MixtureSACPolicy, MlpPolicy, MultiInputPolicy

SelfSACMixture = TypeVar("SelfSACMixture", bound="SACMixture")


class SACMixture(SAC):
    """
    Soft Actor-Critic with a squashed Gaussian mixture policy.

    Paper: He et al. 2025, "Revisiting Mixture Policies in Entropy-Regularized Actor-Critic"
    (marginalized reparameterization, MRP). The critic, its target and the entropy-coefficient tuning are
    SAC's; only the actor loss changes, and it comes from the chosen gradient estimator
    (:mod:`sb3_mixture.common.estimators`). With ``n_components=1`` and ``estimator="mrp"`` this is SAC.

    The critic target uses one action ``a' ~ pi(.|s')`` and its mixture log-density, as SAC does.
    The entropy coefficient is tuned against the target ``-D`` with the estimator's log-density estimate
    (for MRP ``sum_k w_k L_k``).

    Logged each update, from the last minibatch: ``train/weight_entropy`` (entropy of the mixture
    weights), ``train/component_separation`` (mean pairwise distance between the squashed component means)
    and ``train/active_component_separation`` (the same over components whose weight exceeds ``1/(2K)``).

    :param policy: The policy model to use (MlpPolicy, CnnPolicy, MultiInputPolicy); set the number of
        components with ``policy_kwargs=dict(n_components=K)`` (default 5)
    :param env: The environment to learn from (if registered in Gym, can be str)
    :param estimator: Actor-gradient estimator (SPEC.md §1): ``"mrp"`` (default), ``"half_rp"``, ``"gumbel_rp"``,
        ``"lr"``, ``"uniform_rp"``; see :mod:`sb3_mixture.common.estimators`
    :param estimator_kwargs: Keyword arguments of the estimator
    :param args: Positional parameters of :class:`stable_baselines3.SAC`, in SAC's order
    :param kwargs: Keyword parameters of :class:`stable_baselines3.SAC` (``use_sde`` must stay False)
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {
        "MlpPolicy": MlpPolicy,
        "CnnPolicy": CnnPolicy,
        "MultiInputPolicy": MultiInputPolicy,
    }
    policy: MixtureSACPolicy
    actor: MixtureActor

    def __init__(
        self,
        policy: str | type[MixtureSACPolicy],
        env: GymEnv | str,
        *args: Any,
        estimator: str = "mrp",
        estimator_kwargs: dict[str, Any] | None = None,
        **kwargs: Any,
    ):
        self.estimator = estimator
        self.estimator_kwargs = estimator_kwargs or {}
        # Fail on a bad name before any environment or network is built.
        self._estimator: MixtureEstimator = make_estimator(estimator, **self.estimator_kwargs)
        if not self._estimator.learns_weights:
            policy_kwargs = dict(kwargs.get("policy_kwargs") or {})
            if policy_kwargs.get("uniform_weights") is False:
                message = f"estimator={estimator!r} fixes the weights to 1/K: policy_kwargs uniform_weights must be True"
                raise ValueError(message)
            kwargs["policy_kwargs"] = {**policy_kwargs, "uniform_weights": True}
        super().__init__(policy, env, *args, **kwargs)

    @staticmethod
    def _wrap_env(env: GymEnv, verbose: int = 0, monitor_wrapper: bool = True) -> VecEnv:
        vec_env = SAC._wrap_env(env, verbose, monitor_wrapper)
        # SB3 only asserts the action space; a ValueError that names the allowed space is clearer.
        check_box_action_space(vec_env.action_space, "SACMixture")
        return vec_env

    def _setup_model(self) -> None:
        super()._setup_model()
        self._estimator = make_estimator(self.estimator, **self.estimator_kwargs)

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "_estimator"]

    def _store_transition(
        self,
        replay_buffer: ReplayBuffer,
        buffer_action: np.ndarray,
        new_obs: np.ndarray | dict[str, np.ndarray],
        reward: np.ndarray,
        dones: np.ndarray,
        infos: list[dict[str, Any]],
    ) -> None:
        # Catches NaNs during warm-up too, when actions are random and predict() never sees the observations.
        check_finite_observation(new_obs, "The observation returned by env.step()")
        super()._store_transition(replay_buffer, buffer_action, new_obs, reward, dones, infos)

    def _entropy_coefficient(self) -> th.Tensor:
        """Current alpha, detached from its optimiser."""
        if self.log_ent_coef is not None:
            return th.exp(self.log_ent_coef.detach())
        return self.ent_coef_tensor

    def _update_entropy_coefficient(self, entropy_log_prob: th.Tensor, logs: dict[str, list[float]]) -> None:
        """SAC's temperature step, when alpha is tuned, fed with the estimator's mixture log-density."""
        if self.ent_coef_optimizer is None or self.log_ent_coef is None:
            return
        assert isinstance(self.target_entropy, float)
        ent_coef_loss = -(self.log_ent_coef * (entropy_log_prob + self.target_entropy)).mean()
        self.ent_coef_optimizer.zero_grad()
        ent_coef_loss.backward()
        self.ent_coef_optimizer.step()
        logs["ent_coef_loss"].append(ent_coef_loss.item())

    def _target_q_values(
        self, replay_data: ReplayBufferSamples, discounts: th.Tensor | float, ent_coef: th.Tensor
    ) -> th.Tensor:
        """SAC's soft target with one action from the mixture: ``r + gamma (1 - d) (min Q'(s', a') - alpha log pi(a'|s'))``."""
        with th.no_grad():
            next_actions, next_log_prob = self.actor.action_log_prob(replay_data.next_observations)
            next_q_values = th.cat(self.critic_target(replay_data.next_observations, next_actions), dim=1)
            next_q_values = next_q_values.min(dim=1, keepdim=True).values - ent_coef * next_log_prob.reshape(-1, 1)
            return replay_data.rewards + (1 - replay_data.dones) * discounts * next_q_values

    def _actor_loss(
        self,
        distribution: SquashedGaussianMixture,
        observations: PyTorchObs,
        ent_coef: th.Tensor,
        estimator: MixtureEstimator | None = None,
    ) -> ActorLoss:
        """The estimator's loss (the model's own unless ``estimator`` is given, as diagnostics do), with the
        critic's weights frozen: the actor loss must not train the critic. Only the Q-networks are frozen:
        a features extractor shared with the actor must keep its gradient."""
        estimator = estimator or self._estimator
        with frozen(*self.critic.q_networks):
            return estimator.actor_loss(
                distribution, lambda actions: min_critic_values(self.critic, observations, actions), ent_coef
            )

    def _critic_loss(self, replay_data: ReplayBufferSamples, target_q_values: th.Tensor) -> th.Tensor:
        """SAC's: half the sum over the critics of the squared TD error."""
        current_q_values = self.critic(replay_data.observations, replay_data.actions)
        return 0.5 * th.stack([F.mse_loss(current_q, target_q_values) for current_q in current_q_values]).sum()

    def train(self, gradient_steps: int, batch_size: int = 64) -> None:
        self.policy.set_training_mode(True)
        self._update_learning_rate(self._optimizers())

        logs: dict[str, list[float]] = defaultdict(list)
        for gradient_step in range(gradient_steps):
            # The same alpha serves the target and the actor loss; it is updated last, as in SAC.
            replay_data, discounts, ent_coef = self._minibatch(batch_size, logs)

            target_q_values = self._target_q_values(replay_data, discounts, ent_coef)
            critic_loss = self._critic_loss(replay_data, target_q_values)
            self.critic.optimizer.zero_grad()
            critic_loss.backward()
            self.critic.optimizer.step()
            logs["critic_loss"].append(critic_loss.item())

            distribution = self.actor.get_distribution(replay_data.observations)
            actor_loss = self._actor_loss(distribution, replay_data.observations, ent_coef)
            self.actor.optimizer.zero_grad()
            actor_loss.loss.backward()
            self.actor.optimizer.step()
            logs["actor_loss"].append(actor_loss.loss.item())

            self._update_entropy_coefficient(actor_loss.entropy_log_prob, logs)

            if gradient_step % self.target_update_interval == 0:
                polyak_update(self.critic.parameters(), self.critic_target.parameters(), self.tau)
                # Copy running stats, see SB3 GH issue #996
                polyak_update(self.batch_norm_stats, self.batch_norm_stats_target, 1.0)

        self._record_train_logs(gradient_steps, logs, distribution)

    def _minibatch(
        self, batch_size: int, logs: dict[str, list[float]]
    ) -> tuple[ReplayBufferSamples, th.Tensor | float, th.Tensor]:
        """A replay minibatch, its discounts and the current alpha (logged)."""
        replay_data = self.replay_buffer.sample(batch_size, env=self._vec_normalize_env)  # type: ignore[union-attr]
        # For n-step replay, discount factor is gamma**n_steps (when no early termination)
        discounts = replay_data.discounts if replay_data.discounts is not None else self.gamma
        ent_coef = self._entropy_coefficient()
        logs["ent_coef"].append(ent_coef.mean().item())
        return replay_data, discounts, ent_coef

    def _optimizers(self) -> list[th.optim.Optimizer]:
        """Every optimizer whose learning rate follows the schedule."""
        optimizers = [self.actor.optimizer, self.critic.optimizer]
        if self.ent_coef_optimizer is not None:
            optimizers.append(self.ent_coef_optimizer)
        return optimizers

    def _record_train_logs(
        self, gradient_steps: int, logs: dict[str, list[float]], distribution: SquashedGaussianMixture | None
    ) -> None:
        """Count the updates, log the means of ``logs`` and the mixture statistics of the last minibatch."""
        self._n_updates += gradient_steps
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        for key, values in logs.items():
            self.logger.record(f"train/{key}", np.mean(values))
        if gradient_steps > 0 and distribution is not None:
            self._record_mixture_statistics(distribution)

    def _record_mixture_statistics(self, distribution: SquashedGaussianMixture) -> None:
        """Log the mixture statistics the MRP paper plots, for the states of one minibatch."""
        with th.no_grad():
            weights = distribution.weights
            squashed_means = th.tanh(distribution.mean)
            active_threshold = 1.0 / (2 * distribution.n_components)
            self.logger.record("train/weight_entropy", weight_entropy(distribution.logits).mean().item())
            self.logger.record("train/component_separation", component_separation(squashed_means).mean().item())
            self.logger.record(
                "train/active_component_separation",
                component_separation(squashed_means, weights, active_threshold).mean().item(),
            )

    def learn(
        self: SelfSACMixture,
        total_timesteps: int,
        callback: MaybeCallback = None,
        log_interval: int = 4,
        tb_log_name: str = "SACMixture",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfSACMixture:
        return super().learn(
            total_timesteps=total_timesteps,
            callback=callback,
            log_interval=log_interval,
            tb_log_name=tb_log_name,
            reset_num_timesteps=reset_num_timesteps,
            progress_bar=progress_bar,
        )
