"""
The SAC family's base: a mixture actor and one training step with hooks, over SB3's SAC or one of sb3-contrib's
SAC-style algorithms (TQC, CrossQ).

:class:`SACFamily` is :class:`SACFamilyMixin` over SB3's ``SAC``, the base of every SAC algorithm of the package;
TQCMixture and CrossQMixture put the mixin over sb3-contrib's TQC and CrossQ. :class:`EstimatorMixin` adds the choice of
actor-gradient estimator (``estimator=``) to any of them.
"""

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import numpy as np
import torch as th
from stable_baselines3 import SAC
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import GymEnv, MaybeCallback, PyTorchObs, ReplayBufferSamples
from stable_baselines3.common.vec_env import VecEnv
from torch.nn import functional as F

from sb3_mixture.common.compile import (
    adam_update,
    check_adam,
    check_compiler,
    compile_function,
    optimizer_parameters,
    polyak_update,
    prepare_adam,
    set_learning_rate,
    whole_step_tracing,
)
from sb3_mixture.common.critic import check_compilable_critic, min_critic_values
from sb3_mixture.common.distributions import SquashedGaussianMixture, mixture_statistics
from sb3_mixture.common.estimators import ActorLoss, MixtureEstimator, make_estimator
from sb3_mixture.common.precision import check_bf16_hardware, check_precision, set_precision
from sb3_mixture.common.sac_policies import CnnPolicy, MixtureActor, MixtureSACPolicy, MlpPolicy, MultiInputPolicy
from sb3_mixture.common.speed import DirectActingMixin
from sb3_mixture.common.utils import check_box_action_space, check_finite_observation, merge_policy_kwargs

if TYPE_CHECKING:
    import optuna
    from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm

    # What the mixins are mixed into, for the type checker: an off-policy algorithm with SAC's attributes.
    _OffPolicyBase = OffPolicyAlgorithm
else:
    _OffPolicyBase = object

SelfSACFamily = TypeVar("SelfSACFamily", bound="SACFamilyMixin")
# Values logged during ``train``, averaged and recorded at its end (tensors: no device sync per gradient step).
TrainLogs = dict[str, list[th.Tensor | float]]


@dataclass(frozen=True)
class Minibatch:
    """What one gradient step of a SAC-family algorithm trains on (an algorithm that needs more subclasses it)."""

    replay_data: ReplayBufferSamples
    """The critic's (and value network's) minibatch."""
    discounts: th.Tensor | float
    """``gamma``, or ``gamma ** n`` per transition for n-step replay."""
    ent_coef: th.Tensor
    """alpha, detached: the same value serves the critic target and the actor loss."""
    actor_data: ReplayBufferSamples
    """The actor's minibatch: ``replay_data`` itself, except where an algorithm trains its actor on a larger one."""


class SACFamilyMixin(DirectActingMixin, _OffPolicyBase):
    """
    The SAC family's training step, put before SB3's ``SAC`` (:class:`SACFamily`) or a SAC-style algorithm of
    sb3-contrib (TQC, CrossQ), with a squashed Gaussian mixture actor
    (:class:`~sb3_mixture.common.sac_policies.MixturePolicyMixin`).

    :meth:`_gradient_step` is the whole step, in order: critic, actor, temperature, target. An algorithm changes it
    through the hooks that follow it in this class (its minibatch, the critic's loss and target, the actor's loss and
    the Q-values that score it, the target update) and lists those it overrides in its docstring. With ``compile=True``
    the step runs as one ``torch.compile`` graph, so an override must stay traceable: tensors in and out, no
    ``.item()``, no Python branch on a tensor's value.

    :param policy: MlpPolicy, CnnPolicy or MultiInputPolicy; ``policy_kwargs=dict(n_components=K)``
    :param env: The environment to learn from (if registered in Gym, can be str)
    :param compile: Run each gradient step as one ``torch.compile`` graph, and acting too (docs/guide/speed.rst): the
        same numbers, faster once compiled (tens of seconds, paid once per process). Needs a C++ compiler and Adam or
        AdamW (SB3's default). Saved with the model; ``load(path, compile=...)`` overrides it.
    :param precision: ``"fp32"`` (default) or ``"bf16"``: the hidden layers' matrix products of every network in
        bfloat16, everything else in float32 (:mod:`~sb3_mixture.common.precision`); needs bf16 hardware (a CPU with
        AVX512-BF16 or AMX, a GPU with bf16 units). Saved with the model; ``load(path, precision=...)`` overrides it.
    :param args: Positional parameters of the algorithm class, in its order
    :param kwargs: Keyword parameters of the algorithm class (``use_sde`` must stay False)
    """

    policy: MixtureSACPolicy
    actor: MixtureActor
    # SAC's attributes, which TQC and CrossQ share (CrossQ has no target critic and no Polyak update).
    critic: Any
    critic_target: Any
    log_ent_coef: th.Tensor | None
    ent_coef_optimizer: th.optim.Adam | None
    ent_coef_tensor: th.Tensor
    target_entropy: float | str
    target_update_interval: int
    batch_norm_stats: list[th.Tensor]
    batch_norm_stats_target: list[th.Tensor]

    # What makes each algorithm itself, declared once on its class; the RL Zoo registry (sb3_mixture.zoo), the
    # samplers, the test lists and the README's table are built from or checked against these.
    zoo_key: ClassVar[str | None] = None
    """The RL Zoo key (SACMixture declares none: its keys are its estimators')."""
    default_policy_kwargs: ClassVar[dict[str, Any]] = {}
    """Policy keywords the algorithm's paper sets; the user's ``policy_kwargs`` override them."""
    fixed_policy_kwargs: ClassVar[dict[str, Any]] = {}
    """Policy keywords that define the algorithm; a different value from the user is refused."""
    zoo_sac_space_excludes: ClassVar[tuple[str, ...]] = ()
    """Entries of SAC's RL Zoo search space the algorithm has no parameter for (CrossQ: ``tau``, no target network)."""

    @classmethod
    def sample_zoo_hyperparameters(cls, trial: "optuna.Trial") -> dict[str, Any]:
        """The algorithm's own entries in RL Zoo's hyperparameter search, beyond SAC's and the mixture's (none here)."""
        return {}

    def __init__(
        self,
        policy: str | type[MixtureSACPolicy],
        env: GymEnv | str,
        *args: Any,
        compile: bool = False,
        precision: str = "fp32",
        **kwargs: Any,
    ):
        if "estimator" in kwargs or "estimator_kwargs" in kwargs:
            raise ValueError(
                f"{type(self).__name__} has its own actor loss: the estimator parameter is not allowed "
                "(it chooses SACMixture's actor-gradient estimator)"
            )
        self.compile = compile
        self.precision = check_precision(precision, type(self).__name__)
        kwargs["policy_kwargs"] = merge_policy_kwargs(
            kwargs.get("policy_kwargs"), self.default_policy_kwargs, self._fixed_policy_kwargs(), self._description()
        )
        super().__init__(policy, env, *args, **kwargs)

    def _fixed_policy_kwargs(self) -> dict[str, Any]:
        return dict(self.fixed_policy_kwargs)

    def _description(self) -> str:
        """How error messages name the algorithm."""
        return type(self).__name__

    @staticmethod
    def _wrap_env(env: GymEnv, verbose: int = 0, monitor_wrapper: bool = True) -> VecEnv:
        vec_env = BaseAlgorithm._wrap_env(env, verbose, monitor_wrapper)
        # SB3 only asserts the action space; a ValueError that names the allowed space is clearer.
        check_box_action_space(vec_env.action_space, "The SAC family of sb3-mixture")
        return vec_env

    def _setup_model(self) -> None:
        super()._setup_model()
        self._statistics_source: tuple[Minibatch, ActorLoss] | None = None
        self._compiled_gradient_step: Callable[[Minibatch, TrainLogs, bool, bool], ActorLoss | None] | None = None
        check_bf16_hardware(self.precision, self.device, type(self).__name__)
        set_precision(self.policy, self.precision)
        if self.compile:
            name = type(self).__name__
            check_compiler(name)
            self._check_compilable_critic(name)
            for optimizer in self._trained_optimizers():
                check_adam(optimizer, name)
            # Acting too (predict, rollout collection): an instance attribute over the method leaves the module's
            # parameters and saved state untouched (no ``_orig_mod.`` prefix).
            self.actor.forward = compile_function(self.actor.forward)  # type: ignore[method-assign]

    def _check_compilable_critic(self, name: str) -> None:
        """Refuse ``compile=True`` for a critic the compiled actor loss cannot run (SAC's twin-critic operator needs plain
        stacks; :func:`~sb3_mixture.common.critic.check_compilable_critic`)."""
        check_compilable_critic(self.critic, name)

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "_compiled_gradient_step", "_statistics_source"]

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

    def train(self, gradient_steps: int, batch_size: int = 64) -> None:
        self.policy.set_training_mode(True)
        self._update_learning_rate(self._optimizers())
        self._before_gradient_steps()
        logs: TrainLogs = defaultdict(list)
        last_actor_update: tuple[Minibatch, ActorLoss] | None = None
        for gradient_step in range(gradient_steps):
            minibatch = self._sample_minibatch(batch_size, logs)
            update_actor, update_target = self._updates_actor(gradient_step), self._updates_target(gradient_step)
            # Empty at every step: a compiled step guards on the lengths of the lists it is given, and growing ones
            # would recompile it at each of a train call's gradient steps (until Dynamo's recompile limit refuses).
            step_logs: TrainLogs = defaultdict(list)
            if self.compile:
                with whole_step_tracing():
                    actor_loss = self._compiled_step()(minibatch, step_logs, update_actor, update_target)
            else:
                actor_loss = self._gradient_step(minibatch, step_logs, update_actor, update_target)
            for key, values in step_logs.items():
                logs[key].extend(values)
            if actor_loss is not None:
                last_actor_update = (minibatch, actor_loss)
        self._record_train_logs(gradient_steps, logs, last_actor_update)

    def _gradient_step(
        self, minibatch: Minibatch, logs: TrainLogs, update_actor: bool, update_target: bool
    ) -> ActorLoss | None:
        """One gradient step of every network, in SAC's order; an algorithm changes it through the hooks below. Returns
        the actor's loss, detached (with its mixture, for the statistics), or None when the actor was not updated."""
        self._value_step(minibatch, logs)

        # Critic: toward the soft target (each loss is built after the step before it, as a shared features extractor
        # has just changed).
        critic_loss = self._critic_loss(minibatch)
        self._optimizer_step(self.critic.optimizer, critic_loss, "critic_loss", logs)

        actor_loss = None
        if update_actor:
            # Actor: the mixture at the actor minibatch's states, scored by the algorithm's loss.
            actor_loss = self._actor_loss(minibatch)
            self._optimizer_step(self.actor.optimizer, actor_loss.loss, "actor_loss", logs)
            for key, value in (actor_loss.logs or {}).items():
                logs[key].append(value)
            # Temperature, when tuned: log alpha toward the target entropy, on the actor loss's log-density estimate.
            if self.ent_coef_optimizer is not None and self.log_ent_coef is not None:
                assert not isinstance(self.target_entropy, str)  # a number once set up
                ent_coef_loss = -(self.log_ent_coef * (actor_loss.entropy_log_prob + self.target_entropy)).mean()
                self._optimizer_step(self.ent_coef_optimizer, ent_coef_loss, "ent_coef_loss", logs)
            actor_loss = actor_loss._replace(loss=actor_loss.loss.detach())

        if update_target:
            self._update_targets()
        return actor_loss

    # The hooks of the training step, in its order: an algorithm overrides those its paper changes.

    def _before_gradient_steps(self) -> None:
        """Work done once per ``train`` call, before its gradient steps (none for SAC)."""

    def _sample_minibatch(self, batch_size: int, logs: TrainLogs) -> Minibatch:
        """A replay minibatch, its discounts and the current alpha (logged); the actor trains on the same minibatch."""
        replay_data = self.replay_buffer.sample(batch_size, env=self._vec_normalize_env)  # type: ignore[union-attr]
        return self._minibatch_from(replay_data, replay_data, logs)

    def _updates_actor(self, gradient_step: int) -> bool:
        """Whether the ``gradient_step``-th step of this ``train`` call updates the actor and alpha (every step in SAC)."""
        return True

    def _updates_target(self, gradient_step: int) -> bool:
        """Whether the ``gradient_step``-th step of this ``train`` call updates the target critic (SAC: every
        ``target_update_interval`` steps of the call)."""
        return gradient_step % self.target_update_interval == 0

    def _value_step(self, minibatch: Minibatch, logs: TrainLogs) -> None:
        """A step before the critic's: SAC v1's state-value network (:class:`~sb3_mixture.common.value.ValueSACFamily`)."""

    def _critic_loss(self, minibatch: Minibatch) -> th.Tensor:
        """SAC's: half the sum over the critics of the squared TD error toward :meth:`_target_q_values`."""
        replay_data = minibatch.replay_data
        target_q_values = self._target_q_values(replay_data, minibatch.discounts, minibatch.ent_coef)
        current_q_values = self.critic(replay_data.observations, replay_data.actions)
        return 0.5 * th.stack([F.mse_loss(current_q, target_q_values) for current_q in current_q_values]).sum()

    def _target_q_values(
        self, replay_data: ReplayBufferSamples, discounts: th.Tensor | float, ent_coef: th.Tensor
    ) -> th.Tensor:
        """SAC's soft target with one action from the mixture: ``r + gamma (1 - d) (min Q'(s', a') - alpha log pi(a'|s'))``."""
        with th.no_grad():
            next_actions, next_log_prob = self.actor.action_log_prob(replay_data.next_observations)
            next_q_values = th.cat(self.critic_target(replay_data.next_observations, next_actions), dim=1)
            next_q_values = next_q_values.min(dim=1, keepdim=True).values - ent_coef * next_log_prob.reshape(-1, 1)
            return replay_data.rewards + (1 - replay_data.dones) * discounts * next_q_values

    def _actor_loss(self, minibatch: Minibatch) -> ActorLoss:
        """The mixture at the actor minibatch's states, scored by :meth:`_mixture_actor_loss`; the detached mixture rides
        along for the logged statistics (no extra forward pass)."""
        observations = minibatch.actor_data.observations
        distribution = self.actor.get_distribution(observations)
        actor_loss = self._mixture_actor_loss(distribution, observations, minibatch.ent_coef)
        mixture = (distribution.mean.detach(), distribution.log_std.detach(), distribution.logits.detach())
        return actor_loss._replace(mixture=mixture)

    def _mixture_actor_loss(
        self, distribution: SquashedGaussianMixture, observations: PyTorchObs, ent_coef: th.Tensor
    ) -> ActorLoss:
        """The algorithm's actor loss of ``distribution``, the mixture at ``observations``. Every algorithm defines it,
        or overrides :meth:`_actor_loss` whole where its loss needs more than the mixture at the states."""
        raise NotImplementedError(f"{type(self).__name__} defines _mixture_actor_loss or overrides _actor_loss")

    def _actor_q_values(self, observations: PyTorchObs, actions: th.Tensor) -> th.Tensor:
        """The critic's value of M actions per state for an actor loss, ``[B, M]`` from ``[B, M, D]`` actions,
        differentiable with respect to the actions only: SAC's minimum over its twin critics."""
        return min_critic_values(self.critic, observations, actions)

    def _update_targets(self) -> None:
        """SAC's Polyak update of the target critic (on the steps :meth:`_updates_target` allows)."""
        polyak_update(list(self.critic.parameters()), list(self.critic_target.parameters()), self.tau)
        # Copy running stats, see SB3 GH issue #996
        polyak_update(self.batch_norm_stats, self.batch_norm_stats_target, 1.0)

    def _minibatch_from(self, replay_data: ReplayBufferSamples, actor_data: ReplayBufferSamples, logs: TrainLogs) -> Minibatch:
        """The :class:`Minibatch` of a critic's and an actor's replay samples, with the discounts and alpha (logged)."""
        # For n-step replay, discount factor is gamma**n_steps (when no early termination)
        discounts = replay_data.discounts if replay_data.discounts is not None else self.gamma
        ent_coef = self._entropy_coefficient()
        logs["ent_coef"].append(ent_coef.mean())
        return Minibatch(replay_data, discounts, ent_coef, actor_data)

    def _compiled_step(self) -> Callable[[Minibatch, TrainLogs, bool, bool], ActorLoss | None]:
        """:meth:`_gradient_step` as one compiled graph, made at the first gradient step after the optimizers are final
        (an algorithm may replace one in its ``_setup_model``, and loading replaces their states)."""
        if self._compiled_gradient_step is None:
            for optimizer in self._trained_optimizers():
                prepare_adam(optimizer)
            self._compiled_gradient_step = compile_function(self._gradient_step)
        return self._compiled_gradient_step

    def set_parameters(self, *args: Any, **kwargs: Any) -> None:
        super().set_parameters(*args, **kwargs)
        self._compiled_gradient_step = None  # new optimizer states: prepare them again

    def _optimizer_step(self, optimizer: th.optim.Optimizer, loss: th.Tensor, name: str, logs: TrainLogs) -> None:
        """Minimise ``loss`` by one step of ``optimizer`` and log it under ``train/<name>``. Eager: backward and the
        optimizer's own step (the policy's Adam is fused by default); ``compile=True``: the gradients by
        ``torch.autograd.grad`` and :func:`~sb3_mixture.common.compile.adam_update`, which trace into the step's graph."""
        if self.compile:
            adam_update(optimizer, th.autograd.grad(loss, optimizer_parameters(optimizer), allow_unused=True))
        else:
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        logs[name].append(loss.detach())

    def _update_learning_rate(self, optimizers: list[th.optim.Optimizer] | th.optim.Optimizer) -> None:
        # SB3's, except that a compiled step's learning-rate tensor is filled in place.
        learning_rate = self.lr_schedule(self._current_progress_remaining)
        self.logger.record("train/learning_rate", learning_rate)
        set_learning_rate(optimizers if isinstance(optimizers, list) else [optimizers], learning_rate)

    def _trained_optimizers(self) -> list[th.optim.Optimizer]:
        """Every optimizer :meth:`_gradient_step` steps."""
        return self._optimizers()

    def _optimizers(self) -> list[th.optim.Optimizer]:
        """Every optimizer whose learning rate follows the schedule."""
        optimizers = [self.actor.optimizer, self.critic.optimizer]
        if self.ent_coef_optimizer is not None:
            optimizers.append(self.ent_coef_optimizer)
        return optimizers

    def _record_train_logs(
        self, gradient_steps: int, logs: TrainLogs, last_actor_update: tuple[Minibatch, ActorLoss] | None
    ) -> None:
        """Count the updates, log the means of ``logs``, and keep the last actor update's minibatch and loss for the
        mixture statistics, which are computed when the logs are written (:meth:`dump_logs`), not at every step."""
        self._n_updates += gradient_steps
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        for key, values in logs.items():
            self.logger.record(f"train/{key}", float(th.stack([th.as_tensor(value) for value in values]).mean()))
        if last_actor_update is not None:
            self._statistics_source = last_actor_update

    def _record_mixture_statistics(self) -> None:
        """Log the mixture statistics of the last training minibatch, if one came since they were last logged."""
        source, self._statistics_source = self._statistics_source, None
        if source is None:
            return
        # Logging must not move the random stream training draws from (SAC-AWMP's gate samples actions).
        with th.no_grad(), th.random.fork_rng(devices=[]):
            statistics = mixture_statistics(self._mixture_for_statistics(*source))
        for key, value in statistics.items():
            self.logger.record(f"train/{key}", value)

    def dump_logs(self) -> None:
        self._record_mixture_statistics()
        super().dump_logs()

    def _mixture_for_statistics(self, minibatch: Minibatch, actor_loss: ActorLoss) -> SquashedGaussianMixture:
        """The mixture whose statistics are logged: the one the actor's loss was built on (no extra forward pass)."""
        if actor_loss.mixture is None:
            return self.actor.get_distribution(minibatch.actor_data.observations)
        mean, log_std, logits = actor_loss.mixture
        mixture = SquashedGaussianMixture(self.actor.action_dim, self.actor.n_components)
        return mixture.proba_distribution(mean, log_std, logits)

    def learn(
        self: SelfSACFamily,
        total_timesteps: int,
        callback: MaybeCallback = None,
        log_interval: int = 4,
        tb_log_name: str | None = None,
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfSACFamily:
        super().learn(
            total_timesteps=total_timesteps,
            callback=callback,
            log_interval=log_interval,
            tb_log_name=tb_log_name or type(self).__name__,
            reset_num_timesteps=reset_num_timesteps,
            progress_bar=progress_bar,
        )
        self._record_mixture_statistics()  # the values since the last write stay readable, as SB3's own logs do
        return self


class SACFamily(SACFamilyMixin, SAC):  # type: ignore[misc]  # the mixin's actor and policy are SAC's, narrowed
    """
    Base of the package's SAC algorithms: :class:`SACFamilyMixin`'s training step over SB3's :class:`~stable_baselines3.SAC`
    (SAC's critic, target critic and entropy tuning), with the mixture policy
    (:class:`~sb3_mixture.common.sac_policies.MixtureSACPolicy`).

    Parameters as :class:`SACFamilyMixin`; the others are :class:`stable_baselines3.SAC`'s.
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {
        "MlpPolicy": MlpPolicy,
        "CnnPolicy": CnnPolicy,
        "MultiInputPolicy": MultiInputPolicy,
    }


class EstimatorMixin(SACFamilyMixin if TYPE_CHECKING else object):  # type: ignore[misc]
    """
    Put before a :class:`SACFamilyMixin` algorithm: its actor loss is one of the actor-gradient estimators
    (:mod:`sb3_mixture.common.estimators`), chosen by ``estimator=`` and scored by the algorithm's critic through
    :meth:`SACFamilyMixin._actor_q_values`.

    :param estimator: Actor-gradient estimator: ``"mrp"`` (default), ``"half_rp"``, ``"gumbel_rp"``, ``"lr"``,
        ``"usgm_rp"``; see :mod:`sb3_mixture.common.estimators`
    :param estimator_kwargs: Keyword arguments of the estimator
    """

    def __init__(
        self,
        policy: Any,
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
        weights (:meth:`SACFamilyMixin._actor_q_values`): the actor loss must not train the critic."""
        return estimator.actor_loss(distribution, lambda actions: self._actor_q_values(observations, actions), ent_coef)
