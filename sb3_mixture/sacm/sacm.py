import math
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3 import HerReplayBuffer
from stable_baselines3.common.buffers import DictReplayBuffer, ReplayBuffer
from stable_baselines3.common.policies import ContinuousCritic
from stable_baselines3.common.preprocessing import get_action_dim
from stable_baselines3.common.type_aliases import GymEnv, PyTorchObs, ReplayBufferSamples
from torch.nn import functional as F

from sb3_mixture.common.critic import min_critic_values
from sb3_mixture.common.distributions import SquashedGaussianMixture, mixed_marginal_entropy
from sb3_mixture.common.estimators import ActorLoss
from sb3_mixture.common.sac_family import Minibatch, SACFamily, TrainLogs
from sb3_mixture.common.sac_policies import MixtureSACPolicy

SACM_DEFAULT_N_COMPONENTS = 3


class SACM(SACFamily):
    """
    Soft Actor-Critic Mixture (SACM).

    Paper: Baram, Tennenholtz, Mannor 2021, "Maximum Entropy Reinforcement Learning with Mixture Policies"
    (arXiv:2103.10176; docs/algorithms/sacm.rst).
    Fixed uniform weights ``1/N``; the entropy of the mixture is estimated by the mixed
    marginal entropies ``H_i = -log sum_j w_j pi_j(a_i|s)`` of one sample ``a_i ~ pi_i`` per component
    (their Eq. 8), in the actor loss and in the critic target. Component i minimises
    ``alpha_i log pi(a_i|s) - Q(s, a_i)`` (**choice**, see the departures in docs/algorithms/sacm.rst:
    the mixed marginal entropy rather than the
    component's own ``-log pi_i`` of their Eq. 12). One temperature per component, tuned on the component's
    own log-density against the paper's target ``-log D`` (``target_entropy="auto"``; Fig. 2 of the paper: ``-log |A|``
    "where ``|A|`` is the size of the action vector"; SAC's ``-D`` is ``target_entropy=-D``); the critic target uses
    ``alpha = sum_i w_i alpha_i``.

    Hooks overridden (:class:`~sb3_mixture.common.sac_family.SACFamily`): :meth:`_mixture_actor_loss` (above) and
    :meth:`_target_q_values` (alpha averaged over the components); the temperatures are set up in ``_setup_model``.
    A class of its own rather than an estimator because the temperatures are per component and the
    critic target changes; the rest (networks, replay, collection) is the family's. With uniform weights
    every component ties for the heaviest, so ``predict(deterministic=True)`` uses component 0.
    The paper collected 1000 steps then ran 1000 gradient steps (``train_freq=1000, gradient_steps=1000``)
    with N = 3; the defaults here are SAC's cadence and N = 3.

    :param policy: MlpPolicy, CnnPolicy or MultiInputPolicy; ``policy_kwargs=dict(n_components=N)`` (default 3)
    :param env: The environment to learn from
    :param args: Positional parameters of :class:`stable_baselines3.SAC`
    :param kwargs: Keyword parameters of :class:`stable_baselines3.SAC`
    """

    zoo_key = "sacm"
    default_policy_kwargs: ClassVar[dict[str, Any]] = {"n_components": SACM_DEFAULT_N_COMPONENTS}
    fixed_policy_kwargs: ClassVar[dict[str, Any]] = {"uniform_weights": True}

    def _setup_model(self) -> None:
        paper_target = self.target_entropy == "auto"
        super()._setup_model()
        if paper_target:
            # The paper's (Fig. 2 caption): -log |A| with |A| the size of the action vector, where SAC's is -|A|.
            self.target_entropy = -math.log(get_action_dim(self.action_space))
        n_components = self.policy.n_components
        # One temperature per component, all starting from SAC's initial value.
        if self.log_ent_coef is not None:
            self.log_ent_coef = self.log_ent_coef.detach().repeat(n_components).requires_grad_(True)
            self.ent_coef_optimizer = th.optim.Adam([self.log_ent_coef], lr=self.lr_schedule(1))
        else:
            self.ent_coef_tensor = self.ent_coef_tensor.repeat(n_components)

    def _target_q_values(
        self, replay_data: ReplayBufferSamples, discounts: th.Tensor | float, ent_coef: th.Tensor
    ) -> th.Tensor:
        # The critic's temperature is the weighted mean of the components' (uniform weights).
        return super()._target_q_values(replay_data, discounts, ent_coef.mean())

    def _component_q_values(self, critic: ContinuousCritic, observations: PyTorchObs, actions: th.Tensor) -> th.Tensor:
        """``Q(s, a_i)`` for component i's action ``[B, N, D]`` -> ``[B, N]``: one shared (twin) critic."""
        return min_critic_values(critic, observations, actions)

    def _mixture_actor_loss(
        self, distribution: SquashedGaussianMixture, observations: PyTorchObs, ent_coef: th.Tensor
    ) -> ActorLoss:
        actions, gaussian_actions = distribution.rsample_each_component()
        log_probs = distribution.log_prob(actions, gaussian_actions)  # L_i = -H_i
        q_values = self._component_q_values(self.critic, observations, actions)
        loss = (distribution.weights * (ent_coef * log_probs - q_values)).sum(dim=1).mean()
        # Each temperature is tuned on its component's own log-density.
        return ActorLoss(
            loss=loss,
            entropy_log_prob=distribution.own_log_prob_each_component(gaussian_actions).detach(),
            logs={"mixture_entropy": mixed_marginal_entropy(log_probs, distribution.weights).mean().detach()},
        )


@dataclass(frozen=True)
class HeadMinibatch(Minibatch):
    """S2ACM's minibatch: which critic head trains on each transition."""

    head_mask: th.Tensor | None = None
    """``[B, N]`` one-hot of each transition's head; None where every head sees every transition."""


class IndexedSamplesMixin:
    """A replay buffer that remembers the buffer positions of its last minibatch (S2ACM splits the data by position)."""

    last_indices: np.ndarray

    def _get_samples(self, batch_inds: np.ndarray, *args: Any, **kwargs: Any) -> Any:
        self.last_indices = batch_inds
        return super()._get_samples(batch_inds, *args, **kwargs)  # type: ignore[misc]


class IndexedReplayBuffer(IndexedSamplesMixin, ReplayBuffer):
    """SB3's ``ReplayBuffer`` with :class:`IndexedSamplesMixin`."""


class IndexedDictReplayBuffer(IndexedSamplesMixin, DictReplayBuffer):
    """SB3's ``DictReplayBuffer`` with :class:`IndexedSamplesMixin`."""


class IndexedHerReplayBuffer(IndexedSamplesMixin, HerReplayBuffer):
    """SB3's ``HerReplayBuffer`` with :class:`IndexedSamplesMixin`: the positions of its rows, real ones first and then the
    relabelled ones, as ``HerReplayBuffer.sample`` concatenates them. A relabelled transition keeps the position of the
    one it relabels, so it trains the same head: each head still sees its own disjoint part of the stored data."""

    _real_indices: np.ndarray

    def _get_real_samples(self, batch_indices: np.ndarray, *args: Any, **kwargs: Any) -> Any:
        self._real_indices = batch_indices
        return super()._get_real_samples(batch_indices, *args, **kwargs)

    def _get_virtual_samples(self, batch_indices: np.ndarray, *args: Any, **kwargs: Any) -> Any:
        self.last_indices = np.concatenate([self._real_indices, batch_indices])
        return super()._get_virtual_samples(batch_indices, *args, **kwargs)


class S2ACM(SACM):
    """
    Semi-Soft Actor-Critic Mixture (S2ACM), Baram et al. 2021, Eq. 14 (arXiv:2103.10176; docs/algorithms/sacm.rst).

    As :class:`SACM`, with one soft Q-function per component: the critic has N heads, each a twin pair
    (SB3's ``ContinuousCritic`` with ``n_critics = 2N``). Head i's entropy bonus is the partial sum of the
    mixed marginal entropies ``sum_{j<=i} w_j H_j(s')`` (**choice**: weighted by ``w_j`` so that the last
    head's bonus is exactly SACM's entropy estimate), evaluated at component i's next action
    ``a'_i ~ pi_i(.|s')``; component i is trained against head i.

    The heads train on non-overlapping data, as the paper proposes to break their symmetry ("train them using
    non-overlapping bootstrapped data samples", Section 4): the transition stored at buffer position p trains head
    ``p mod N`` only, so each head sees a fixed, disjoint ``1/N`` of the replay buffer and
    a minibatch gives each head about ``B/N`` rows (each head's loss is the mean over its own rows).

    Hooks overridden beyond SACM's: :meth:`_sample_minibatch` (the heads' rows, :class:`HeadMinibatch`),
    :meth:`_critic_loss` (each head on its own rows) and :meth:`_target_q_values` (a target per head).

    :param bootstrap_heads: Split the data between the heads as above (the paper's); False trains every head on the
        whole minibatch
    """

    zoo_key = "s2acm"
    zoo_config = "sacm"  # SACM's hyperparameters (the paper's for both)

    def __init__(
        self,
        policy: str | type[MixtureSACPolicy],
        env: GymEnv | str,
        *args: Any,
        bootstrap_heads: bool = True,
        **kwargs: Any,
    ):
        self.bootstrap_heads = bootstrap_heads
        replay_buffer_class = kwargs.get("replay_buffer_class")
        if bootstrap_heads and replay_buffer_class is HerReplayBuffer:
            kwargs["replay_buffer_class"] = IndexedHerReplayBuffer  # HER, with the positions the heads split by
        elif bootstrap_heads and replay_buffer_class is not None and not issubclass(replay_buffer_class, IndexedSamplesMixin):
            raise ValueError(
                "S2ACM(bootstrap_heads=True) needs replay_buffer_class to record the minibatch positions: "
                "HerReplayBuffer or a subclass of sb3_mixture.sacm.sacm.IndexedSamplesMixin (or bootstrap_heads=False)"
            )
        # N heads of twin critics: the critic count follows the number of components.
        policy_kwargs = {**self.default_policy_kwargs, **(kwargs.get("policy_kwargs") or {})}
        kwargs["policy_kwargs"] = {**policy_kwargs, "n_critics": 2 * policy_kwargs["n_components"]}
        super().__init__(policy, env, *args, **kwargs)

    def _setup_model(self) -> None:
        if self.bootstrap_heads and self.replay_buffer_class is None:
            dict_observations = isinstance(self.observation_space, spaces.Dict)
            self.replay_buffer_class = IndexedDictReplayBuffer if dict_observations else IndexedReplayBuffer
        super()._setup_model()

    def _sample_minibatch(self, batch_size: int, logs: TrainLogs) -> HeadMinibatch:
        minibatch = HeadMinibatch(**vars(super()._sample_minibatch(batch_size, logs)))
        if not self.bootstrap_heads:
            return minibatch
        assert isinstance(self.replay_buffer, IndexedSamplesMixin)
        heads = th.as_tensor(self.replay_buffer.last_indices % self.policy.n_components, device=self.device)
        return replace(minibatch, head_mask=F.one_hot(heads.long(), self.policy.n_components).float())

    def _critic_loss(self, minibatch: Minibatch) -> th.Tensor:
        """Each head's twins regress on that head's target: half the sum over the 2N networks of the mean squared error
        over the head's own transitions (all of the minibatch without ``bootstrap_heads``)."""
        replay_data = minibatch.replay_data
        target_q_values = self._target_q_values(replay_data, minibatch.discounts, minibatch.ent_coef)
        current_q_values = th.cat(self.critic(replay_data.observations, replay_data.actions), dim=1)  # [B, 2N]
        per_head = current_q_values.shape[1] // target_q_values.shape[1]
        squared_errors = (current_q_values - target_q_values.repeat_interleave(per_head, dim=1)).square()
        if not isinstance(minibatch, HeadMinibatch) or minibatch.head_mask is None:
            return 0.5 * squared_errors.mean(dim=0).sum()
        mask = minibatch.head_mask.repeat_interleave(per_head, dim=1)
        return 0.5 * ((squared_errors * mask).sum(dim=0) / mask.sum(dim=0).clamp(min=1.0)).sum()

    def _component_q_values(self, critic: ContinuousCritic, observations: PyTorchObs, actions: th.Tensor) -> th.Tensor:
        """Head i (its twin pair, minimum) on component i's action: ``[B, N, D]`` -> ``[B, N]``."""
        n_heads = actions.shape[1]
        per_head = len(critic.q_networks) // n_heads
        heads = [critic.q_networks[head * per_head : (head + 1) * per_head] for head in range(n_heads)]
        values = [min_critic_values(critic, observations, actions[:, head : head + 1], heads[head]) for head in range(n_heads)]
        return th.cat(values, dim=1)

    def _target_q_values(
        self, replay_data: ReplayBufferSamples, discounts: th.Tensor | float, ent_coef: th.Tensor
    ) -> th.Tensor:
        """Per head i: ``r + gamma (1 - d) (Q'_i(s', a'_i) + alpha sum_{j<=i} w_j H_j(s'))``, shape ``[B, N]``."""
        with th.no_grad():
            distribution = self.actor.get_distribution(replay_data.next_observations)
            actions, gaussian_actions = distribution.rsample_each_component()
            log_probs = distribution.log_prob(actions, gaussian_actions)
            partial_entropy = -(distribution.weights * log_probs).cumsum(dim=1)
            next_q_values = self._component_q_values(self.critic_target, replay_data.next_observations, actions)
            return replay_data.rewards + (1 - replay_data.dones) * discounts * (
                next_q_values + ent_coef.mean() * partial_entropy
            )
