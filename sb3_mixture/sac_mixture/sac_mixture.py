from collections import defaultdict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple, TypeVar

import numpy as np
import torch as th
from stable_baselines3 import SAC
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import GymEnv, MaybeCallback, PyTorchObs, ReplayBufferSamples
from stable_baselines3.common.vec_env import VecEnv
from torch.nn import functional as F

from sb3_mixture.common.compile import (
    check_compiler,
    compile_function,
    compiled_optimizer_step,
    polyak_update,
    set_learning_rate,
)
from sb3_mixture.common.critic import check_compilable_critic, min_critic_values
from sb3_mixture.common.distributions import SquashedGaussianMixture, mixture_statistics
from sb3_mixture.common.estimators import ActorLoss, MixtureEstimator, make_estimator
from sb3_mixture.common.utils import check_box_action_space, check_finite_observation, merge_policy_kwargs
from sb3_mixture.sac_mixture.policies import CnnPolicy, MixtureActor, MixtureSACPolicy, MlpPolicy, MultiInputPolicy

if TYPE_CHECKING:
    import optuna

SelfSACMixture = TypeVar("SelfSACMixture", bound="SACMixture")
CompiledFunction = TypeVar("CompiledFunction", bound=Callable[..., Any])
# Values logged during ``train``, averaged and recorded at its end (tensors: no device sync per gradient step).
TrainLogs = dict[str, list[th.Tensor | float]]


class Minibatch(NamedTuple):
    """What one gradient step of a SAC-family algorithm trains on."""

    replay_data: ReplayBufferSamples
    """The critic's (and value network's) minibatch."""
    discounts: th.Tensor | float
    """``gamma``, or ``gamma ** n`` per transition for n-step replay."""
    ent_coef: th.Tensor
    """alpha, detached: the same value serves the critic target and the actor loss."""
    actor_data: ReplayBufferSamples
    """The actor's minibatch: ``replay_data`` itself, except where an algorithm trains its actor on a larger one."""
    head_mask: th.Tensor | None = None
    """S2ACM: which critic head trains on each transition, ``[B, N]`` one-hot; None where every head sees every one."""


class SACMixture(SAC):
    """
    Soft Actor-Critic with a squashed Gaussian mixture policy.

    Paper: He et al. 2026, "Revisiting Mixture Policies in Entropy-Regularized Actor-Critic"
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
    :param estimator: Actor-gradient estimator: ``"mrp"`` (default), ``"half_rp"``, ``"gumbel_rp"``, ``"lr"``,
        ``"usgm_rp"``; see :mod:`sb3_mixture.common.estimators`
    :param estimator_kwargs: Keyword arguments of the estimator
    :param compile: Run each loss and each parameter update of the training step as a ``torch.compile`` graph
        (docs/guide/speed.rst): the same numbers, faster once compiled (tens of seconds, paid once per process).
        Needs a C++ compiler. Saved with the model; ``load(path, compile=...)`` overrides it.
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

    # What makes each algorithm of the SAC family itself, declared once on its class; the RL Zoo registry
    # (sb3_mixture.zoo), the samplers, the test lists and the README's table are built from or checked against these.
    zoo_key: ClassVar[str | None] = None
    """The RL Zoo key; None for SACMixture itself, whose keys are its estimators' (``MixtureEstimator.zoo_key``)."""
    default_policy_kwargs: ClassVar[dict[str, Any]] = {}
    """Policy keywords the algorithm's paper sets; the user's ``policy_kwargs`` override them."""
    fixed_policy_kwargs: ClassVar[dict[str, Any]] = {}
    """Policy keywords that define the algorithm; a different value from the user is refused."""
    has_own_actor_loss: ClassVar[bool] = False
    """True where the actor trains with the algorithm's own loss rather than one of the estimators: no ``estimator``."""

    @classmethod
    def sample_zoo_hyperparameters(cls, trial: "optuna.Trial") -> dict[str, Any]:
        """The algorithm's own entries in RL Zoo's hyperparameter search, beyond SAC's and the mixture's (none here)."""
        return {}

    def __init__(
        self,
        policy: str | type[MixtureSACPolicy],
        env: GymEnv | str,
        *args: Any,
        estimator: str | None = None,
        estimator_kwargs: dict[str, Any] | None = None,
        compile: bool = False,
        **kwargs: Any,
    ):
        algorithm = type(self).__name__
        self.compile = compile
        if self.has_own_actor_loss and (estimator is not None or estimator_kwargs):
            raise ValueError(f"{algorithm} has its own actor loss: the estimator parameter is not allowed")
        self.estimator = None if self.has_own_actor_loss else (estimator or "mrp")
        self.estimator_kwargs = estimator_kwargs or {}
        # Fail on a bad name before any environment or network is built.
        self._estimator = None if self.estimator is None else make_estimator(self.estimator, **self.estimator_kwargs)
        fixed_policy_kwargs = dict(self.fixed_policy_kwargs)
        if self._estimator is not None and not self._estimator.learns_weights:
            fixed_policy_kwargs["uniform_weights"] = True
        where = algorithm if self.estimator is None else f"{algorithm}(estimator={self.estimator!r})"
        kwargs["policy_kwargs"] = merge_policy_kwargs(
            kwargs.get("policy_kwargs"), self.default_policy_kwargs, fixed_policy_kwargs, where
        )
        super().__init__(policy, env, *args, **kwargs)

    @staticmethod
    def _wrap_env(env: GymEnv, verbose: int = 0, monitor_wrapper: bool = True) -> VecEnv:
        vec_env = SAC._wrap_env(env, verbose, monitor_wrapper)
        # SB3 only asserts the action space; a ValueError that names the allowed space is clearer.
        check_box_action_space(vec_env.action_space, "SACMixture")
        return vec_env

    def _setup_model(self) -> None:
        super()._setup_model()
        self._estimator = None if self.estimator is None else make_estimator(self.estimator, **self.estimator_kwargs)
        self._compiled_functions: dict[str, Callable[..., Any]] = {}
        if self.compile:
            check_compiler(type(self).__name__)
            check_compilable_critic(self.critic, type(self).__name__)
            # Acting too (predict, rollout collection): an instance attribute over the method leaves the module's
            # parameters and saved state untouched (no ``_orig_mod.`` prefix).
            self.actor.forward = compile_function(self.actor.forward)  # type: ignore[method-assign]

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "_estimator", "_compiled_functions"]

    def _compiled(self, function: CompiledFunction) -> CompiledFunction:
        """``function`` itself, or with ``compile=True`` its compiled graph (compiled at its first call, then reused)."""
        if not self.compile:
            return function
        name = function.__name__
        if name not in self._compiled_functions:
            self._compiled_functions[name] = compile_function(function)
        return self._compiled_functions[name]  # type: ignore[return-value]

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

    # The training step. ``train`` runs, for each gradient step, ``_sample_minibatch`` then ``_gradient_step``, which
    # is ``_critic_step``, ``_actor_step``, ``_entropy_coefficient_step`` and ``_target_step`` in that order (each loss
    # built after the step it depends on). The other SAC-family algorithms override these named steps only.

    def train(self, gradient_steps: int, batch_size: int = 64) -> None:
        self.policy.set_training_mode(True)
        self._update_learning_rate(self._optimizers())
        self._before_gradient_steps()
        logs: TrainLogs = defaultdict(list)
        minibatch, actor_loss = None, None
        for gradient_step in range(gradient_steps):
            minibatch = self._sample_minibatch(batch_size, logs)
            actor_loss = self._gradient_step(gradient_step, minibatch, logs)
        self._record_train_logs(gradient_steps, logs, minibatch, actor_loss)

    def _before_gradient_steps(self) -> None:
        """Work done once per ``train`` call, before its gradient steps (none for SAC)."""

    def _sample_minibatch(self, batch_size: int, logs: TrainLogs) -> Minibatch:
        """A replay minibatch, its discounts and the current alpha (logged); the actor trains on the same minibatch."""
        replay_data = self.replay_buffer.sample(batch_size, env=self._vec_normalize_env)  # type: ignore[union-attr]
        return self._minibatch_from(replay_data, replay_data, logs)

    def _minibatch_from(self, replay_data: ReplayBufferSamples, actor_data: ReplayBufferSamples, logs: TrainLogs) -> Minibatch:
        # For n-step replay, discount factor is gamma**n_steps (when no early termination)
        discounts = replay_data.discounts if replay_data.discounts is not None else self.gamma
        ent_coef = self._entropy_coefficient()
        logs["ent_coef"].append(ent_coef.mean())
        return Minibatch(replay_data, discounts, ent_coef, actor_data)

    def _gradient_step(self, gradient_step: int, minibatch: Minibatch, logs: TrainLogs) -> ActorLoss:
        """One gradient step of every network; returns the actor's loss (with its mixture, for the statistics)."""
        self._critic_step(minibatch, logs)
        actor_loss = self._actor_step(minibatch, logs)
        self._entropy_coefficient_step(actor_loss.entropy_log_prob, logs)
        self._target_step(gradient_step)
        return actor_loss

    def _critic_step(self, minibatch: Minibatch, logs: TrainLogs) -> None:
        """SAC's critic step toward the soft target (the same alpha serves the target and the actor loss)."""
        critic_loss = self._compiled(self._critic_loss_of)(minibatch)
        self._optimizer_step(self.critic.optimizer, critic_loss, "critic_loss", logs)

    def _critic_loss_of(self, minibatch: Minibatch) -> th.Tensor:
        target_q_values = self._target_q_values(minibatch.replay_data, minibatch.discounts, minibatch.ent_coef)
        return self._critic_loss(minibatch.replay_data, target_q_values)

    def _actor_step(self, minibatch: Minibatch, logs: TrainLogs) -> ActorLoss:
        """The actor's step on :meth:`_actor_loss`, its mixture built after the critic's step (a features extractor shared
        with the critic has just changed)."""
        actor_loss = self._compiled(self._actor_loss_of)(minibatch)
        self._optimizer_step(self.actor.optimizer, actor_loss.loss, "actor_loss", logs)
        for key, value in (actor_loss.logs or {}).items():
            logs[key].append(value)
        return actor_loss

    def _actor_loss_of(self, minibatch: Minibatch) -> ActorLoss:
        observations = minibatch.actor_data.observations
        distribution = self.actor.get_distribution(observations)
        actor_loss = self._actor_loss(distribution, observations, minibatch.ent_coef)
        mixture = (distribution.mean.detach(), distribution.log_std.detach(), distribution.logits.detach())
        return actor_loss._replace(mixture=mixture)

    def _entropy_coefficient_step(self, entropy_log_prob: th.Tensor, logs: TrainLogs) -> None:
        """SAC's temperature step, when alpha is tuned, fed with the estimator's mixture log-density. It stays eager with
        ``compile=True``: for one scalar, calling two graphs (loss, Adam) cost 0.5-0.6 ms per step against 0.3-0.4 ms
        eager (benchmarks/results/throughput.md, temperature column)."""
        if self.ent_coef_optimizer is None or self.log_ent_coef is None:
            return
        ent_coef_loss = self._entropy_coefficient_loss(entropy_log_prob)
        self._optimizer_step(self.ent_coef_optimizer, ent_coef_loss, "ent_coef_loss", logs, compiled=False)

    def _entropy_coefficient_loss(self, entropy_log_prob: th.Tensor) -> th.Tensor:
        assert self.log_ent_coef is not None and isinstance(self.target_entropy, float)
        return -(self.log_ent_coef * (entropy_log_prob + self.target_entropy)).mean()

    def _target_step(self, gradient_step: int) -> None:
        """SAC's Polyak update of the target critic, every ``target_update_interval`` gradient steps."""
        if gradient_step % self.target_update_interval == 0:
            self._compiled(self._update_critic_target)()

    def _update_critic_target(self) -> None:
        polyak_update(list(self.critic.parameters()), list(self.critic_target.parameters()), self.tau)
        # Copy running stats, see SB3 GH issue #996
        polyak_update(self.batch_norm_stats, self.batch_norm_stats_target, 1.0)

    def _optimizer_step(
        self, optimizer: th.optim.Optimizer, loss: th.Tensor, name: str, logs: TrainLogs, compiled: bool = True
    ) -> None:
        """Minimise ``loss`` by one step of ``optimizer`` (a compiled step with ``compile=True`` unless ``compiled`` is
        False), and log it under ``train/<name>``."""
        optimizer.zero_grad()
        loss.backward()
        # A fused optimizer (the policy's Adam by default) is one kernel already, and Dynamo does not trace it.
        if compiled and self.compile and not optimizer.defaults.get("fused"):
            key = f"optimizer_step_{id(optimizer)}"
            if key not in self._compiled_functions:
                self._compiled_functions[key] = compiled_optimizer_step(optimizer)
            self._compiled_functions[key]()
        else:
            optimizer.step()
        logs[name].append(loss.detach())

    def _update_learning_rate(self, optimizers: list[th.optim.Optimizer] | th.optim.Optimizer) -> None:
        # SB3's, except that a compiled step's learning-rate tensor is filled in place.
        learning_rate = self.lr_schedule(self._current_progress_remaining)
        self.logger.record("train/learning_rate", learning_rate)
        set_learning_rate(optimizers if isinstance(optimizers, list) else [optimizers], learning_rate)

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
        """The estimator's loss (the model's own unless ``estimator`` is given, as diagnostics do). The critic's values
        carry no gradient to its weights (:func:`~sb3_mixture.common.critic.min_critic_values`): the actor loss must
        not train the critic."""
        estimator = estimator or self._estimator
        assert estimator is not None, "an algorithm with its own actor loss overrides _actor_loss"
        return estimator.actor_loss(
            distribution, lambda actions: min_critic_values(self.critic, observations, actions), ent_coef
        )

    def _critic_loss(self, replay_data: ReplayBufferSamples, target_q_values: th.Tensor) -> th.Tensor:
        """SAC's: half the sum over the critics of the squared TD error."""
        current_q_values = self.critic(replay_data.observations, replay_data.actions)
        return 0.5 * th.stack([F.mse_loss(current_q, target_q_values) for current_q in current_q_values]).sum()

    def _optimizers(self) -> list[th.optim.Optimizer]:
        """Every optimizer whose learning rate follows the schedule."""
        optimizers = [self.actor.optimizer, self.critic.optimizer]
        if self.ent_coef_optimizer is not None:
            optimizers.append(self.ent_coef_optimizer)
        return optimizers

    def _record_train_logs(
        self, gradient_steps: int, logs: TrainLogs, minibatch: Minibatch | None, actor_loss: ActorLoss | None = None
    ) -> None:
        """Count the updates, log the means of ``logs`` and the mixture statistics on the last minibatch."""
        self._n_updates += gradient_steps
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        for key, values in logs.items():
            self.logger.record(f"train/{key}", float(th.stack([th.as_tensor(value) for value in values]).mean()))
        if minibatch is not None and actor_loss is not None:
            # Logging must not move the random stream training draws from (SAC-AWMP's gate samples actions).
            with th.no_grad(), th.random.fork_rng(devices=[]):
                statistics = mixture_statistics(self._mixture_for_statistics(minibatch, actor_loss))
            for key, value in statistics.items():
                self.logger.record(f"train/{key}", value)

    def _mixture_for_statistics(self, minibatch: Minibatch, actor_loss: ActorLoss) -> SquashedGaussianMixture:
        """The mixture whose statistics are logged: the one the actor's loss was built on (no extra forward pass)."""
        if actor_loss.mixture is None:
            return self.actor.get_distribution(minibatch.actor_data.observations)
        mean, log_std, logits = actor_loss.mixture
        mixture = SquashedGaussianMixture(self.actor.action_dim, self.actor.n_components)
        return mixture.proba_distribution(mean, log_std, logits)

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
