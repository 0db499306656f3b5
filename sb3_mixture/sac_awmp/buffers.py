from typing import Any, NamedTuple

import numpy as np
import torch as th
from stable_baselines3 import HerReplayBuffer
from stable_baselines3.common.buffers import DictReplayBuffer, ReplayBuffer
from stable_baselines3.common.type_aliases import DictReplayBufferSamples, ReplayBufferSamples
from stable_baselines3.common.vec_env import VecNormalize


class BehaviourSamples(NamedTuple):
    transitions: ReplayBufferSamples | DictReplayBufferSamples
    behaviour_log_prob: th.Tensor
    """``log mu(a|s)``: the behaviour policy's log-density of each stored (scaled) action at collection time, ``[B]``."""


class BehaviourLogProbMixin:
    """
    Adds ``log mu(a|s)`` to an SB3 replay buffer: the log-density of each action under the policy that took it, for
    SAC-AWMP's importance weights (recomputing it later, with a policy that has changed since, would be wrong).

    The algorithm sets :attr:`next_behaviour_log_prob` (one value per env) before each ``add``.
    :meth:`sample_recent` draws from the most recent transitions (AWMP's "semi on-policy" batches).
    """

    buffer_size: int
    n_envs: int
    pos: int
    full: bool
    to_torch: Any

    optimize_memory_usage: bool

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if self.optimize_memory_usage:
            raise ValueError("optimize_memory_usage must be False for SAC-AWMP's replay buffer")
        self.behaviour_log_probs = np.zeros((self.buffer_size, self.n_envs), dtype=np.float32)
        self.next_behaviour_log_prob: np.ndarray | None = None

    def add(self, *args: Any, **kwargs: Any) -> None:
        if self.next_behaviour_log_prob is None:
            raise RuntimeError("set next_behaviour_log_prob (log mu(a|s) per env) before adding a transition")
        self.behaviour_log_probs[self.pos] = self.next_behaviour_log_prob
        self.next_behaviour_log_prob = None
        super().add(*args, **kwargs)  # type: ignore[misc]

    def _get_samples_with_log_prob(self, batch_inds: np.ndarray, env: VecNormalize | None) -> BehaviourSamples:
        # SB3's _get_samples draws the env indices with its first np.random call: replay the generator's state to
        # read log mu at the same indices (tests/test_sac_awmp.py checks the alignment with vectorised envs).
        state_before = np.random.get_state()
        transitions = super()._get_samples(batch_inds, env)  # type: ignore[misc]
        state_after = np.random.get_state()
        np.random.set_state(state_before)
        env_indices = np.random.randint(0, high=self.n_envs, size=(len(batch_inds),))
        np.random.set_state(state_after)
        return BehaviourSamples(transitions, self.to_torch(self.behaviour_log_probs[batch_inds, env_indices]))

    def sample_with_log_prob(self, batch_size: int, env: VecNormalize | None = None) -> BehaviourSamples:
        """Uniform over the whole buffer, as ``sample``, with ``log mu``."""
        upper_bound = self.buffer_size if self.full else self.pos
        return self._get_samples_with_log_prob(np.random.randint(0, upper_bound, size=batch_size), env)

    def sample_recent(self, batch_size: int, window: int, env: VecNormalize | None = None) -> BehaviourSamples:
        """``batch_size`` transitions drawn uniformly from the last ``window`` steps (of every env), with ``log mu``."""
        n_recent = min(window, self.buffer_size if self.full else self.pos)
        batch_inds = (self.pos - 1 - np.random.randint(0, n_recent, size=batch_size)) % self.buffer_size
        return self._get_samples_with_log_prob(batch_inds, env)


class BehaviourReplayBuffer(BehaviourLogProbMixin, ReplayBuffer):
    """SB3's :class:`ReplayBuffer` with the behaviour log-density, see :class:`BehaviourLogProbMixin`."""


class DictBehaviourReplayBuffer(BehaviourLogProbMixin, DictReplayBuffer):
    """SB3's :class:`DictReplayBuffer` with the behaviour log-density, see :class:`BehaviourLogProbMixin`."""


class HerBehaviourReplayBuffer(BehaviourLogProbMixin, HerReplayBuffer):
    """
    SB3's :class:`HerReplayBuffer` with the behaviour log-density (docs/algorithms/sac_awmp.rst, "Goal-conditioned tasks").

    ``sample`` relabels goals as HER does; it feeds the critics, the value network and the components, none of which
    reads ``log mu``. :meth:`sample_recent`, the prior's minibatch, returns the transitions as they were collected, with
    the goal the action was taken for: there ``log mu(a|s, g)`` is the density of the distribution the action was
    drawn from, which the importance weights divide by. Under a relabelled goal ``g'`` the action was not drawn from
    ``mu(.|s, g')``, and its density there was never computed.
    """
