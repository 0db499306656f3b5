import math
from collections import defaultdict
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple, cast

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3 import HerReplayBuffer
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.noise import ActionNoise
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import GymEnv, PyTorchObs, ReplayBufferSamples

from sb3_mixture.common.compile import polyak_update
from sb3_mixture.common.critic import min_critic_values
from sb3_mixture.common.distributions import SquashedGaussianMixture, gaussian_log_density, tanh_log_det
from sb3_mixture.common.estimators import ActorLoss
from sb3_mixture.common.sac_family import Minibatch, TrainLogs
from sb3_mixture.common.value import ValueSACFamily
from sb3_mixture.sac_awmp.buffers import (
    BehaviourLogProbMixin,
    BehaviourReplayBuffer,
    DictBehaviourReplayBuffer,
    HerBehaviourReplayBuffer,
)
from sb3_mixture.sac_awmp.policies import (
    PAPER_ENT_COEF,
    SAC_AWMP_DEFAULT_N_COMPONENTS,
    AWMPPolicy,
    CnnPolicy,
    MlpPolicy,
    MultiInputPolicy,
    combined_gaussian,
)

if TYPE_CHECKING:
    import optuna

COMPONENT_LOSSES = ("combined", "per_component")
# Finite bounds for the importance log-weights: softmax stays defined even if an advantage overflowed to +-inf.
_LOG_WEIGHT_BOUND = 1e6


def importance_weights(advantages: th.Tensor, behaviour_log_prob: th.Tensor) -> th.Tensor:
    """
    AWMP's normalised advantage-weighted importance weights (Hou et al. 2020, Eq. 11):
    ``w_n ∝ exp(A_n) / mu(a_n|s_n)``, normalised over the minibatch, computed in log space (softmax subtracts the max).

    :param advantages: ``A(s_n, a_n)``, ``[N]``
    :param behaviour_log_prob: ``log mu(a_n|s_n)``, ``[N]``
    :return: ``[N]``, non-negative, summing to 1
    """
    # A NaN log-weight (an infinite advantage minus an infinite log-density) gets the lowest weight, so one bad
    # transition cannot take the whole minibatch; a minibatch of NaNs only gives uniform weights.
    log_weights = (advantages - behaviour_log_prob).nan_to_num(nan=-_LOG_WEIGHT_BOUND)
    return th.softmax(log_weights.clamp(-_LOG_WEIGHT_BOUND, _LOG_WEIGHT_BOUND), dim=0)


class PriorObjective(NamedTuple):
    loss: th.Tensor
    """``J(eta) = l(eta) - zeta I``, minimised."""
    mutual_information: th.Tensor
    perturbation: th.Tensor


def prior_objective(
    log_probs: th.Tensor, perturbed_log_probs: th.Tensor, weights: th.Tensor, information_coef: float
) -> PriorObjective:
    """
    AWMP's advantage-weighted information maximisation (Hou et al. 2020, arXiv:2002.02829, Eqs. 5-14):
    ``J = KL(P(h|s~, a~) || P(h|s, a)) - zeta (H(h) - H(h|s, a))``, with the marginal
    ``P_hat(h) = sum_n w_n P(h|s_n, a_n)`` and ``H(h|s, a) = -sum_n w_n sum_h P log P``.

    The sign is the paper's: a lower ``J`` means a higher mutual information, i.e. balanced use of the
    components (high marginal entropy) and confident assignments (low conditional entropy). The authors' code
    inverts the marginal term, which rewards uniform assignments (tests check the paper's ordering).

    :param log_probs: ``log P(h|s_n, a_n)``, ``[N, K]``
    :param perturbed_log_probs: ``log P(h|s~_n, a~_n)`` at the perturbed inputs, ``[N, K]``
    :param weights: Normalised importance weights ``w_n``, ``[N]``
    :param information_coef: zeta
    """
    probs = log_probs.exp()
    marginal = (weights.unsqueeze(1) * probs).sum(dim=0)
    marginal_entropy = -(marginal * th.log(marginal.clamp_min(th.finfo(marginal.dtype).tiny))).sum()
    conditional_entropy = -(weights * (probs * log_probs).sum(dim=1)).sum()
    mutual_information = marginal_entropy - conditional_entropy
    perturbation = (perturbed_log_probs.exp() * (perturbed_log_probs - log_probs)).sum(dim=1).mean()
    return PriorObjective(perturbation - information_coef * mutual_information, mutual_information, perturbation)


class SACAWMP(ValueSACFamily):
    """
    Soft Actor-Critic with an Advantage Weighted Mixture Policy (SAC-AWMP).

    Paper: Hou et al. 2020, "Off-Policy Maximum Entropy Reinforcement Learning: Soft Actor-Critic with Advantage
    Weighted Mixture Policy (SAC-AWMP)" (arXiv:2002.02829; docs/algorithms/sac_awmp.rst).
    K squashed-Gaussian components, acted with the gate ``rho(g|s)`` of soft option values
    (:class:`sb3_mixture.sac_awmp.policies.AWMPPolicy`), and a prior network ``P(h|s, a)`` whose weights combine the
    components in their loss; the paper's losses, term by term, are on docs/algorithms/sac_awmp.rst. Each gradient
    step trains (1) the value network toward the gated soft option values, (2) the twin critics toward
    ``r + gamma (1 - d) V_target(s')``, (3) the components on a larger minibatch by ``component_loss`` (``"combined"``,
    the paper's Eqs. 25-27; ``"per_component"``, each component's SAC loss weighed by the prior's assignment of the
    buffer action), and (4) updates ``V_target`` with ``tau`` and the gate's slow critic ``Q_bar`` with ``tau_q``. Every
    ``prior_update_interval`` environment steps the prior trains on the last ``prior_window`` transitions
    (:func:`prior_objective`, weighted by :func:`importance_weights`).

    Hooks overridden (:class:`~sb3_mixture.common.value.ValueSACFamily`): :meth:`_before_gradient_steps` (the prior),
    :meth:`_sample_minibatch` (the larger actor minibatch), :meth:`_value_targets` (1), :meth:`_actor_loss` (3, whole:
    it needs the buffer actions and the prior), :meth:`_update_targets` (4), and :meth:`_mixture_for_statistics` (the
    gate's weights); acting (``_sample_action``) and storing the behaviour density (``_store_transition``) too.

    Defaults are the paper's Table 3 (alpha fixed at 0.2: ``ent_coef="auto"`` is refused, the gate and the value
    target need one alpha); its 400x400 networks are left to ``policy_kwargs``.

    :param policy: MlpPolicy, CnnPolicy or MultiInputPolicy; ``policy_kwargs=dict(n_components=K)`` (default 4)
    :param env: The environment to learn from
    :param ent_coef: alpha_pi, the components' entropy coefficient (0.2)
    :param batch_size: Critic and value minibatch (100)
    :param gate_ent_coef: alpha_g, the gate's entropy coefficient (0.001)
    :param tau_q: Polyak coefficient of the gate's target critic Q_bar (0.001); ``tau`` is tau_V (0.005)
    :param policy_batch_size: Minibatch of the components' loss (default ``K * batch_size``: 400 for K = 4)
    :param prior_update_interval: Environment steps between prior-network updates, M (5000)
    :param prior_gradient_steps: Minibatches per prior update (5000)
    :param prior_batch_size: Prior minibatch (50)
    :param prior_window: Most recent transitions the prior samples from (5000)
    :param perturbation_noise: Standard deviation of the input perturbation of the regulariser (0.04)
    :param information_coef: zeta, the weight of the mutual information (0.1)
    :param component_loss: The components' loss: ``"combined"`` (the paper) or ``"per_component"`` (see above)
    :param args: Positional parameters of :class:`stable_baselines3.SAC`
    :param kwargs: Keyword parameters of :class:`stable_baselines3.SAC`
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {  # type: ignore[assignment]
        "MlpPolicy": MlpPolicy,
        "CnnPolicy": CnnPolicy,
        "MultiInputPolicy": MultiInputPolicy,
    }
    policy: AWMPPolicy
    replay_buffer: BehaviourReplayBuffer | DictBehaviourReplayBuffer  # type: ignore[assignment]
    zoo_key = "sac_awmp"
    default_policy_kwargs: ClassVar[dict[str, Any]] = {"n_components": SAC_AWMP_DEFAULT_N_COMPONENTS}
    # The actor's own weights are unused: the gate and the prior weigh the components instead.
    fixed_policy_kwargs: ClassVar[dict[str, Any]] = {"uniform_weights": True}

    @classmethod
    def sample_zoo_hyperparameters(cls, trial: "optuna.Trial") -> dict[str, Any]:
        """AWMP's fixed alpha and the mutual-information weight zeta, both log-uniform in [0.01, 1]."""
        return {
            "ent_coef": trial.suggest_float("ent_coef", 0.01, 1.0, log=True),
            "information_coef": trial.suggest_float("information_coef", 0.01, 1.0, log=True),
        }

    def __init__(
        self,
        policy: str | type[AWMPPolicy],
        env: GymEnv | str,
        *args: Any,
        ent_coef: float = PAPER_ENT_COEF,
        batch_size: int = 100,
        gate_ent_coef: float = 0.001,
        tau_q: float = 0.001,
        policy_batch_size: int | None = None,
        prior_update_interval: int = 5000,
        prior_gradient_steps: int = 5000,
        prior_batch_size: int = 50,
        prior_window: int = 5000,
        perturbation_noise: float = 0.04,
        information_coef: float = 0.1,
        component_loss: str = "combined",
        **kwargs: Any,
    ):
        if component_loss not in COMPONENT_LOSSES:
            raise ValueError(f"component_loss must be one of {', '.join(map(repr, COMPONENT_LOSSES))}, got {component_loss!r}")
        if isinstance(ent_coef, str) or not ent_coef > 0:
            raise ValueError(f"ent_coef must be a fixed float > 0 for SACAWMP (the paper's 0.2), got {ent_coef!r}")
        if kwargs.get("action_noise") is not None:
            raise ValueError("action_noise must be None for SACAWMP: the stored behaviour density would not be exact")
        replay_buffer_class = kwargs.get("replay_buffer_class")
        if replay_buffer_class is HerReplayBuffer:
            kwargs["replay_buffer_class"] = HerBehaviourReplayBuffer  # HER, with the behaviour density the prior needs
        elif replay_buffer_class is not None and not issubclass(replay_buffer_class, BehaviourLogProbMixin):
            raise ValueError(
                "replay_buffer_class must store the behaviour log-density for SACAWMP: BehaviourReplayBuffer, "
                f"DictBehaviourReplayBuffer or HerReplayBuffer (HerBehaviourReplayBuffer), got {replay_buffer_class.__name__}"
            )
        for name, value in dict(
            prior_update_interval=prior_update_interval, prior_batch_size=prior_batch_size, prior_window=prior_window
        ).items():
            if value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        self.gate_ent_coef = gate_ent_coef
        self.tau_q = tau_q
        self.policy_batch_size = policy_batch_size
        self.prior_update_interval = prior_update_interval
        self.prior_gradient_steps = prior_gradient_steps
        self.prior_batch_size = prior_batch_size
        self.prior_window = prior_window
        self.perturbation_noise = perturbation_noise
        self.information_coef = information_coef
        self.component_loss = component_loss
        self._last_prior_update = 0
        self._behaviour_log_prob = np.zeros(1, dtype=np.float32)
        policy_kwargs = dict(kwargs.get("policy_kwargs") or {})
        policy_kwargs["ent_coef"] = ent_coef
        kwargs["policy_kwargs"] = policy_kwargs
        super().__init__(policy, env, *args, ent_coef=ent_coef, batch_size=batch_size, **kwargs)

    def _setup_model(self) -> None:
        if self.replay_buffer_class is None:
            dict_observations = isinstance(self.observation_space, spaces.Dict)
            self.replay_buffer_class = DictBehaviourReplayBuffer if dict_observations else BehaviourReplayBuffer
        super()._setup_model()

    def _sample_action(
        self, learning_starts: int, action_noise: ActionNoise | None = None, n_envs: int = 1
    ) -> tuple[np.ndarray, np.ndarray]:
        """The gated, combined action and its log-density, kept for the replay buffer."""
        if self.num_timesteps < learning_starts:
            action, buffer_action = super()._sample_action(learning_starts, action_noise, n_envs)
            # Uniform over the scaled box [-1, 1]^D.
            self._behaviour_log_prob = np.full(n_envs, -self.actor.action_dim * math.log(2.0), dtype=np.float32)
            return action, buffer_action
        assert self._last_obs is not None, "self._last_obs was not set"
        observations, _ = self.policy.obs_to_tensor(self._last_obs)
        actions, log_prob = self.policy.behaviour_action(observations)
        assert isinstance(self.action_space, spaces.Box)
        buffer_action = actions.cpu().numpy().reshape((-1, *self.action_space.shape))
        self._behaviour_log_prob = log_prob.cpu().numpy()
        return self.policy.unscale_action(buffer_action), buffer_action

    def _store_transition(self, replay_buffer: ReplayBuffer, buffer_action: np.ndarray, *args: Any, **kwargs: Any) -> None:
        assert isinstance(replay_buffer, BehaviourLogProbMixin)
        replay_buffer.next_behaviour_log_prob = self._behaviour_log_prob
        super()._store_transition(replay_buffer, buffer_action, *args, **kwargs)

    def _advantages(self, observations: PyTorchObs, actions: th.Tensor) -> th.Tensor:
        """``A(s, a) = min Q(s, a) - V(s)``, ``[B]``, without gradient."""
        with th.no_grad():
            q_values = min_critic_values(self.critic, observations, actions.unsqueeze(1)).squeeze(1)
            return q_values - self.policy.value(observations).squeeze(1)

    def train_prior(self, gradient_steps: int) -> None:
        """``gradient_steps`` steps of the prior network on semi on-policy minibatches (the last ``prior_window`` steps)."""
        logs: dict[str, list[float]] = defaultdict(list)
        prior = self.policy.prior
        for _ in range(gradient_steps):
            batch = self.replay_buffer.sample_recent(self.prior_batch_size, self.prior_window, env=self._vec_normalize_env)
            observations, actions = batch.transitions.observations, batch.transitions.actions
            weights = importance_weights(self._advantages(observations, actions), batch.behaviour_log_prob)
            objective = prior_objective(
                prior(observations, actions),
                prior(observations, actions, noise_std=self.perturbation_noise),
                weights,
                self.information_coef,
            )
            prior.optimizer.zero_grad()
            objective.loss.backward()
            prior.optimizer.step()
            logs["prior_loss"].append(objective.loss.item())
            logs["prior_mutual_information"].append(objective.mutual_information.item())
            logs["prior_perturbation"].append(objective.perturbation.item())
            # Kish's effective sample size of the importance weights, as a fraction of the minibatch: near 0, a few
            # transitions carry the whole prior update.
            logs["prior_weights_effective_fraction"].append((1.0 / weights.square().sum() / len(weights)).item())
        for key, values in logs.items():
            self.logger.record(f"train/{key}", np.mean(values))

    def _before_gradient_steps(self) -> None:
        """The prior network's update, every ``prior_update_interval`` environment steps."""
        if self.num_timesteps - self._last_prior_update >= self.prior_update_interval:
            self._last_prior_update = self.num_timesteps
            self.train_prior(self.prior_gradient_steps)

    def _sample_minibatch(self, batch_size: int, logs: TrainLogs) -> Minibatch:
        """One draw of ``policy_batch_size`` transitions for the components; its first ``batch_size`` rows, a uniform
        minibatch too, serve the value network and the critic."""
        policy_batch_size = self.policy_batch_size or self.policy.n_components * batch_size
        sampled = self.replay_buffer.sample(max(policy_batch_size, batch_size), env=self._vec_normalize_env)
        # SB3 types Dict minibatches apart; both hold the same fields, which is all the steps read.
        actor_data = cast(ReplayBufferSamples, sampled)
        if isinstance(self.replay_buffer, HerReplayBuffer):
            # HER puts its real rows first and the relabelled ones after: the first rows are no uniform draw.
            replay_data = cast(ReplayBufferSamples, self.replay_buffer.sample(batch_size, env=self._vec_normalize_env))
        else:
            replay_data = cast(ReplayBufferSamples, type(sampled)(*(_first_rows(field, batch_size) for field in sampled)))
        return self._minibatch_from(replay_data, actor_data, logs)

    def _mixture_for_statistics(self, minibatch: Minibatch, actor_loss: ActorLoss) -> SquashedGaussianMixture:
        """The components with the gate's weights ``rho(.|s)``, the weights the actions are combined with."""
        observations = minibatch.replay_data.observations
        distribution = self.actor.get_distribution(observations)
        log_gate = self.policy.gate_log_weights(observations, distribution)
        return distribution.proba_distribution(distribution.mean, distribution.log_std, log_gate)

    def _value_targets(self, minibatch: Minibatch) -> th.Tensor:
        """``sum_h rho_h [min Q(s, a_h) - alpha log pi_h(a_h|s) - alpha_g log rho_h]``, one sample per component."""
        observations = minibatch.replay_data.observations
        with th.no_grad():
            distribution = self.actor.get_distribution(observations)
            actions, gaussian_actions = distribution.rsample_each_component()
            soft_option_values = min_critic_values(self.critic, observations, actions) - minibatch.ent_coef * (
                distribution.own_log_prob_each_component(gaussian_actions)
            )
            log_gate = self.policy.gate_log_weights(observations, distribution)
            return (log_gate.exp() * (soft_option_values - self.gate_ent_coef * log_gate)).sum(dim=1, keepdim=True)

    def _actor_loss(self, minibatch: Minibatch) -> ActorLoss:
        """The components' loss on the larger minibatch (``component_loss``)."""
        if self.component_loss == "combined":
            return self._combined_action_loss(minibatch)
        return self._per_component_loss(minibatch)

    def _combined_action_loss(self, minibatch: Minibatch) -> ActorLoss:
        """Eq. 26 at ``F = tanh(sum_i h_i u_i)`` with ``h = P(.|s, a)``, ``a ~ pi(.|s)`` fresh (Algorithm 1, lines 15-16)."""
        observations = minibatch.actor_data.observations
        distribution = self.actor.get_distribution(observations)
        with th.no_grad():
            fresh_actions, _ = self.policy.gated_action(observations, distribution)
            assignment = self.policy.prior(observations, fresh_actions).exp()
        _, component_gaussian_actions = distribution.rsample_each_component()
        gaussian_actions = (assignment.unsqueeze(-1) * component_gaussian_actions).sum(dim=1)  # Eq. 25, before tanh
        mean, log_std = combined_gaussian(assignment, distribution)
        log_prob = gaussian_log_density(gaussian_actions, mean, log_std) - tanh_log_det(gaussian_actions)
        q_values = min_critic_values(self.critic, observations, th.tanh(gaussian_actions).unsqueeze(1)).squeeze(1)
        return ActorLoss((minibatch.ent_coef * log_prob - q_values).mean(), log_prob.detach())

    def _per_component_loss(self, minibatch: Minibatch) -> ActorLoss:
        """``-mean(sum_o p_o Q(s, a_o) - alpha sum_o p_o log pi_o(a_o|s) - alpha_g sum_o p_o log p_o)``,
        ``p = P(.|s, a_buffer)``."""
        observations, buffer_actions = minibatch.actor_data.observations, minibatch.actor_data.actions
        with th.no_grad():
            log_assignment = self.policy.prior(observations, buffer_actions)
        assignment = log_assignment.exp()
        distribution = self.actor.get_distribution(observations)
        actions, gaussian_actions = distribution.rsample_each_component()
        q_values = min_critic_values(self.critic, observations, actions)
        own_log_probs = distribution.own_log_prob_each_component(gaussian_actions)
        objective = assignment * (q_values - minibatch.ent_coef * own_log_probs - self.gate_ent_coef * log_assignment)
        return ActorLoss(-objective.sum(dim=1).mean(), own_log_probs.detach())

    def _update_targets(self) -> None:
        """``V_target`` with ``tau`` (tau_V), the gate's slow critic ``Q_bar`` with ``tau_q``."""
        super()._update_targets()
        polyak_update(list(self.critic.parameters()), list(self.critic_target.parameters()), self.tau_q)
        polyak_update(self.batch_norm_stats, self.batch_norm_stats_target, 1.0)

    def _optimizers(self) -> list[th.optim.Optimizer]:
        return [*super()._optimizers(), self.policy.prior.optimizer]

    def _trained_optimizers(self) -> list[th.optim.Optimizer]:
        """The prior network trains outside the gradient step (:meth:`train_prior`)."""
        return [optimizer for optimizer in self._optimizers() if optimizer is not self.policy.prior.optimizer]


def _first_rows(field: Any, n_rows: int) -> Any:
    """The first ``n_rows`` of a minibatch field (a tensor, a dict of tensors, or None)."""
    if field is None:
        return None
    if isinstance(field, dict):
        return {key: value[:n_rows] for key, value in field.items()}
    return field[:n_rows]
