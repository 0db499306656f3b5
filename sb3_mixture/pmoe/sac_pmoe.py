from typing import Any, ClassVar

import torch as th
from stable_baselines3.common.type_aliases import GymEnv, PyTorchObs, ReplayBufferSamples

from sb3_mixture.common.critic import min_critic_values
from sb3_mixture.common.distributions import SquashedGaussianMixture
from sb3_mixture.common.estimators import ActorLoss, MixtureEstimator
from sb3_mixture.common.utils import frozen
from sb3_mixture.pmoe.losses import BACK_PROPAGATION_MODES, pmoe_losses
from sb3_mixture.sac_mixture import SACMixture
from sb3_mixture.sac_mixture.policies import MixtureSACPolicy

PMOE_DEFAULT_N_COMPONENTS = 4


class SACPMOE(SACMixture):
    """
    SAC with a probabilistic mixture of experts (PMOE-SAC).

    Paper: Ren et al. 2021, "Probabilistic Mixture-of-Experts for Efficient Deep Reinforcement Learning"
    (arXiv:2104.09122; docs/algorithms/sac_pmoe.rst).
    The components are trained by back-propagation-max (or ``all``) on their own
    log-densities (:func:`pmoe_losses`); the gate, a linear layer on the DETACHED trunk features, by the
    frequency-approximate routing loss; both losses go into one backward pass. The critic target samples
    ``k' ~ Cat(w(s'))``, ``a' ~ pi_k'`` and uses ``log pi_k'(a')``; the temperature is tuned on the best
    component's log-density against ``-D``.

    ``predict(deterministic=True)`` returns the squashed mean of the heaviest component, so that evaluation
    is reproducible (the paper's deterministic action is the mean of a *sampled* component).

    :param back_propagation: ``"max"`` (default, the paper's) or ``"all"``
    :param routing_coef: Weight of the routing loss (1.0: the authors' plain sum)
    :param policy_kwargs: ``n_components`` defaults to 4 (paper: HalfCheetah 2, Humanoid 10)

    Other parameters as :class:`stable_baselines3.SAC`.
    """

    zoo_key = "sac_pmoe"
    default_policy_kwargs: ClassVar[dict[str, Any]] = {"n_components": PMOE_DEFAULT_N_COMPONENTS}
    # The gate reads the trunk's features without training them: routing does not train the shared layers.
    fixed_policy_kwargs: ClassVar[dict[str, Any]] = {"detach_gate": True}
    has_own_actor_loss = True

    def __init__(
        self,
        policy: str | type[MixtureSACPolicy],
        env: GymEnv | str,
        *args: Any,
        back_propagation: str = "max",
        routing_coef: float = 1.0,
        **kwargs: Any,
    ):
        if back_propagation not in BACK_PROPAGATION_MODES:
            raise ValueError(f"back_propagation must be one of {BACK_PROPAGATION_MODES}, got {back_propagation!r}")
        self.back_propagation = back_propagation
        self.routing_coef = routing_coef
        super().__init__(policy, env, *args, **kwargs)

    def _actor_loss(
        self,
        distribution: SquashedGaussianMixture,
        observations: PyTorchObs,
        ent_coef: th.Tensor,
        estimator: MixtureEstimator | None = None,
    ) -> ActorLoss:
        with frozen(*self.critic.q_networks):
            losses = pmoe_losses(
                distribution,
                lambda actions: min_critic_values(self.critic, observations, actions),
                ent_coef,
                self.back_propagation,
            )
        self.logger.record("train/routing_loss", losses.routing.item())
        return ActorLoss(loss=losses.primitive + self.routing_coef * losses.routing, entropy_log_prob=losses.best_log_prob)

    def _target_q_values(
        self, replay_data: ReplayBufferSamples, discounts: th.Tensor | float, ent_coef: th.Tensor
    ) -> th.Tensor:
        """``r + gamma (1 - d) (min Q'(s', a') - alpha log pi_k'(a'|s'))`` with ``k' ~ Cat(w(s'))``, ``a' ~ pi_k'``."""
        with th.no_grad():
            distribution = self.actor.get_distribution(replay_data.next_observations)
            component = distribution.sample_component_indices(1)  # [B, 1]
            actions, gaussian_actions = distribution.rsample_each_component()
            index = component.unsqueeze(-1).expand(-1, -1, actions.shape[-1])
            next_actions = actions.gather(1, index).squeeze(1)
            next_log_prob = distribution.own_log_prob_each_component(gaussian_actions).gather(1, component)
            next_q_values = th.cat(self.critic_target(replay_data.next_observations, next_actions), dim=1)
            next_q_values = next_q_values.min(dim=1, keepdim=True).values - ent_coef * next_log_prob
            return replay_data.rewards + (1 - replay_data.dones) * discounts * next_q_values
