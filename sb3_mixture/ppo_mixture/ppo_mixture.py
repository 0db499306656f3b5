from typing import Any, ClassVar, TypeVar

import torch as th
from stable_baselines3 import PPO
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import GymEnv, MaybeCallback
from stable_baselines3.common.vec_env import VecEnv

from sb3_mixture.common.compile import check_compiler, compile_function
from sb3_mixture.common.distributions import mixture_statistics
from sb3_mixture.common.precision import check_bf16_hardware, check_precision, set_precision
from sb3_mixture.common.utils import check_box_action_space
from sb3_mixture.ppo_mixture.policies import CnnPolicy, MixtureActorCriticPolicy, MlpPolicy, MultiInputPolicy

SelfPPOMixture = TypeVar("SelfPPOMixture", bound="PPOMixture")


class PPOMixture(PPO):
    """
    Proximal Policy Optimization with a Gaussian-mixture policy (docs/algorithms/ppo_mixture.rst).

    PPO's loss, unchanged, on an unsquashed mixture: the probability ratio uses the exact mixture density
    (logsumexp over components) and the entropy bonus the unbiased estimate ``-sum_k w_k log pi(a_k|s)``
    (:class:`sb3_mixture.common.distributions.GaussianMixture`); with ``ent_coef=0`` (PPO's default) the
    estimate is skipped and SB3 logs ``-log_prob`` as the entropy, as for its own squashed Gaussians.
    Besides PPO's values, logs the mixture statistics of
    :func:`~sb3_mixture.common.distributions.mixture_statistics` on the first minibatch of the last rollout.

    :param policy: MlpPolicy, CnnPolicy or MultiInputPolicy; ``policy_kwargs=dict(n_components=K)``
        (default 5) and ``state_dependent_std``
    :param env: The environment to learn from
    :param compile: Run the policy's forward pass (rollout collection) and its ``evaluate_actions`` (the loss's forward
        and backward passes) as ``torch.compile`` graphs (docs/guide/speed.rst); the same numbers. Needs a C++
        compiler. Saved with the model; ``load(path, compile=...)`` overrides it.
    :param precision: ``"fp32"`` (default) or ``"bf16"``: the hidden layers' matrix products in bfloat16, in rollouts
        and training alike, everything else in float32 (:mod:`~sb3_mixture.common.precision`); needs bf16 hardware.
        Saved with the model; ``load(path, precision=...)`` overrides it.
    :param args: Positional parameters of :class:`stable_baselines3.PPO`
    :param kwargs: Keyword parameters of :class:`stable_baselines3.PPO` (``use_sde`` must stay False)
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {
        "MlpPolicy": MlpPolicy,
        "CnnPolicy": CnnPolicy,
        "MultiInputPolicy": MultiInputPolicy,
    }
    policy: MixtureActorCriticPolicy
    zoo_key: ClassVar[str] = "ppo_mixture"
    """The RL Zoo key (the registry in ``sb3_mixture/__init__.py`` is built from it)."""

    def __init__(
        self,
        policy: str | type[MixtureActorCriticPolicy],
        env: GymEnv | str,
        *args: Any,
        compile: bool = False,
        precision: str = "fp32",
        **kwargs: Any,
    ):
        self.compile = compile
        self.precision = check_precision(precision, type(self).__name__)
        super().__init__(policy, env, *args, **kwargs)

    def _setup_model(self) -> None:
        super()._setup_model()
        # With no entropy bonus the estimate would only be logged: skip its K samples (SB3 then logs -log_prob).
        self.policy.action_dist.estimate_entropy = float(self.ent_coef) != 0.0
        check_bf16_hardware(self.precision, self.device, type(self).__name__)
        set_precision(self.policy, self.precision)
        if self.compile:
            check_compiler(type(self).__name__)
            # Instance attributes over the methods: SB3's rollout and train loops call these, and the module's
            # parameters and saved state are untouched (no ``_orig_mod.`` prefix).
            self.policy.forward = compile_function(self.policy.forward)  # type: ignore[method-assign]
            self.policy.evaluate_actions = compile_function(self.policy.evaluate_actions)  # type: ignore[method-assign]

    @staticmethod
    def _wrap_env(env: GymEnv, verbose: int = 0, monitor_wrapper: bool = True) -> VecEnv:
        vec_env = PPO._wrap_env(env, verbose, monitor_wrapper)
        check_box_action_space(vec_env.action_space, "PPOMixture")
        return vec_env

    def train(self) -> None:
        super().train()
        self._record_mixture_statistics()

    def _record_mixture_statistics(self) -> None:
        rollout = next(self.rollout_buffer.get(self.batch_size))
        with th.no_grad():
            distribution = self.policy.get_distribution(rollout.observations)
        for key, value in mixture_statistics(distribution).items():  # type: ignore[arg-type]
            self.logger.record(f"train/{key}", value)

    def learn(
        self: SelfPPOMixture,
        total_timesteps: int,
        callback: MaybeCallback = None,
        log_interval: int = 1,
        tb_log_name: str = "PPOMixture",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfPPOMixture:
        return super().learn(
            total_timesteps=total_timesteps,
            callback=callback,
            log_interval=log_interval,
            tb_log_name=tb_log_name,
            reset_num_timesteps=reset_num_timesteps,
            progress_bar=progress_bar,
        )


__all__ = ["PPOMixture"]
